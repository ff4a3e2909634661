"""Simulation of the two hyperspectral fusion tasks from one reference cube.

Both tasks start from a reference cube ``X`` (``L`` bands on the high-resolution grid) and
apply the linear observation model of the HS/MS fusion literature (Yokoya et al., IEEE GRSM
2017, eqs. 1-2):

    spatial:   Y_h = S(B * X)      Gaussian blur B, then decimation S by ``ratio``
    spectral:  Y_m = R X           response matrix R (``bands_out x L``, rows summing to 1)

* **HS pansharpening** (HyperPanCollection layout, Ada3D hs task): ``GT = X``,
  ``MS = S(B * X)`` (the low-resolution HS), ``PAN = R_pan X`` (WV3 PAN response by
  default), ``LMS = interp23tap(MS)``.
* **HISR** (CAVE-style layout): ``GT = X``, ``LRHSI = S(B * X)``, ``RGB = R_rgb X`` (or
  ``HRMSI`` for another response).

The blur is a separable Gaussian with replicate borders; by default its standard deviation
matches an MTF gain of 0.3 at the low-resolution Nyquist frequency, as the Wald-protocol
filters of the pansharpening toolbox (a Gaussian of std ``s`` pixels has gain
``exp(-pi^2 s^2 / (2 R^2))`` at ``f = 1/(2R)``, so ``s = R sqrt(-2 ln g) / pi``: 1.98 for
R = 4, g = 0.3, close to the sigma = 2 common in HISR papers). Decimation keeps pixel
``ratio // 2`` of every ``ratio`` (the phase of :func:`~pansharpen.protocol.wald.decimate`,
where :func:`~pansharpen.protocol.interp.interp23tap` puts samples back).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from .._arrays import ArrayLike, check_finite, restore, to_numpy
from ..errors import ShapeError, ValueRangeError
from .interp import interp23tap
from .spectral import resolve_response
from .wald import decimate

__all__ = [
    "mtf_matched_sigma",
    "gaussian_kernel_1d",
    "blur_decimate",
    "simulate_hs_pansharpening",
    "simulate_hisr",
]

#: MTF gain at the LR Nyquist frequency that the default blur matches
DEFAULT_GAIN = 0.3


def mtf_matched_sigma(ratio: int, gain: float = DEFAULT_GAIN) -> float:
    """Std (HR pixels) of the Gaussian whose frequency response is ``gain`` at ``1 / (2 ratio)``."""
    if not 0 < gain < 1:
        raise ValueRangeError(f"MTF gain must be in (0, 1); got {gain}")
    return ratio * math.sqrt(-2 * math.log(gain)) / math.pi


def gaussian_kernel_1d(sigma: float, size: int | None = None) -> np.ndarray:
    """Normalised sampled Gaussian, ``size`` taps (default ``2 ceil(3 sigma) + 1``), odd."""
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueRangeError(f"blur sigma must be positive; got {sigma}")
    size = 2 * math.ceil(3 * sigma) + 1 if size is None else int(size)
    if size < 1 or size % 2 == 0:
        raise ValueRangeError(f"kernel size must be a positive odd integer; got {size}")
    t = np.arange(size) - (size - 1) / 2
    g = np.exp(-(t**2) / (2 * sigma**2))
    return g / g.sum()


def _check_ratio(ratio) -> int:
    if isinstance(ratio, bool) or int(ratio) != ratio or ratio < 1:
        raise ValueRangeError(f"ratio must be a positive integer; got {ratio}")
    return int(ratio)


def _check_cube(cube: ArrayLike, ratio: int, name: str = "cube") -> None:
    if cube.ndim not in (3, 4):
        raise ShapeError(f"{name} must be (L, H, W) or (N, L, H, W) channels-first; got shape {tuple(cube.shape)}")
    h, w = cube.shape[-2:]
    if h % ratio or w % ratio:
        raise ShapeError(
            f"{name} is {h}x{w}, not a multiple of ratio {ratio}; crop it to "
            f"{h - h % ratio}x{w - w % ratio} (or choose a ratio that divides both sides)"
        )
    check_finite(cube, name)


def blur_decimate(cube: ArrayLike, ratio: int = 4, sigma: float | None = None, kernel_size: int | None = None):
    """Spatial degradation ``S(B * X)``: separable Gaussian blur (replicate borders), then decimation.

    Args:
        cube: ``(L, H, W)`` or ``(N, L, H, W)``, H and W multiples of ``ratio``; numpy or torch.
        ratio: integer resolution ratio.
        sigma: Gaussian std in HR pixels (default: MTF-matched, gain 0.3 at Nyquist).
        kernel_size: odd number of taps (default ``2 ceil(3 sigma) + 1``).

    Returns:
        ``(..., L, H/ratio, W/ratio)``, same kind as ``cube`` (float).
    """
    r = _check_ratio(ratio)
    _check_cube(cube, r)
    g = gaussian_kernel_1d(mtf_matched_sigma(r) if sigma is None else float(sigma), kernel_size)
    x = to_numpy(cube)
    x = ndimage.correlate1d(x, g, axis=-1, mode="nearest")
    x = ndimage.correlate1d(x, g, axis=-2, mode="nearest")
    return restore(decimate(x, r), cube)


def _simulate(cube, ratio, response, wavelengths, sigma, kernel_size):
    r = _check_ratio(ratio)
    _check_cube(cube, r)
    bands = cube.shape[-3]
    matrix = resolve_response(response, bands, wavelengths)
    x = to_numpy(cube)
    low = blur_decimate(x, r, sigma, kernel_size)
    guide = np.einsum("bl,...lhw->...bhw", matrix, x, optimize=True)
    return x, low, guide, matrix


def simulate_hs_pansharpening(
    cube: ArrayLike,
    ratio: int = 4,
    response="wv3-pan",
    wavelengths: ArrayLike | None = None,
    sigma: float | None = None,
    kernel_size: int | None = None,
    keys: str = "upper",
) -> dict:
    """Hyperspectral pansharpening data from a reference cube (HyperPanCollection layout).

    Args:
        cube: reference ``(L, H, W)`` or ``(N, L, H, W)`` (digital numbers or [0, 1]).
        ratio: resolution ratio (H, W multiples of it).
        response: PAN response: built-in name (default ``"wv3-pan"``), file, SpectralResponse
            or a ``(1, L)`` matrix.
        wavelengths: ``(L,)`` band centres in nm (needed for responses given over wavelengths).
        sigma, kernel_size: spatial blur (see :func:`blur_decimate`).
        keys: ``"upper"`` -> ``GT/MS/LMS/PAN`` (HyperPanCollection), ``"lower"`` -> ``gt/ms/lms/pan``.

    Returns:
        ``{GT: (.., L, H, W), MS: (.., L, H/R, W/R), LMS: (.., L, H, W), PAN: (.., 1, H, W)}``
        float64 numpy arrays (LMS = interp23tap(MS)).

    Raises:
        ShapeError: sizes not multiples of ``ratio``, response columns != L, or a response with
            more than one output band.
        ValueRangeError: NaN/inf, bad ratio/sigma, or a response row without positive sum.
    """
    gt, low, pan, matrix = _simulate(cube, ratio, response, wavelengths, sigma, kernel_size)
    if matrix.shape[0] != 1:
        raise ShapeError(f"a PAN response has one output band; this one has {matrix.shape[0]} (use simulate_hisr)")
    out = {"GT": gt, "MS": low, "LMS": to_numpy(interp23tap(low, int(ratio))), "PAN": pan}
    return _with_keys(out, keys)


def simulate_hisr(
    cube: ArrayLike,
    ratio: int = 4,
    response="rgb",
    wavelengths: ArrayLike | None = None,
    sigma: float | None = None,
    kernel_size: int | None = None,
    guide_key: str | None = None,
    with_lms: bool = False,
) -> dict:
    """HS/MS fusion (HISR) data from a reference cube (CAVE-style layout).

    Args:
        cube: reference ``(L, H, W)`` or ``(N, L, H, W)``.
        response: guide response, default the built-in ``"rgb"`` camera (3 bands).
        guide_key: ``"RGB"`` or ``"HRMSI"`` (default: ``RGB`` for 3 output bands, else ``HRMSI``).
        with_lms: also return ``LMS = interp23tap(LRHSI)`` (for the training pipeline).
        other arguments: as :func:`simulate_hs_pansharpening`.

    Returns:
        ``{GT: (.., L, H, W), LRHSI: (.., L, H/R, W/R), RGB|HRMSI: (.., B, H, W)[, LMS]}`` float64.
    """
    gt, low, guide, matrix = _simulate(cube, ratio, response, wavelengths, sigma, kernel_size)
    key = guide_key or ("RGB" if matrix.shape[0] == 3 else "HRMSI")
    if key not in ("RGB", "HRMSI"):
        raise ValueRangeError(f"guide_key must be 'RGB' or 'HRMSI'; got {guide_key!r}")
    out = {"GT": gt, "LRHSI": low, key: guide}
    if with_lms:
        out["LMS"] = to_numpy(interp23tap(low, int(ratio)))
    return out


def _with_keys(arrays: dict, keys: str) -> dict:
    if keys == "upper":
        return arrays
    if keys == "lower":
        return {k.lower(): v for k, v in arrays.items()}
    raise ValueRangeError(f"keys must be 'upper' (HyperPanCollection) or 'lower' (PanCollection); got {keys!r}")
