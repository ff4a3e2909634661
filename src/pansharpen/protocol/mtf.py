"""MTF-matched Gaussian filters, exact to the reference toolbox (``genMTF.m``, ``MTF.m``, ``MTF_PAN.m``).

For a band whose MTF gain at the MS Nyquist frequency is ``G`` (metrics-reference section 3.1):

* ``alpha = sqrt(((N - 1) * fcut / 2)**2 / (-2 ln G))`` with ``fcut = 1 / ratio`` and ``N = 41``;
* ``Hd = fspecial('gaussian', N, alpha) / max(...)`` is used as a *desired frequency response*;
* ``h = fwind1(Hd, kaiser(N, 0.5))``: frequency sampling (inverse 2-D DFT of ``Hd``) times the
  circularly symmetric window obtained by rotating the 1-D Kaiser window (Huang's method).

The kernel is *not* renormalised (its sum is 0.9977-0.9989, not 1) and the gain it realises at
``1 / (2 ratio)`` cycles per pixel is about ``G**1.05``, not ``G``: both are properties of the
reference that published numbers depend on. Filtering is MATLAB ``imfilter(I, h, 'replicate')``:
correlation, same size, replicated border, computed exactly with FFTs of the padded image.
"""
from __future__ import annotations

import functools
from numbers import Real
from typing import Sequence

import numpy as np

from .._arrays import is_torch, torch_module
from ..errors import ShapeError, ValueRangeError
from .sensors import Sensor, get_sensor

__all__ = ["mtf_kernel", "mtf_kernels", "mtf_filter", "mtf_filter_pan", "correlate_replicate"]

#: Kernel size of the reference toolbox.
KERNEL_SIZE = 41
#: Kaiser window shape parameter (MATLAB ``kaiser(N)`` default).
KAISER_BETA = 0.5


# --------------------------------------------------------------------------------------------
# Kernel design
# --------------------------------------------------------------------------------------------


def _gaussian(size: int, sigma: float) -> np.ndarray:
    """MATLAB ``fspecial('gaussian', size, sigma)``: integer grid, tiny values zeroed, sum 1."""
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2.0 * sigma * sigma))
    g[g < np.finfo(np.float64).eps * g.max()] = 0.0
    return g / g.sum()


def _huang_window(window_1d: np.ndarray) -> np.ndarray:
    """Rotate a symmetric 1-D window into a circular 2-D one (``fwind1`` with one window).

    The 1-D window is sampled on ``t = linspace(-1, 1, n)``; the 2-D value at radius
    ``sqrt(t1**2 + t2**2)`` is its linear interpolation there, and 0 beyond radius 1.
    """
    n = window_1d.size
    t = np.arange(-(n - 1) // 2, (n - 1) // 2 + 1) * (2.0 / (n - 1))  # MATLAB's grid, same rounding
    radius = np.sqrt(t[:, None] * t[:, None] + t[None, :] * t[None, :])
    outside = (radius < t[0]) | (radius > t[-1])
    w = np.interp(np.where(outside, 0.0, radius), t, window_1d)
    w[outside] = 0.0
    return w


def _frequency_sampling(hd: np.ndarray) -> np.ndarray:
    """MATLAB ``fsamp2(Hd)``: the filter whose DFT samples equal ``Hd`` (centred, real part).

    ``Hd`` is centred (zero frequency at index ``(n-1)//2``); for the symmetric responses used
    here MATLAB's rot90/fftshift sequence reduces to ``fftshift(ifft2(ifftshift(Hd)))``.
    """
    return np.real(np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(hd))))


@functools.lru_cache(maxsize=256)
def _mtf_kernel_cached(gnyq: float, ratio: int, size: int) -> np.ndarray:
    fcut = 1.0 / ratio
    alpha = np.sqrt(((size - 1) * fcut / 2.0) ** 2 / (-2.0 * np.log(gnyq)))
    gauss = _gaussian(size, alpha)
    hd = gauss / gauss.max()
    h = _frequency_sampling(hd) * _huang_window(np.kaiser(size, KAISER_BETA))
    h.setflags(write=False)
    return h


