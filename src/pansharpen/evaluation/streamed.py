"""Full-resolution indices of a whole scene in bounded memory: row strips streamed from readers.

:func:`pansharpen.metrics.full.full_resolution_indices` holds the fused image, the expanded MS,
the MTF-filtered fused image and their block copies at once: 7.7 GB for the 3340 x 3340 x 8
WorldView-3 scene. Every index is a mean over distinct ``S x S`` blocks, so the same numbers
come from strips of whole block rows, accumulating per-block sums:

* ``MSexp = interp23tap(MS)`` with circular borders: a strip is expanded from its MS rows plus
  16 MS rows on each side taken modulo the MS height (the filter reaches fewer than 11), so the
  wrap-around at the scene border is the whole-image one and the values are bit-identical;
* ``P~ = interp23tap(imresize(P, 1/R))``: the low-resolution PAN (``R^2`` times smaller) is
  built once from PAN strips (the same sparse weights, row by row), then expanded like the MS;
* ``MTF(F)`` (replicate borders, 41 taps): each strip is filtered with 20 rows of the real image
  above and below it (replicated only at the scene border);
* the block UIQI sums of D_lambda and D_s and the hypercomplex block values of D_lambda_K are
  summed strip by strip and divided by the block count at the end.

Results equal the whole-image computation to float rounding (summation order; tested to 1e-9).
Peak memory is a few strips: ``O(C * strip * W)`` plus the low-resolution MS and PAN.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..errors import ShapeError
from ..metrics._windows import blocks, matlab_uint16
from ..metrics.full import (
    _block_crop,
    _sensor_for,
    band_guide_blocks,
    band_pair_blocks,
    explain_undefined,
    flat_blocks,
)
from ..metrics.reduced import _q2n_blocks
from ..protocol.interp import interp23tap
from ..protocol.mtf import KERNEL_SIZE, mtf_filter
from ..protocol.resize import _resize_axis, _sparse_weights

__all__ = ["streamed_full_indices", "Reader"]

#: ``reader(r0, r1)`` -> rows ``r0:r1`` of an image on the PAN grid, ``(C, r1 - r0, W)`` float64
Reader = Callable[[int, int], np.ndarray]

_WRAP_MARGIN = 16  # MS rows taken around a strip for interp23tap (its reach is under 11 MS rows)


def expand_rows(low: np.ndarray, r0: int, r1: int, ratio: int, phase: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Rows ``r0:r1`` (PAN grid) of ``interp23tap(low, ratio)`` for ``low (C, h, w)``, exactly.

    The MS rows under the strip plus :data:`_WRAP_MARGIN` on each side, indexed modulo ``h``
    (interp23tap's circular border), are expanded and the strip cut out. ``phase``: the MS
    grid's sub-pixel offset on the PAN grid (:func:`pansharpen.io.raster.pair_phase`).
    """
    h = low.shape[-2]
    a, b = r0 // ratio, -(-r1 // ratio)
    m = _WRAP_MARGIN
    ext = low[..., np.arange(a - m, b + m) % h, :]
    up = np.asarray(interp23tap(ext, ratio, phase=phase))
    first = (a - m) * ratio  # PAN row of up[..., 0, :]
    return up[..., r0 - first: r1 - first, :]


def low_resolution_pan(read_pan: Reader, height: int, ratio: int, strip_lr: int = 64) -> np.ndarray:
    """``imresize(P, 1/ratio)`` (bicubic, antialiased, MATLAB) of the whole PAN, read in strips: ``(h, w)``."""
    rows = _sparse_weights(height, 1.0 / ratio, "bicubic", True)  # (h, H) CSR, the whole-image weights
    out = []
    for a in range(0, rows.shape[0], strip_lr):
        sub = rows[a: a + strip_lr]
        lo, hi = int(sub.indices.min()), int(sub.indices.max()) + 1
        pan = read_pan(lo, hi)[0]  # (hi - lo, W)
        part = sub[:, lo:hi] @ pan  # same nonzeros in the same order as the whole product
        out.append(_resize_axis(part, 1, 1.0 / ratio, "bicubic", True))
    return np.concatenate(out, axis=0)


def _q2n_sum(reference: np.ndarray, fused: np.ndarray, block_size: int) -> float:
    """Sum of the hypercomplex block qualities of ``q2n.m`` (uint16 cast, bands padded to 2^k)."""
    ref, fus = matlab_uint16(reference), matlab_uint16(fused)
    bands = ref.shape[0]
    padded = 1 << (bands - 1).bit_length()
    if padded != bands:
        zeros = np.zeros((padded - bands, *ref.shape[1:]))
        ref, fus = np.concatenate([ref, zeros]), np.concatenate([fus, zeros])
    return float(_q2n_blocks(blocks(ref, block_size, block_size), blocks(fus, block_size, block_size)).sum())


def strip_rows(size: int, block_size: int, ratio: int, strip: int) -> list[tuple[int, int]]:
    """Row ranges ``[r0, r1)`` of whole block rows (and MS rows) covering ``0..size``."""
    unit = block_size * ratio // math.gcd(block_size, ratio)
    step = max(unit, strip - strip % unit)
    return [(r, min(r + step, size)) for r in range(0, size, step)]


