"""Spectral consistency: the image nearest a fused image whose reprojection is the MS.

Wald's first property (Wald, Ranchin, Mangolini, PE&RS 63(6), 1997): a fused image, degraded to
the MS scale, should give the MS back. With the degradation of the evaluation protocol,
``A F = decimate(MTF_sensor(F), R)`` (:func:`pansharpen.metrics.reprojection.reproject`, the same
operator that makes the reduced-resolution copies of :func:`~pansharpen.protocol.wald.wald_degrade`),
the consistent images form the affine set ``{F : A F = MS}``, and the point of it nearest ``F`` in
the least-squares sense is the orthogonal projection::

    P(F) = F + A^T (A A^T)^-1 (MS - A F)                                   (1)

Band by band, ``A A^T`` is a convolution on the MS grid with the samples of the MTF kernel's
autocorrelation at multiples of the ratio, ``k[d] = (h * h)[R d]``; its inverse is taken in the
Fourier domain with a Tikhonov floor, ``g = F^-1[1 / (K + lambda max K)]`` (so, with the floor, the
projection is the Tikhonov-regularised one: it moves ``F`` towards the set, most where the MTF is
strong), and truncated to
``radius`` MS pixels (where it has decayed below ``TRUNCATION`` of its peak), so that ``P`` is a
fixed linear operator of finite reach: tiles are exact beyond :func:`consistency_reach`. ``A^T`` is
the zero-padded adjoint (zero insertion at the decimation phase, then the MTF kernel).

Why it helps: when the MS really is ``A`` of the ideal image (as in Wald's reduced-resolution
protocol, by construction), that image lies in the set, and a projection onto a convex set that
holds a point never moves an image away from it: ``||P(F) - GT|| <= ||F - GT||`` band by band, so
ERGAS cannot rise (up to the floor, the truncation and the borders). At full resolution the MS is
the sensor's, and the projection imposes the catalogue's MTF model on the low frequencies of the
fused image; docs/adaptation.md measures both, with the model's gains off by 30 %.

Inputs are numpy arrays or torch tensors (differentiable: a network may end with it), in any
consistent scale (DN or normalised): ``fused (C, H, W)`` or ``(N, C, H, W)`` on the PAN grid,
``ms`` on the MS grid, ``H = R h``.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .._arrays import is_torch, torch_module
from ..errors import ShapeError, ValueRangeError
from .mtf import KERNEL_SIZE, _check_ratio, _gain_tuple, correlate_replicate, mtf_filter, mtf_kernels
from .wald import decimate, decimation_offset

__all__ = ["CONSISTENCY_FLOOR", "consistency_filters", "consistency_reach", "project_consistent", "require_aligned_grid"]

#: Tikhonov floor lambda of the inverse (relative to the largest eigenvalue of A A^T). Small floors
#: invert the MTF where it is weak and amplify the MS's noise there into coloured grain at the MS
#: grid's scale (visible; D_rho 0.12 -> 0.33-0.50, and the FR HQNR of Landsat-7 fell); 0.1 keeps most
#: of the gain and improved both the FR HQNR and the RR Q2n of GSA, MTF-GLP-FS and PRACS on GeoEye-1,
#: WorldView-3 and Landsat-7 (docs/adaptation.md, "The floor")
CONSISTENCY_FLOOR = 0.1
#: the inverse filter is cut where it has fallen below this fraction of its central tap
TRUNCATION = 1e-6
_GRID = 256


@lru_cache(maxsize=64)
def _filters(gains: tuple[float, ...], ratio: int, floor: float) -> np.ndarray:
    """``g = F^-1[1 / (K + floor max K)]`` per band, ``K`` the spectrum of ``k[d] = (h * h)[R d]`` on a
    256-pixel MS grid, cut to the smallest square outside which it is below :data:`TRUNCATION`."""
    kernels = mtf_kernels(gains, ratio)
    c = KERNEL_SIZE - 1  # centre of the (2 KERNEL_SIZE - 1)-tap autocorrelation
    taps = np.arange(-(c // ratio), c // ratio + 1)
    out = []
    for h in kernels:
        # the autocorrelation (h * h)[lag], lag 0 at index c: the 2K - 1 lags fill the circular grid exactly
        auto = np.roll(np.real(np.fft.ifft2(np.abs(np.fft.fft2(h, (2 * KERNEL_SIZE - 1,) * 2)) ** 2)), (c, c), (0, 1))
        k = auto[np.ix_(c + ratio * taps, c + ratio * taps)]
        grid = np.zeros((_GRID, _GRID))
        grid[np.ix_(taps % _GRID, taps % _GRID)] = k
        spec = np.real(np.fft.fft2(grid))
        inv = np.fft.fftshift(np.real(np.fft.ifft2(1.0 / (spec + floor * spec.max()))))
        out.append(inv)
    inv = np.stack(out)
    m = _GRID // 2
    profile = np.abs(inv[:, m, m:]).max(axis=0) / np.abs(inv[:, m, m]).max()
    radius = int(np.nonzero(profile >= TRUNCATION)[0].max()) + 1
    if radius >= m - 1:
        raise ValueRangeError(f"the consistency filter of MTF gains {gains} at ratio {ratio} does not decay; "
                              "raise the floor")
    return np.ascontiguousarray(inv[:, m - radius: m + radius + 1, m - radius: m + radius + 1])


def consistency_filters(gains, ratio: int = 4, floor: float = CONSISTENCY_FLOOR) -> np.ndarray:
    """The truncated inverse ``g`` of ``A A^T`` per band, ``(C, 2L + 1, 2L + 1)`` on the MS grid."""
    return _filters(_gain_tuple(gains), _check_ratio(ratio), float(floor))


def consistency_reach(gains, ratio: int = 4, floor: float = CONSISTENCY_FLOOR) -> int:
    """PAN pixels of the fused image (and ``ceil(reach / R)`` MS pixels) an output pixel of
    :func:`project_consistent` depends on: two MTF kernels, the inverse filter and the phase."""
    r = _check_ratio(ratio)
    radius = consistency_filters(gains, r, floor).shape[-1] // 2
    return 2 * (KERNEL_SIZE // 2) + r * (radius + 1)


def _adjoint(z, gains: tuple[float, ...], ratio: int, shape):
    """``A^T z`` with zero padding: zero insertion at the decimation phase, then the flipped MTF
    kernels. The exact adjoint of ``decimate(mtf_filter(.))`` away from the image border; within a
    kernel radius of it, where the forward operator replicates the border, the correction is smaller
    than the exact adjoint's (an exact adjoint there over-corrects: repeated, the projection diverges)."""
    o, pad = decimation_offset(ratio), KERNEL_SIZE // 2
    n, c, h, w = shape
    shape_up = (n, c, h + 2 * pad, w + 2 * pad)
    if is_torch(z):
        up = torch_module().zeros(shape_up, dtype=z.dtype, device=z.device)
    else:
        up = np.zeros(shape_up, dtype=z.dtype)
    up[..., pad + o: pad + h: ratio, pad + o: pad + w: ratio] = z
    # the MTF kernels are point-symmetric (tested), so the flipped kernels are the kernels, and their
    # spectra are mtf_filter's cached ones
    kernels = mtf_kernels(gains, ratio)
    return correlate_replicate(up, kernels, _cache_key=(gains, ratio, KERNEL_SIZE))[..., pad: pad + h, pad: pad + w]


