"""Full-resolution quality indices (no reference: fused versus MS and PAN).

Exact to the reference MATLAB toolbox (Vivone et al. 2020, ``D_lambda.m``, ``D_s.m``,
``QNR.m``, ``D_lambda_K.m``, ``HQNR.m``, ``indexes_evaluation_FS.m``; metrics-reference.md
sections 3.9-3.10), "toolbox 1.0" settings (``flag_orig_paper = 0``):

* everything at PAN scale; local UIQI on **distinct** S x S blocks (S = 32), averaged over blocks:
  ``Q(x, y) = 4 cov_xy mu_x mu_y / ((var_x + var_y)(mu_x^2 + mu_y^2))`` without special cases
  (a block flat in both images gives NaN, as in the reference, and so does the index);
* D_lambda = [2/(C(C-1)) sum_{i<j} |Q(F_i, F_j) - Q(MSexp_i, MSexp_j)|^p]^(1/p);
* D_s = [1/C sum_b |Q(F_b, P) - Q(MSexp_b, P~)|^q]^(1/q), P~ = interp23tap(imresize(P, 1/R));
* QNR = (1 - D_lambda)^alpha (1 - D_s)^beta;
* D_lambda_K = 1 - Q2n(MSexp, MTF_sensor(F)) with S x S distinct blocks, at PAN scale without
  decimation (uint16 cast included);
* HQNR = (1 - D_lambda_K)(1 - D_s).

Inputs are channels-first, numpy or torch, in digital numbers: ``fused`` and ``ms_exp``
``(C, H, W)`` or ``(N, C, H, W)``, ``pan`` ``(H, W)``, ``(1, H, W)`` or ``(N, 1, H, W)``,
``ms`` ``(C, H/R, W/R)`` or ``(N, C, H/R, W/R)``.

**Sizes.** The reference ``D_s.m``, ``D_lambda.m`` and ``D_lambda_K.m`` stop with an error
unless H and W are multiples of the block size. So do we (:class:`ShapeError`), unless
``crop_to_blocks=True``: then the derived images (P~, MTF-filtered F, interpolated MS) are
computed on the whole image, every image is cut to the largest block multiple from the top-left
corner, and :func:`full_resolution_indices` records the size used under ``"cropped_to"``.
"""
from __future__ import annotations

import warnings
from typing import Sequence, Union

import numpy as np

from .._arrays import ArrayLike
from ..errors import ShapeError, ValueRangeError
from ..protocol.interp import interp23tap
from ..protocol.mtf import mtf_filter
from ..protocol.resize import imresize
from ..protocol.sensors import Sensor, get_sensor
from ._inputs import as_images, ensure_digital_numbers, per_image, same_shape
from ._windows import blocks
from .reduced import _check_block, _q2n_image

__all__ = ["d_lambda", "d_s", "qnr", "d_lambda_k", "hqnr", "full_resolution_indices", "pan_degraded"]

#: a sensor name (``"WV3"``, ``"none"``), a :class:`Sensor`, or one MTF gain per band
SensorLike = Union[str, Sensor, Sequence[float]]