def mtf_kernel(gnyq: float, ratio: int = 4, size: int = KERNEL_SIZE) -> np.ndarray:
    """The reference MTF-matched kernel for one band (``genMTF.m``), ``(size, size)`` float64.

    Args:
        gnyq: MTF gain at the MS Nyquist frequency, in (0, 1) (e.g. 0.34 for QuickBird blue).
        ratio: PAN/MS resolution ratio (``fcut = 1/ratio``).
        size: odd kernel size; the toolbox uses 41.

    Returns:
        A read-only symmetric kernel; its sum is slightly below 1 (not renormalised, as in the
        2020 toolbox). Kernels are cached.
    """
    g = float(gnyq)
    if not 0.0 < g < 1.0 or not np.isfinite(g):
        raise ValueRangeError(f"MTF gain at Nyquist must be in (0, 1); got {gnyq!r} (typical values 0.1-0.4)")
    r = _check_ratio(ratio)
    if int(size) != size or size < 3 or size % 2 == 0:
        raise ShapeError(f"MTF kernel size must be an odd integer >= 3; got {size!r} (the toolbox uses 41)")
    return _mtf_kernel_cached(g, r, int(size))


def mtf_kernels(gains: Sequence[float], ratio: int = 4, size: int = KERNEL_SIZE) -> np.ndarray:
    """One kernel per band, stacked: ``(C, size, size)`` float64 (``C = len(gains)``)."""
    gains = _gain_tuple(gains)
    return np.stack([mtf_kernel(g, ratio, size) for g in gains])


def _check_ratio(ratio) -> int:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, np.integer, Real)) or int(ratio) != ratio or ratio < 1:
        raise ShapeError(f"ratio must be a positive integer (4 for most sensors); got {ratio!r}")
    return int(ratio)


def _gain_tuple(gains) -> tuple[float, ...]:
    if isinstance(gains, str):
        gains = get_sensor(gains)
    if isinstance(gains, Sensor):
        return tuple(float(g) for g in gains.ms_gnyq)
    if isinstance(gains, (Real, np.floating, np.integer)):
        return (float(gains),)
    gains = tuple(float(g) for g in np.asarray(gains, dtype=np.float64).ravel())
    if not gains:
        raise ShapeError("give at least one MTF gain (one per band)")
    return gains


# --------------------------------------------------------------------------------------------
# Array plumbing shared by the protocol modules
# --------------------------------------------------------------------------------------------


def _work_array(image, name: str = "image", keep_tensor: bool = False):
    """View ``image`` as an ``(N, C, H, W)`` floating array and return a function that undoes it.

    Returns ``(array, finish)``. ``array`` is a numpy array unless ``image`` is a tensor that
    requires grad, lives off the CPU or ``keep_tensor`` is set, in which case it stays a tensor
    (autograd and device kept). numpy inputs and integer inputs are computed in float64; floating tensors keep their
    precision (half types in float32). ``finish(result)`` restores the input's kind, floating
    dtype and number of axes (integer inputs give float64). Raises :class:`ShapeError` for
    other ranks and :class:`ValueRangeError` for non-numeric data or NaN/inf.
    """
    is_tensor = is_torch(image)
    if is_tensor:
        torch = torch_module()
        if image.is_complex():
            raise ValueRangeError(f"{name} must be real; got complex dtype {image.dtype}")
        in_dtype = image.dtype
        work = image if image.dtype in (torch.float32, torch.float64) else (
            image.to(torch.float32) if image.is_floating_point() else image.to(torch.float64)
        )
        if not (keep_tensor or work.requires_grad or work.device.type != "cpu"):
            work = work.numpy()
        device = image.device
    else:
        arr = np.asarray(image)
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
            raise ValueRangeError(f"{name} must be a numeric array; got dtype {arr.dtype}")
        if np.iscomplexobj(arr):
            raise ValueRangeError(f"{name} must be real; got complex dtype {arr.dtype}")
        in_dtype = arr.dtype
        work = arr.astype(np.float64, copy=False)
    shape = tuple(work.shape)
    if len(shape) not in (2, 3, 4):
        raise ShapeError(
            f"{name} must be (H, W), (C, H, W) or (N, C, H, W) channels-first; got shape {shape}. "
            "If your array is (H, W, C), transpose it with arr.transpose(2, 0, 1)."
        )
    if 0 in shape:
        raise ShapeError(f"{name} is empty (shape {shape})")
    work = work.reshape((1,) * (4 - len(shape)) + shape)
    finite = bool(work.isfinite().all()) if is_torch(work) else bool(np.isfinite(work).all())
    if not finite:
        raise ValueRangeError(
            f"{name} contains NaN or inf values; mask or fill nodata first (e.g. np.nan_to_num)"
        )

    def finish(result):
        out = result.reshape(*shape[:-2], *result.shape[-2:])
        if is_tensor:
            if not is_torch(out):
                out = torch_module().from_numpy(np.ascontiguousarray(out)).to(device)
            return out.to(in_dtype) if (in_dtype.is_floating_point and out.dtype != in_dtype) else out
        if np.issubdtype(in_dtype, np.floating) and out.dtype != in_dtype:
            out = out.astype(in_dtype)
        return out

    return work, finish