def streamed_full_indices(
    read_fused: Reader,
    read_pan: Reader,
    ms: np.ndarray,
    sensor,
    ratio: int = 4,
    *,
    block_size: int = 32,
    strip: int = 128,
    crop_to_blocks: bool = True,
    progress: Callable | None = None,
    phase: tuple[float, float] = (0.0, 0.0),
) -> dict:
    """D_lambda, D_s, QNR, D_lambda_K, HQNR of one scene, streamed (module docstring).

    Args:
        read_fused: rows of the fused image ``(C, H, W)``, digital numbers.
        read_pan: rows of the PAN ``(1, H, W)`` on the same grid.
        ms: the low-resolution MS ``(C, H/R, W/R)``, digital numbers (held whole: R^2 times smaller).
        sensor: a :class:`~pansharpen.protocol.sensors.Sensor`, a name or per-band MTF gains.
        strip: PAN rows per strip (rounded to whole blocks and MS rows); memory grows with it.
        crop_to_blocks: cut to the top-left whole blocks (else sizes must be block multiples).
        progress: wraps the strip iterator (e.g. ``functools.partial(tqdm, desc=...)``).
        phase: sub-pixel offset of the MS grid on the PAN grid: MSexp is interpolated where the
            MS pixels lie, as ``pansharpen fuse`` does (0: the reference computation).

    Returns:
        The indices as :func:`~pansharpen.metrics.full.full_resolution_indices` returns them for
        one image (``"cropped_to": [h, w]`` when cut).
    """
    ms = np.asarray(ms, dtype=np.float64)
    c, h, w = ms.shape
    height, width = h * ratio, w * ratio
    size = _block_crop(height, width, block_size, crop_to_blocks)
    sensor = _sensor_for(sensor, c)
    low_pan = low_resolution_pan(read_pan, height, ratio)[None]  # (1, h, w)
    if low_pan.shape[-2:] != (h, w):
        raise ShapeError(f"the PAN is not {ratio} x the MS size {h} x {w}; check the ratio")
    pad = KERNEL_SIZE // 2
    upper = np.triu_indices(c, k=1)
    sums = {"pair_f": np.zeros((c, c)), "pair_e": np.zeros((c, c)), "guide_f": np.zeros(c),
            "guide_e": np.zeros(c), "q2n": 0.0}
    nblocks = 0
    flat = {"fused": [0, 0], "MS (interpolated)": [0, 0], "PAN": [0, 0]}  # for the reason of a NaN index
    spans = strip_rows(size[0], block_size, ratio, strip)
    for r0, r1 in (progress(spans) if progress else spans):
        a0, a1 = max(r0 - pad, 0), min(r1 + pad, height)
        fused_halo = np.asarray(read_fused(a0, a1), dtype=np.float64)
        filtered = np.asarray(mtf_filter(fused_halo, sensor, ratio))[:, r0 - a0: r1 - a0, : size[1]]
        f = fused_halo[:, r0 - a0: r1 - a0, : size[1]]
        del fused_halo
        e = expand_rows(ms, r0, r1, ratio, phase)[..., : size[1]]
        p = np.asarray(read_pan(r0, r1), dtype=np.float64)[0, :, : size[1]]
        pt = expand_rows(low_pan, r0, r1, ratio)[0, :, : size[1]]
        if c >= 2:
            sums["pair_f"] += band_pair_blocks(f, block_size).sum(axis=-1)
            sums["pair_e"] += band_pair_blocks(e, block_size).sum(axis=-1)
        sums["guide_f"] += band_guide_blocks(f, p, block_size).sum(axis=-1)
        sums["guide_e"] += band_guide_blocks(e, pt, block_size).sum(axis=-1)
        sums["q2n"] += _q2n_sum(e, filtered, block_size)
        for name, x in (("fused", f), ("MS (interpolated)", e), ("PAN", p[None])):
            n, total = flat_blocks(x[:, : (r1 - r0) // block_size * block_size, : size[1] // block_size * block_size], block_size)
            flat[name][0] += n
            flat[name][1] += total
        nblocks += ((r1 - r0) // block_size) * (size[1] // block_size)
    ds = float(np.mean(np.abs(sums["guide_f"] - sums["guide_e"]) / nblocks))
    dl = float(np.mean(np.abs(sums["pair_f"] - sums["pair_e"])[upper] / nblocks)) if c >= 2 else float("nan")
    dlk = 1 - sums["q2n"] / nblocks
    row = {"D_lambda": dl, "D_s": ds, "QNR": (1 - dl) * (1 - ds), "D_lambda_K": float(dlk),
           "HQNR": float((1 - dlk) * (1 - ds))}
    if size != (height, width):
        row["cropped_to"] = list(size)
    explain_undefined(row, {k: tuple(v) for k, v in flat.items()}, skip_dl=c < 2)
    return row