# ------------------------------------------------------------------------------ block UIQI
def _block_stats(x: np.ndarray, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Block means ``(..., nb)`` and centred block pixels ``(..., nb, M)`` of ``(..., H, W)``."""
    b = blocks(x, block_size, block_size)
    mean = b.mean(axis=-1)
    return mean, b - mean[..., None]


def _uqi(mean_x, mean_y, var_x, var_y, cov_xy) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return 4 * cov_xy * mean_x * mean_y / (var_x + var_y) / (mean_x**2 + mean_y**2)


def band_pair_blocks(image: np.ndarray, block_size: int) -> np.ndarray:
    """``Q(X_i, X_j)`` for every band pair of ``(C, H, W)`` in each distinct block: ``(C, C, nb)``."""
    mean, centred = _block_stats(image, block_size)  # (C, nb), (C, nb, M)
    m = centred.shape[-1]
    per_block = np.moveaxis(centred, 0, 1)  # (nb, C, M)
    cov = np.moveaxis(per_block @ per_block.swapaxes(1, 2), 0, -1) / (m - 1)  # (C, C, nb)
    var = np.diagonal(cov, axis1=0, axis2=1).T  # (C, nb)
    return _uqi(mean[:, None], mean[None, :], var[:, None], var[None, :], cov)


def band_pair_quality(image: np.ndarray, block_size: int) -> np.ndarray:
    """``Q(X_i, X_j)`` for every band pair of ``(C, H, W)``, mean over distinct blocks: ``(C, C)``."""
    return band_pair_blocks(image, block_size).mean(axis=-1)


def band_guide_blocks(image: np.ndarray, guide: np.ndarray, block_size: int) -> np.ndarray:
    """``Q(X_b, G)`` for every band of ``(C, H, W)`` against one ``(H, W)`` guide, per block: ``(C, nb)``."""
    mean_x, cx = _block_stats(image, block_size)
    mean_g, cg = _block_stats(guide, block_size)
    m = cx.shape[-1]
    cov = (cx * cg).sum(axis=-1) / (m - 1)
    var_x = (cx * cx).sum(axis=-1) / (m - 1)
    var_g = (cg * cg).sum(axis=-1) / (m - 1)
    return _uqi(mean_x, mean_g, var_x, var_g, cov)


def band_guide_quality(image: np.ndarray, guide: np.ndarray, block_size: int) -> np.ndarray:
    """``Q(X_b, G)`` for every band of ``(C, H, W)`` against one ``(H, W)`` guide: ``(C,)``."""
    return band_guide_blocks(image, guide, block_size).mean(axis=-1)


# --------------------------------------------------------------------------------- inputs
def _check_exponent(value, name: str) -> float:
    if not np.isfinite(value) or value <= 0:
        raise ValueRangeError(f"{name} must be a positive number; got {value}")
    return float(value)


def _as_pan(pan: ArrayLike, like: np.ndarray) -> np.ndarray:
    p, _ = as_images(pan, "pan")
    if p.shape[1] != 1:
        raise ShapeError(
            f"pan must have one band: (H, W), (1, H, W) or (N, 1, H, W); got shape {tuple(np.shape(pan))}"
        )
    if p.shape[0] != like.shape[0]:
        raise ShapeError(f"pan holds {p.shape[0]} image(s) but fused holds {like.shape[0]}; pass one PAN per image")
    if p.shape[-2:] != like.shape[-2:]:
        raise ShapeError(
            f"pan is {p.shape[-2]}x{p.shape[-1]} but fused is {like.shape[-2]}x{like.shape[-1]}; the fused image "
            "must be on the PAN grid"
        )
    return p


def _check_ms(ms: np.ndarray, fused: np.ndarray, ratio: int) -> None:
    if ms.shape[0] != fused.shape[0]:
        raise ShapeError(f"ms holds {ms.shape[0]} image(s) but fused holds {fused.shape[0]}; pass one MS per image")
    if ms.shape[1] != fused.shape[1]:
        raise ShapeError(f"ms has {ms.shape[1]} band(s) but fused has {fused.shape[1]}; they must be the same bands")
    h, w = ms.shape[-2:]
    if fused.shape[-2:] != (h * ratio, w * ratio):
        raise ShapeError(
            f"ms is {h}x{w} and fused is {fused.shape[-2]}x{fused.shape[-1]}: with ratio {ratio} the fused image "
            f"must be {h * ratio}x{w * ratio}; check the ratio or pass the low-resolution MS"
        )


def _check_ratio(ratio) -> int:
    if isinstance(ratio, bool) or int(ratio) != ratio or ratio < 1:
        raise ShapeError(f"ratio must be a positive integer; got {ratio!r}")
    return int(ratio)


def _block_crop(h: int, w: int, block_size: int, crop_to_blocks: bool) -> tuple[int, int]:
    """Size used by the block indices: ``(h, w)`` or, with ``crop_to_blocks``, the block multiple below."""
    if h % block_size == 0 and w % block_size == 0:
        return h, w
    hc, wc = h - h % block_size, w - w % block_size
    if not crop_to_blocks:
        raise ShapeError(
            f"full-resolution images must be multiples of the block size {block_size}; got {h}x{w}. The reference "
            "D_s.m/D_lambda.m/D_lambda_K.m stop with an error here. Pass crop_to_blocks=True to use the top-left "
            f"{hc}x{wc}, or crop or pad the images yourself"
        )
    if hc == 0 or wc == 0:
        raise ShapeError(f"a {h}x{w} image holds no {block_size}x{block_size} block; use larger images")
    return hc, wc


def _sensor_for(sensor, bands: int):
    """``sensor`` for ``mtf_filter``: a :class:`Sensor` with ``bands`` bands, or the gains as given."""
    if isinstance(sensor, (str, Sensor)):
        return get_sensor(sensor, nbands=bands)
    return sensor


def _sensor_max(sensor, max_value: float | None) -> float | None:
    if max_value is not None:
        if not np.isfinite(max_value) or max_value <= 1.0:
            raise ValueRangeError(f"max_value={max_value} must be the sensor's largest DN (e.g. 2047), above 1")
        return float(max_value)
    if isinstance(sensor, Sensor):
        return float(sensor.max_value)
    return None


# ------------------------------------------------------------------------------- helpers
def pan_degraded(pan: np.ndarray, ratio: int) -> np.ndarray:
    """P~ = interp23tap(imresize(P, 1/R)) of ``(N, 1, H, W)``: the PAN seen through the MS resolution."""

    low = imresize(pan, 1.0 / ratio)
    out = interp23tap(low, ratio)
    if out.shape != pan.shape:
        raise ShapeError(
            f"pan {pan.shape[-2]}x{pan.shape[-1]} is not a multiple of the ratio {ratio}: "
            f"resizing by 1/{ratio} and back gives {out.shape[-2]}x{out.shape[-1]}"
        )
    return out


def _mtf_filtered(fused: np.ndarray, sensor, ratio: int) -> np.ndarray:
    return mtf_filter(fused, _sensor_for(sensor, fused.shape[1]), ratio)


def _cut(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return x[..., : size[0], : size[1]]


# ------------------------------------------------------------------------------ core maths
def _d_lambda_values(fused: np.ndarray, ms_exp: np.ndarray, block_size: int, p: float) -> np.ndarray:
    c = fused.shape[1]
    if c < 2:
        raise ShapeError("D_lambda compares band pairs; it needs at least 2 bands")
    upper = np.triu_indices(c, k=1)
    values = []
    for f, e in zip(fused, ms_exp):
        diff = np.abs(band_pair_quality(f, block_size) - band_pair_quality(e, block_size))[upper]
        values.append(np.mean(diff**p) ** (1 / p))
    return np.array(values)


def _d_s_values(fused, ms_exp, pan, ratio: int, size, block_size: int, q: float) -> np.ndarray:
    """D_s per image; P~ is made from each whole PAN, then every image is cut to ``size``."""
    values = []
    for f, e, p in zip(fused, ms_exp, pan):
        pan_tilde = pan_degraded(p[None], ratio)[0]
        high = band_guide_quality(_cut(f, size), _cut(p[0], size), block_size)
        low = band_guide_quality(_cut(e, size), _cut(pan_tilde[0], size), block_size)
        values.append(np.mean(np.abs(high - low) ** q) ** (1 / q))
    return np.array(values)


def _d_lambda_k_values(fused, ms_exp, sensor, ratio: int, size, block_size: int) -> np.ndarray:
    """D_lambda_K per image; F is MTF-filtered whole, then cut to ``size``."""
    values = []
    for f, e in zip(fused, ms_exp):
        filtered = _mtf_filtered(f[None], sensor, ratio)[0]
        values.append(1 - _q2n_image(_cut(e, size), _cut(filtered, size), block_size, block_size, True))
    return np.array(values)


# ------------------------------------------------------------------------------ public API
def d_lambda(fused: ArrayLike, ms_exp: ArrayLike, block_size: int = 32, p: float = 1, *, crop_to_blocks: bool = False):
    """Spectral distortion D_lambda of QNR (``D_lambda.m``, toolbox 1.0: both at PAN scale).

    Args:
        fused: ``(C, H, W)`` or ``(N, C, H, W)``, C >= 2, digital numbers.
        ms_exp: the MS interpolated to the PAN grid (interp23tap, PanCollection ``lms``), same shape.
        block_size: distinct UIQI blocks; H and W must be multiples (see ``crop_to_blocks``).
        p: exponent (1).

    Returns:
        D_lambda >= 0 (0 = band relations kept): a float or ``N`` values.
    """
    _check_block(block_size)
    p = _check_exponent(p, "p")
    fus, single = as_images(fused, "fused")
    exp, _ = as_images(ms_exp, "ms_exp")
    same_shape(fus, exp, "fused", "ms_exp")
    size = _block_crop(*fus.shape[-2:], block_size, crop_to_blocks)
    return per_image(_d_lambda_values(_cut(fus, size), _cut(exp, size), block_size, p), single)


def d_s(
    fused: ArrayLike,
    ms_exp: ArrayLike,
    pan: ArrayLike,
    ratio: int = 4,
    block_size: int = 32,
    q: float = 1,
    *,
    crop_to_blocks: bool = False,
):
    """Spatial distortion D_s (``D_s.m``, toolbox 1.0): Q(F_b, P) versus Q(MSexp_b, P~) at PAN scale.

    P~ = interp23tap(imresize(P, 1/ratio), ratio) (MATLAB bicubic with antialiasing down, 23-tap up).

    Args:
        fused, ms_exp: ``(C, H, W)`` or ``(N, C, H, W)``, digital numbers.
        pan: ``(H, W)``, ``(1, H, W)`` or ``(N, 1, H, W)`` on the same grid.
        ratio: PAN/MS resolution ratio (a power of two). block_size: distinct UIQI blocks. q: exponent (1).

    Returns:
        D_s >= 0 (0 = PAN relations kept): a float or ``N`` values.
    """
    _check_block(block_size)
    q = _check_exponent(q, "q")
    ratio = _check_ratio(ratio)
    fus, single = as_images(fused, "fused")
    exp, _ = as_images(ms_exp, "ms_exp")
    same_shape(fus, exp, "fused", "ms_exp")
    pan_arr = _as_pan(pan, fus)
    size = _block_crop(*fus.shape[-2:], block_size, crop_to_blocks)
    return per_image(_d_s_values(fus, exp, pan_arr, ratio, size, block_size, q), single)


def qnr(
    fused: ArrayLike,
    ms_exp: ArrayLike,
    pan: ArrayLike,
    ratio: int = 4,
    block_size: int = 32,
    p: float = 1,
    q: float = 1,
    alpha: float = 1,
    beta: float = 1,
    *,
    crop_to_blocks: bool = False,
):
    """QNR = (1 - D_lambda)^alpha (1 - D_s)^beta (``QNR.m``); arguments as :func:`d_lambda`, :func:`d_s`.

    Returns:
        QNR <= 1 (1 = no distortion): a float or ``N`` values.
    """
    dl = np.asarray(d_lambda(fused, ms_exp, block_size, p, crop_to_blocks=crop_to_blocks))
    ds = np.asarray(d_s(fused, ms_exp, pan, ratio, block_size, q, crop_to_blocks=crop_to_blocks))
    value = (1 - dl) ** alpha * (1 - ds) ** beta
    return float(value) if value.ndim == 0 else value


def d_lambda_k(
    fused: ArrayLike,
    ms_exp: ArrayLike,
    sensor: SensorLike,
    ratio: int = 4,
    block_size: int = 32,
    *,
    max_value: float | None = None,
    crop_to_blocks: bool = False,
):
    """Khan's spectral distortion as the toolbox computes it (``D_lambda_K.m``).

    D_lambda_K = 1 - Q2n(MSexp, MTF_sensor(F)), blocks of ``block_size`` with shift
    ``block_size``, at PAN scale **without decimation** (Khan 2009 decimates); MSexp is the Q2n
    reference (its block statistics normalise both) and the uint16 cast applies, so the images
    must be digital numbers.

    Args:
        fused, ms_exp: ``(C, H, W)`` or ``(N, C, H, W)``, digital numbers.
        sensor: sensor name (``"WV3"``, ``"none"`` for the toolbox defaults), a :class:`Sensor`,
            or one MTF gain per band.
        ratio: PAN/MS ratio of the MTF design. block_size: Q2n blocks.
        max_value: float images with max <= 1.0 are multiplied by it with a warning (default: the
            sensor's maximum DN when ``sensor`` names one); without either they are refused.

    Returns:
        D_lambda_K in [0, 1]: a float or ``N`` values.
    """
    _check_block(block_size)
    ratio = _check_ratio(ratio)
    fus, single = as_images(fused, "fused")
    exp, _ = as_images(ms_exp, "ms_exp")
    same_shape(fus, exp, "fused", "ms_exp")
    sensor = _sensor_for(sensor, fus.shape[1])
    arrays = ensure_digital_numbers(
        {"fused": fus, "ms_exp": exp}, {"fused": fused, "ms_exp": ms_exp}, _sensor_max(sensor, max_value),
        same_scale=("ms_exp",),
    )
    fus, exp = arrays["fused"], arrays["ms_exp"]
    size = _block_crop(*fus.shape[-2:], block_size, crop_to_blocks)
    return per_image(_d_lambda_k_values(fus, exp, sensor, ratio, size, block_size), single)


def hqnr(
    fused: ArrayLike,
    ms_exp: ArrayLike,
    pan: ArrayLike,
    sensor: SensorLike,
    ratio: int = 4,
    block_size: int = 32,
    *,
    max_value: float | None = None,
    crop_to_blocks: bool = False,
):
    """HQNR = (1 - D_lambda_K)(1 - D_s) (``HQNR.m``, the FR index of the toolbox demos).

    Returns:
        HQNR <= 1 (1 = no distortion): a float or ``N`` values.
    """
    rows = full_resolution_indices(
        fused, None, pan, sensor, ratio, ms_exp=ms_exp, block_size=block_size, max_value=max_value,
        crop_to_blocks=crop_to_blocks, _only_hqnr=True,
    )
    if isinstance(rows, dict):
        return rows["HQNR"]
    return np.array([row["HQNR"] for row in rows])


def full_resolution_indices(
    fused: ArrayLike,
    ms: ArrayLike | None,
    pan: ArrayLike,
    sensor: SensorLike,
    ratio: int = 4,
    ms_exp: ArrayLike | None = None,
    *,
    block_size: int = 32,
    max_value: float | None = None,
    crop_to_blocks: bool = False,
    _only_hqnr: bool = False,
):
    """All full-resolution indices (``indexes_evaluation_FS.m``, both QNR and HQNR branches).

    Args:
        fused: ``(C, H, W)`` or ``(N, C, H, W)`` on the PAN grid, digital numbers.
        ms: the low-resolution MS, ``(C, H/R, W/R)`` or ``(N, C, H/R, W/R)``; may be None when
            ``ms_exp`` is given.
        pan: ``(H, W)``, ``(1, H, W)`` or ``(N, 1, H, W)``.
        sensor: sensor name, :class:`Sensor` or one MTF gain per band (for D_lambda_K).
        ratio: PAN/MS resolution ratio (a power of two).
        ms_exp: the MS on the PAN grid; default ``interp23tap(ms, ratio)``. Pass PanCollection's
            ``lms`` here to reproduce numbers computed with it.
        block_size: distinct blocks (32); H and W must be multiples unless ``crop_to_blocks``.
        max_value: rescales float images with max <= 1.0 (with a warning); default: the
            sensor's maximum DN when ``sensor`` names one.

    Returns:
        ``{"D_lambda", "D_s", "QNR", "D_lambda_K", "HQNR"}`` floats for one image (plus
        ``"cropped_to": [h, w]`` when ``crop_to_blocks`` cut the images); a list for a batch.
    """
    _check_block(block_size)
    ratio = _check_ratio(ratio)
    fus, single = as_images(fused, "fused")
    pan_arr = _as_pan(pan, fus)
    arrays, originals = {"fused": fus, "pan": pan_arr}, {"fused": fused, "pan": pan}
    if ms is not None:
        ms_arr, _ = as_images(ms, "ms")
        _check_ms(ms_arr, fus, ratio)
        arrays["ms"], originals["ms"] = ms_arr, ms
    if ms_exp is not None:
        exp, _ = as_images(ms_exp, "ms_exp")
        same_shape(fus, exp, "fused", "ms_exp")
        arrays["ms_exp"], originals["ms_exp"] = exp, ms_exp
    elif ms is None:
        raise ShapeError("full-resolution indices need the low-resolution ms or ms_exp (the MS on the PAN grid)")
    sensor = _sensor_for(sensor, fus.shape[1])
    arrays = ensure_digital_numbers(arrays, originals, _sensor_max(sensor, max_value),
                                    same_scale=("ms" if "ms" in arrays else "ms_exp", "pan"))
    fus, pan_arr = arrays["fused"], arrays["pan"]
    full_size = fus.shape[-2:]
    size = _block_crop(*full_size, block_size, crop_to_blocks)

    rows = []
    for i in range(fus.shape[0]):  # one image at a time keeps the working set in cache
        f, p = fus[i : i + 1], pan_arr[i : i + 1]
        if "ms_exp" in arrays:
            e = arrays["ms_exp"][i : i + 1]
        else:
            e = interp23tap(arrays["ms"][i : i + 1], ratio)
        ds = _d_s_values(f, e, p, ratio, size, block_size, 1.0)[0]
        dlk = _d_lambda_k_values(f, e, sensor, ratio, size, block_size)[0]
        # D_lambda needs band pairs: NaN for one band (the reference divides 0 by 0 there)
        skip_dl = _only_hqnr or f.shape[1] < 2
        dl = np.nan if skip_dl else _d_lambda_values(_cut(f, size), _cut(e, size), block_size, 1.0)[0]
        row = {
            "D_lambda": float(dl),
            "D_s": float(ds),
            "QNR": float((1 - dl) * (1 - ds)),
            "D_lambda_K": float(dlk),
            "HQNR": float((1 - dlk) * (1 - ds)),
        }
        if size != tuple(full_size):
            row["cropped_to"] = list(size)
        _explain_nan(row, {"fused": f, "MS (interpolated)": e, "PAN": p}, size, block_size, skip_dl,
                     "" if single else f" (image {i})")
        rows.append(row)
    return rows[0] if single else rows


def flat_blocks(x: np.ndarray, block_size: int) -> tuple[int, int]:
    """``(blocks flat in some band, blocks)`` of ``(C, H, W)``: where the block UIQI is 0/0."""
    sd = blocks(x, block_size, block_size).std(axis=-1)  # (C, nb)
    return int((sd == 0).any(axis=0).sum()), int(sd.shape[-1])


def explain_undefined(row: dict, flat: dict[str, tuple[int, int]], skip_dl: bool, which: str = "") -> None:
    """Warn with the reason when an index of ``row`` is NaN; ``flat``: :func:`flat_blocks` per image name.

    The reference toolbox returns NaN there too; we keep the value (JSON null) and say why.
    """
    undefined = [k for k, v in row.items() if k != "cropped_to" and np.isnan(v) and not (skip_dl and k in ("D_lambda", "QNR"))]
    if not undefined:
        return
    named = [f"{n} of {total} blocks of the {name}" for name, (n, total) in flat.items() if n]
    cause = (
        f"{' and '.join(named)} are flat in some band (constant values, e.g. saturated, clipped or out-of-range pixels), "
        "where the block quality index is 0/0 as in the reference toolbox"
        if named else "a block quality index is 0/0"
    )
    warnings.warn(
        f"{', '.join(undefined)} undefined (NaN){which}: {cause}; check the fused image's value range "
        "(it should be in the MS's digital numbers) or crop to the valid area",
        UserWarning, stacklevel=3,
    )


def _explain_nan(row: dict, images: dict[str, np.ndarray], size, block_size: int, skip_dl: bool, which: str) -> None:
    explain_undefined(row, {name: flat_blocks(_cut(x[0], size), block_size) for name, x in images.items()}, skip_dl, which)