def require_aligned_grid(phase, what: str = "the consistency projection", remedy: str = "fuse without --consistent") -> None:
    """The projection decimates at the toolbox's phase (:func:`~pansharpen.protocol.wald.decimation_offset`):
    refuse an MS grid whose pixels do not share the PAN's corners (``phase`` in PAN pixels,
    :attr:`pansharpen.io.grid.PairGrid.phase`) with :class:`ValueRangeError` naming ``what`` and ``remedy``."""
    if any(phase):
        raise ValueRangeError(f"{what} needs an MS grid that shares the PAN's pixel corners; this one is offset by "
                              f"{tuple(float(p) for p in phase)} PAN pixels: {remedy}")


def project_consistent(fused, ms, gains, ratio: int = 4, floor: float = CONSISTENCY_FLOOR):
    """Eq. (1): ``fused`` corrected so that ``decimate(MTF(fused), R)`` equals ``ms``.

    Args:
        fused: ``(C, H, W)`` or ``(N, C, H, W)`` on the PAN grid (numpy or torch, not clipped).
        ms: ``(C, H/R, W/R)`` or ``(N, ...)``, the same scale and kind.
        gains: a sensor (name or :class:`Sensor`) or one MTF gain per band.
        floor: the Tikhonov floor (:data:`CONSISTENCY_FLOOR`).

    Returns:
        The projected image, the kind, dtype and shape of ``fused``. Not clipped to the DN range.
    """
    r = _check_ratio(ratio)
    single = fused.ndim == 3
    f = fused[None] if single else fused
    m = ms[None] if ms.ndim == 3 else ms
    n, c, h, w = f.shape
    if h % r or w % r or tuple(m.shape[-3:]) != (c, h // r, w // r):
        raise ShapeError(f"fused {tuple(fused.shape)} and MS {tuple(ms.shape)} are not a PAN/MS pair at ratio {r}")
    gain_tuple = _gain_tuple(gains)
    if len(gain_tuple) != c:
        raise ShapeError(f"{len(gain_tuple)} MTF gain(s) for {c} band(s); give one per band")
    residual = m - decimate(mtf_filter(f, gain_tuple, r), r)
    z = correlate_replicate(residual, consistency_filters(gain_tuple, r, floor))
    out = f + _adjoint(z, gain_tuple, r, f.shape)
    return out[0] if single else out