# --------------------------------------------------------------------------------------------
# Filtering
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)  # each entry is C x fh x fw/2 complex (~20 MB for 8 x 512 x 512)
def _kernel_spectrum(gains: tuple[float, ...], ratio: int, size: int, fft_shape: tuple[int, int]) -> np.ndarray:
    """``conj(rfft2(kernel))`` on ``fft_shape``: the correlation multiplier, ``(C, fh, fw//2+1)``."""
    spec = _correlation_spectrum(mtf_kernels(gains, ratio, size), fft_shape)
    spec.setflags(write=False)
    return spec


def _correlation_spectrum(kernels: np.ndarray, fft_shape: tuple[int, int]) -> np.ndarray:
    # circular correlation c[i] = sum_u x[i + u] k[u] has the DFT X * conj(K) for a real k
    # anchored at index 0, so c[i] is the window of the padded image that starts at pixel i.
    return np.conj(np.fft.rfft2(kernels, s=fft_shape, axes=(-2, -1)))


def correlate_replicate(image, kernels: np.ndarray, _cache_key=None):
    """``imfilter(image, kernel, 'replicate')`` for ``(N, C, H, W)`` arrays and ``(C, k, k)`` kernels.

    Correlation (no kernel flip), same-size output, border replicated, odd ``k``. Computed as
    the inverse FFT of ``rfft2(padded) * conj(rfft2(kernel))`` on a zero-extended grid large
    enough that no wrap-around reaches the kept ``H x W`` window: exact up to float rounding
    (~1e-15 relative in float64). numpy arrays are computed with ``numpy.fft`` in float64;
    tensors (those that need autograd or a device) with ``torch.fft``, differentiably.
    """
    k = kernels.shape[-1]
    pad = k // 2
    _, _, h, w = image.shape
    if is_torch(image):
        torch = torch_module()
        fft_shape = (fft_length(h + 2 * pad), fft_length(w + 2 * pad))
        spec = _spectrum(kernels, fft_shape, _cache_key)
        padded = torch.nn.functional.pad(image, (pad, pad, pad, pad), mode="replicate")
        complex_dtype = torch.complex128 if image.dtype == torch.float64 else torch.complex64
        spec_t = torch.from_numpy(spec.copy()).to(device=image.device, dtype=complex_dtype)
        full = torch.fft.irfft2(torch.fft.rfft2(padded, s=fft_shape) * spec_t, s=fft_shape)
        return full[..., :h, :w]

    # numpy: one image at a time, large images in tiles (overlap-save), so that the working set
    # stays small; every output pixel still sees its full k x k neighbourhood, so tiling is exact
    tile_h = h if h <= _WHOLE_IMAGE_MAX else _TILE
    tile_w = w if w <= _WHOLE_IMAGE_MAX else _TILE
    fft_shape = (fft_length(tile_h + 2 * pad), fft_length(tile_w + 2 * pad))
    spec = _spectrum(kernels, fft_shape, _cache_key)
    out = np.empty(image.shape, dtype=image.dtype)
    buffer = np.zeros((image.shape[1], *fft_shape))
    for i, img in enumerate(image):
        padded = np.pad(img, ((0, 0), (pad, pad), (pad, pad)), mode="edge")
        for r0 in range(0, h, tile_h):
            for c0 in range(0, w, tile_w):
                th, tw = min(tile_h, h - r0), min(tile_w, w - c0)
                if (th, tw) != (tile_h, tile_w):
                    buffer.fill(0.0)
                buffer[:, : th + 2 * pad, : tw + 2 * pad] = padded[:, r0 : r0 + th + 2 * pad, c0 : c0 + tw + 2 * pad]
                spectrum = np.fft.rfft2(buffer, axes=(-2, -1))
                spectrum *= spec
                result = np.fft.irfft2(spectrum, s=fft_shape, axes=(-2, -1))
                out[i, :, r0 : r0 + th, c0 : c0 + tw] = result[:, :th, :tw]
    return out


#: images up to this size are filtered in one FFT; larger ones in tiles of _TILE output pixels
_WHOLE_IMAGE_MAX = 1024
_TILE = 512


def _spectrum(kernels: np.ndarray, fft_shape: tuple[int, int], cache_key) -> np.ndarray:
    if cache_key is not None:
        return _kernel_spectrum(*cache_key, fft_shape)
    return _correlation_spectrum(np.asarray(kernels, dtype=np.float64), fft_shape)


def fft_length(n: int) -> int:
    """Smallest ``2**a * 3**b * 5**c >= n``: a length pocketfft transforms fast (scipy's
    ``next_fast_len`` for real input, without importing scipy)."""
    best = 1 << (max(1, n) - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p2 = p35
            while p2 < n:
                p2 *= 2
            best = min(best, p2)
            p35 *= 3
        p5 *= 5
    return best


def mtf_filter(image, gains, ratio: int = 4):
    """Filter each band with its MTF-matched kernel (``MTF.m``: ``imfilter(I, h, 'replicate')``).

    Args:
        image: ``(C, H, W)`` or ``(N, C, H, W)`` (``(H, W)`` for one band), numpy or torch, any
            scale (digital numbers or normalised); must be finite.
        gains: a :class:`Sensor` or sensor name (its MS gains), a sequence of one gain per band,
            or one gain for every band.
        ratio: PAN/MS resolution ratio.

    Returns:
        The filtered image, same kind, shape and floating dtype (integers give float64).
    """
    t, finish = _work_array(image, "image")
    gain_tuple = _gain_tuple(gains)
    channels = t.shape[1]
    if len(gain_tuple) == 1 and not isinstance(gains, (Sensor, str)):
        gain_tuple = gain_tuple * channels
    if len(gain_tuple) != channels:
        src = f"sensor {gains}" if isinstance(gains, str) else "gains"
        src = f"sensor {gains.name}" if isinstance(gains, Sensor) else src
        raise ShapeError(
            f"{src} gives {len(gain_tuple)} MTF gain(s) but the image has {channels} band(s) "
            f"(shape {tuple(np.shape(image))}); give one gain per band, a single gain for all, "
            "or select bands with Sensor.with_bands"
        )
    r = _check_ratio(ratio)
    kernels = mtf_kernels(gain_tuple, r)
    return finish(correlate_replicate(t, kernels, _cache_key=(gain_tuple, r, KERNEL_SIZE)))


def mtf_filter_pan(pan, sensor_or_gain, ratio: int = 4):
    """Filter a PAN image with the sensor's PAN MTF (``MTF_PAN.m``).

    Args:
        pan: ``(H, W)``, ``(1, H, W)`` or ``(N, 1, H, W)``, numpy or torch.
        sensor_or_gain: a :class:`Sensor` or sensor name (its ``pan_gnyq``) or the PAN gain at Nyquist.
        ratio: PAN/MS resolution ratio.
    """
    if isinstance(sensor_or_gain, str):
        sensor_or_gain = get_sensor(sensor_or_gain)
    gain = sensor_or_gain.pan_gnyq if isinstance(sensor_or_gain, Sensor) else sensor_or_gain
    if not isinstance(gain, (Real, np.floating, np.integer)):
        raise ValueRangeError(f"the PAN MTF gain must be a Sensor or one number; got {sensor_or_gain!r}")
    return mtf_filter(pan, float(gain), ratio)
