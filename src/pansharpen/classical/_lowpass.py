"""Low-pass PAN images used by the detail-injection methods.

* :func:`glp_decimated`: the MS-grid half of the MTF-GLP low-pass ``P_L = interp23tap(decimate(MTF_g(P)))``
  for each distinct MTF gain ``g`` (Aiazzi et al. 2006), i.e. the PAN brought to the MS resolution
  with the MS band's own MTF; :func:`upsample_interp23tap` (whole) or :func:`upsample_strips` (one
  strip of rows at a time, bitwise the same) interpolate it back exactly as the MS was (EXP).
* :func:`starlet_lowpass`: the a-trous B3-spline approximation used by AWLP (Otazu et al. 2005).
* :func:`morphological_lowpass`: the half-gradient morphological pyramid of MF (Restaino et al. 2016).

All take ``(H, W)`` float64 arrays and return float64 arrays of the same size.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ..protocol.interp import GENERAL_ORDER, upsample
from ..protocol.mtf import KERNEL_SIZE, fft_length, mtf_kernel
from ..runtime import map_in_order

MTF_RADIUS = KERNEL_SIZE // 2
INTERP_HALF_TAPS = 11  # interp23tap: 23 taps, radius 11 at each x2 stage


def interp_halo(ratio: int) -> int:
    """PAN pixels on each side that the upsampler (circular border) needs to be exact inside a tile:
    interp23tap's reach at powers of two, the general FIR's radius (22) otherwise."""
    if ratio & (ratio - 1):
        return GENERAL_ORDER // 2 + ratio
    return INTERP_HALF_TAPS * (ratio - 1) + ratio


def glp_halo(ratio: int) -> int:
    """Halo of the MTF-GLP low-pass: MTF radius + interp23tap support + one decimation step."""
    return MTF_RADIUS + interp_halo(ratio) + ratio


def decimate_phase(ratio: int) -> int:
    """Index of the first kept sample of MATLAB ``imresize(x, 1/ratio, 'nearest')`` (0-based): ratio/2."""
    return ratio // 2


def upsample_interp23tap(image: np.ndarray, ratio: int) -> np.ndarray:
    """interp23tap at powers of two, the general interpolator otherwise (the same as the EXP image)."""
    return np.asarray(upsample(image, ratio), dtype=np.float64)


#: Upsampled bytes :func:`upsample_strips` computes at once (64 LR rows of an 8-band, 835-column WV3 MS)
STRIP_CHUNK_BYTES = 64 * 2**20


def strip_margin(ratio: int) -> int:
    """LR rows of circular context a strip of :func:`upsample_rows` carries on each side: interp23tap's
    reach, ``11/2 + 11/4 + ... + 11/ratio`` LR rows (radius 11 at each x2 stage), rounded up, plus one."""
    return math.ceil(INTERP_HALF_TAPS * (1 - 1 / ratio)) + 1


def upsample_rows(image: np.ndarray, ratio: int, r0: int, r1: int) -> np.ndarray:
    """Rows ``r0:r1`` of ``upsample_interp23tap(image, ratio)`` (a power of two) without the whole image.

    ``image`` is ``(C, h, w)``. The LR rows under ``r0:r1`` plus :func:`strip_margin` rows on each
    side, taken circularly (interp23tap's borders are circular), are upsampled: the kept rows are
    computed from the same samples by the same operations as in the whole image, so they are
    bitwise equal to it (tested). Memory: ``C x (r1 - r0 + 21 ratio) x w ratio`` float64 at ratio 4.
    """
    h, margin = image.shape[1], strip_margin(ratio)
    i0, i1 = r0 // ratio, -(-r1 // ratio)
    up = upsample_interp23tap(image[:, np.arange(i0 - margin, i1 + margin) % h], ratio)
    start = margin * ratio + r0 - i0 * ratio
    return up[:, start : start + r1 - r0]


def strip_groups(shape: tuple[int, int, int], ratio: int, rows: int = 32,
                 chunk_bytes: int | None = None) -> list[tuple[int, int]]:
    """LR row ranges ``(g0, g1)`` that :func:`upsample_strips` upsamples together for an image of
    ``shape (C, h, w)``: whole ``rows``-row strips up to ``chunk_bytes`` (default
    :data:`STRIP_CHUNK_BYTES`) of upsampled float64 each."""
    chunk_bytes = STRIP_CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    channels, h, w = shape
    row_bytes = channels * ratio * ratio * w * 8  # one LR row, upsampled, float64
    group = rows * max(1, int(chunk_bytes) // max(1, row_bytes * rows))
    return [(g0, min(h, g0 + group)) for g0 in range(0, h, group)]


def group_strips(image: np.ndarray, ratio: int, group: tuple[int, int], rows: int = 32) -> list:
    """The strips ``[(R0, R1, upsample_interp23tap(image)[:, R0:R1]), ...]`` of one group of
    :func:`strip_groups` (a power-of-two ``ratio``): one :func:`upsample_rows` call, so each strip is
    bitwise the whole upsampled image's rows whatever the grouping."""
    g0, g1 = group
    up = upsample_rows(image, ratio, g0 * ratio, g1 * ratio)
    out = []
    for i0 in range(g0, g1, rows):
        r0, r1 = i0 * ratio, min(g1, i0 + rows) * ratio
        out.append((r0, r1, up[:, r0 - g0 * ratio : r1 - g0 * ratio]))
    return out


def upsample_strips(image: np.ndarray, ratio: int, rows: int = 32, chunk_bytes: int | None = None):
    """Yield ``(R0, R1, upsample_interp23tap(image)[:, R0:R1])`` for consecutive strips of ``rows`` LR rows.

    ``image`` is ``(C, h, w)``; the strips are bitwise the rows of the whole upsampled image
    (:func:`upsample_rows`). Several strips, up to ``chunk_bytes`` of upsampled rows, are
    upsampled together (:func:`strip_groups`, :func:`group_strips`) and yielded one by one: each
    upsampling recomputes :func:`strip_margin` LR rows on both sides (20 at ratio 4, 1.6x the work
    of 32-row strips), so fewer, taller ones waste less while the caller still sees ``rows``-row
    strips (its moments are combined in the same order, so its statistics are bitwise the same).
    Memory: one chunk, ``chunk_bytes`` plus the margins. At ratios that are not powers of two (the
    general interpolator) the whole image is upsampled and sliced.
    """
    if ratio & (ratio - 1):
        up = upsample_interp23tap(image, ratio)
        for r0 in range(0, up.shape[1], rows * ratio):
            yield r0, min(up.shape[1], r0 + rows * ratio), up[:, r0 : r0 + rows * ratio]
        return
    for group in strip_groups(image.shape, ratio, rows, chunk_bytes):
        yield from group_strips(image, ratio, group, rows)


def mtf_decimate(pan: np.ndarray, gains: tuple[float, ...], ratio: int) -> np.ndarray:
    """``decimate(imfilter(P, h_g, 'replicate'))`` for each gain: ``(len(gains), H/ratio, W/ratio)``.

    Only the kept samples are computed, in polyphase form: with ``P`` padded by replication, the
    output at LR pixel ``m`` is ``sum_{p,a} P[off + p + ratio (m + a)] h[ratio a + p]``, i.e. the
    sum over the ``ratio**2`` phases of an LR-size correlation of the phase image with the phase
    kernel. The phase images' FFTs are shared by all kernels, and every FFT is LR-sized, so this
    is ~ratio**2 times cheaper than filtering at full resolution and decimating (same values to
    float rounding; tests compare it with the protocol's ``mtf_filter`` + ``decimate``). Memory:
    the ``ratio**2`` phase spectra and kernel spectra (each about the PAN's size), built one phase
    at a time; the replicated border is an index clip, never a padded copy of the PAN.
    """
    r = ratio
    taps = -(-(2 * MTF_RADIUS + 1) // r)  # kernel taps per phase
    hh, ww = pan.shape
    h, w = hh // r, ww // r
    off = decimate_phase(r)
    rows, cols = h + taps - 1, w + taps - 1
    fft_shape = (fft_length(rows), fft_length(cols))
    # phase (p, q) = P padded by replication (MTF_RADIUS before), rows off + p + r i, cols off + q + r j
    row_at = [np.clip(off + p - MTF_RADIUS + r * np.arange(rows), 0, hh - 1) for p in range(r)]
    col_at = [np.clip(off + q - MTF_RADIUS + r * np.arange(cols), 0, ww - 1) for q in range(r)]
    phase_spec = np.empty((r * r, fft_shape[0], fft_shape[1] // 2 + 1), dtype=np.complex128)

    def transform(i: int) -> None:  # each phase into its own slice: threads share nothing else
        phase_spec[i] = np.fft.rfft2(pan[np.ix_(row_at[i // r], col_at[i % r])], s=fft_shape)

    for _ in map_in_order(range(r * r), transform):  # in the caller's threads (a tile thread: one)
        pass
    out = np.empty((len(gains), h, w))
    small = phase_spec.nbytes <= _SPECTRA_CACHE_BYTES

    def lowpass(i: int) -> None:
        g = float(gains[i])
        product = np.empty(phase_spec.shape[1:], dtype=np.complex128)
        if small:  # a tile: the spectra of its shape, kept
            kept = _kernel_spectra_cached(g, r, fft_shape)
            blocks = ((f0, kept[:, f0 : f0 + SPECTRA_ROWS]) for f0 in range(0, fft_shape[0], SPECTRA_ROWS))
        else:  # the scene: each block of spectra formed where it is used (in cache), never all at once
            blocks = _kernel_spectra_blocks(g, r, fft_shape)
        for f0, block in blocks:
            product[f0 : f0 + block.shape[1]] = np.einsum("pij,pij->ij", phase_spec[:, f0 : f0 + block.shape[1]], block)
        out[i] = np.fft.irfft2(product, s=fft_shape)[:h, :w]

    for _ in map_in_order(range(len(gains)), lowpass):
        pass
    return out


def _kernel_spectra(gain: float, ratio: int, fft_shape: tuple[int, int]) -> np.ndarray:
    """Conjugated spectra of the ``ratio**2`` phase kernels of ``mtf_kernel(gain, ratio)``: ``(R*R, F0, F1 // 2 + 1)``,
    the blocks of :func:`_kernel_spectra_blocks` stacked."""
    spec = np.empty((ratio * ratio, fft_shape[0], fft_shape[1] // 2 + 1), dtype=np.complex128)
    for f0, block in _kernel_spectra_blocks(gain, ratio, fft_shape):
        spec[:, f0 : f0 + block.shape[1]] = block
    return spec


#: Frequency rows per block of :func:`_kernel_spectra_blocks` (16 phases x 32 rows x 433 columns:
#: 3.5 MB of complex128 at WV3 scene size).
SPECTRA_ROWS = 32


def _kernel_spectra_blocks(gain: float, ratio: int, fft_shape: tuple[int, int]):
    """Yield ``(f0, conj(rfft2(phase kernels, s=fft_shape))[:, f0:f0 + SPECTRA_ROWS])`` for each block of
    frequency rows ``f0``, ``(R*R, rows, F1 // 2 + 1)``.

    The kernels have ``taps`` nonzero rows: their real FFT along the rows, then the column transform
    as a DFT of those ``taps`` rows, ``exp(+2 pi i f t / F0) @ conj(row spectra)`` (a matrix product,
    3x faster than numpy's zero-padded column FFT at scene size, the same values to float64
    rounding, tested against ``rfft2``), one block of frequency rows at a time: the 93 MB of
    spectra per gain of a WV3 scene are never written out whole.
    """
    r, k = ratio, 2 * MTF_RADIUS + 1
    taps = -(-k // r)
    kernel = np.zeros((r * taps, r * taps))
    kernel[:k, :k] = mtf_kernel(gain, r)
    phases = np.stack([kernel[j // r :: r, j % r :: r] for j in range(r * r)])  # (R*R, taps, taps)
    rows = np.conjugate(np.fft.rfft(phases, n=fft_shape[1], axis=2))  # (R*R, taps, F1 // 2 + 1)
    angle = (np.arange(fft_shape[0])[:, None] * np.arange(taps)[None, :]) % fft_shape[0]  # exact integers
    dft = np.exp((2j * np.pi / fft_shape[0]) * angle)
    for f0 in range(0, fft_shape[0], SPECTRA_ROWS):
        yield f0, dft[f0 : f0 + SPECTRA_ROWS] @ rows


#: :func:`mtf_decimate` keeps the kernel spectra of the last 16 (gain, tile shape) pairs: a scene's tiles
#: share them but for the edge ones (7 gains x 16 phases = 112 FFTs per 640-pixel tile of an 8-band
#: WV3 scene were 1 s of MTF-GLP-HPM's 9 s). Only spectra of at most this many bytes each (4.2 MB
#: for those tiles) are kept, so the cache holds under 100 MB; whole-scene calls are not cached.
_SPECTRA_CACHE_BYTES = 6 * 2**20


@functools.lru_cache(maxsize=16)
def _kernel_spectra_cached(gain: float, ratio: int, fft_shape: tuple[int, int]) -> np.ndarray:
    spec = _kernel_spectra(gain, ratio, fft_shape)
    spec.setflags(write=False)
    return spec


def glp_decimated(pan: np.ndarray, gains, ratio: int) -> tuple[tuple[float, ...], np.ndarray]:
    """The MS-grid half of the MTF-GLP low-pass: ``(distinct gains (sorted), (G, H/ratio, W/ratio))``."""
    distinct = tuple(sorted({float(g) for g in gains}))
    return distinct, mtf_decimate(pan, distinct, ratio)


def glp_unit_response(shape: tuple[int, int], gain: float, ratio: int) -> np.ndarray:
    """The GLP low-pass of an all-ones image, ``(H, W)``: ``sum(h_g)`` times interp23tap of ones.

    About 0.998 (the MTF kernel is not renormalised) with a 1e-9 ripple from the interpolator.
    Lets the equalised PAN's low-pass be computed from the raw PAN's one by linearity:
    ``LP(a P + b) = a LP(P) + b LP(1)``.
    """
    return glp_dc_gain(gain, ratio) * _upsampled_ones(tuple(shape), ratio)


def glp_dc_gain(gain: float, ratio: int) -> float:
    """The DC gain of the MTF kernel, ``sum(h_g)`` (about 0.998: the kernel is not renormalised)."""
    return float(mtf_kernel(gain, ratio).sum())


@functools.lru_cache(maxsize=4)
def _upsampled_ones(shape: tuple[int, int], ratio: int) -> np.ndarray:
    """interp23tap of an all-ones MS grid under a ``shape`` PAN block (read-only): the same for every
    tile of a shape and every gain (it was 7 interpolations per tile of an 8-band WV3 scene)."""
    up = upsample_interp23tap(np.ones((1, shape[0] // ratio, shape[1] // ratio)), ratio)[0]
    up.setflags(write=False)
    return up


#: See :func:`haze_cap`.
HAZE_MARGIN = 0.1


def haze_cap(minimum: float, mean: float) -> float:
    """Largest haze value allowed for a haze-corrected ratio whose denominator image has this
    ``minimum`` and ``mean`` (taken in a streamed pass over the scene).

    ``min - HAZE_MARGIN * (mean - min)``: the haze-free denominator ``image - haze`` then stays
    above 10 % of its mean-to-minimum spread everywhere. The cap moves with any gain and offset
    of the image, so equalisation invariances are kept. With collinear bands the regression
    haze estimate can exceed dark pixel values, where the ratio would divide by ~0.
    """
    return float(minimum) - HAZE_MARGIN * (float(mean) - float(minimum))


def stack_by_gain(lowpass: dict[float, np.ndarray], gains) -> list[np.ndarray]:
    return [lowpass[float(g)] for g in gains]


# ----------------------------------------------------------------------------------------------
# AWLP: a-trous (undecimated) B3-spline wavelet
# ----------------------------------------------------------------------------------------------

B3_SPLINE = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def starlet_halo(ratio: int) -> int:
    return 2 * (ratio - 1) + interp_halo(ratio)


def starlet_lowpass(pan: np.ndarray, ratio: int) -> np.ndarray:
    """Approximation plane after ``log2(ratio)`` a-trous levels (dilated separable B3 spline).

    The sum of the removed wavelet planes is ``pan - starlet_lowpass(pan)`` (Otazu et al. 2005,
    Eq. 2). Borders are mirrored (symmetric, edge included).
    """
    levels = int(round(math.log2(ratio)))
    approx = pan
    for j in range(levels):
        step = 2**j
        kernel = np.zeros(4 * step + 1)
        kernel[::step] = B3_SPLINE
        approx = correlate_symmetric(approx, kernel, axis=0)
        approx = correlate_symmetric(approx, kernel, axis=1)
    return approx


def correlate_symmetric(image: np.ndarray, kernel: np.ndarray, axis: int) -> np.ndarray:
    """``scipy.ndimage.correlate1d(image, kernel, axis, mode="reflect")`` for a symmetric odd-length
    ``kernel``, bit for bit (tested) without importing scipy.ndimage (0.2 s of AWLP's start-up):
    borders mirrored with the edge pixel (``d c b a | a b c d``), and ndimage's order of operations
    for symmetric kernels, ``c w_0`` then ``(x_-j + x_j) w_j`` from the outermost pair inwards (zero
    taps skipped: they add exact zeros)."""
    r = len(kernel) // 2
    moved = np.moveaxis(np.asarray(image, dtype=np.float64), axis, 0)
    padded = np.pad(moved, [(r, r)] + [(0, 0)] * (moved.ndim - 1), mode="symmetric")
    n = moved.shape[0]
    out = padded[r : r + n] * kernel[r]
    for j in range(r, 0, -1):
        if kernel[r + j] != 0:
            out += (padded[r - j : r - j + n] + padded[r + j : r + j + n]) * kernel[r + j]
    return np.moveaxis(out, 0, axis)


# ----------------------------------------------------------------------------------------------
# MF: morphological half-gradient pyramid
# ----------------------------------------------------------------------------------------------

CROSS_3X3 = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)


def morphological_halo(ratio: int) -> int:
    return 4 * ratio + interp_halo(ratio)


def _half_gradient_smooth(x: np.ndarray) -> np.ndarray:
    """``x - (rho_minus - rho_plus)/2`` with ``rho_minus = x - erosion(x)``, ``rho_plus = dilation(x) - x``.

    Equals ``(dilation(x) + erosion(x)) / 2`` (Restaino et al. 2016, Eq. 17, 3x3 cross element).
    """
    dil, ero = cross_dilation_erosion(x)
    return 0.5 * (dil + ero)


def cross_dilation_erosion(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``grey_dilation`` and ``grey_erosion`` of ``(H, W)`` ``x`` with :data:`CROSS_3X3`, edges replicated
    (``mode="nearest"``): the maximum and minimum of the pixel and its four neighbours, taken as
    elementwise maxima/minima of five shifted views (exact, so bitwise scipy.ndimage's; tested), 4x
    faster than the footprint filters on a tile."""
    p = np.pad(x, 1, mode="edge")
    views = (p[1:-1, 1:-1], p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:])
    dil, ero = np.maximum(views[0], views[1]), np.minimum(views[0], views[1])
    for v in views[2:]:
        np.maximum(dil, v, out=dil)
        np.minimum(ero, v, out=ero)
    return dil, ero


def _upsample2_bilinear(x: np.ndarray) -> np.ndarray:
    """x2 bilinear interpolation with pixel-centred grids (MATLAB ``imresize(x, 2, 'bilinear')``).

    Output ``2i`` = 0.75 x[i] + 0.25 x[i-1], ``2i+1`` = 0.75 x[i] + 0.25 x[i+1], edges replicated.
    """
    def along(a: np.ndarray, axis: int) -> np.ndarray:
        prev = np.concatenate([np.take(a, [0], axis=axis), np.take(a, range(a.shape[axis] - 1), axis=axis)], axis=axis)
        nxt = np.concatenate([np.take(a, range(1, a.shape[axis]), axis=axis), np.take(a, [-1], axis=axis)], axis=axis)
        even = 0.75 * a + 0.25 * prev
        odd = 0.75 * a + 0.25 * nxt
        out_shape = list(a.shape)
        out_shape[axis] *= 2
        out = np.empty(out_shape)
        sl_even = [slice(None)] * a.ndim
        sl_odd = [slice(None)] * a.ndim
        sl_even[axis] = slice(0, None, 2)
        sl_odd[axis] = slice(1, None, 2)
        out[tuple(sl_even)] = even
        out[tuple(sl_odd)] = odd
        return out

    return along(along(x, 0), 1)


def morphological_lowpass(pan: np.ndarray, ratio: int) -> np.ndarray:
    """Coarsest level of the half-gradient morphological pyramid, brought back to PAN size.

    ``log2(ratio)`` reductions ``x <- decimate2(HG(x))`` (first at odd phase, then even phase),
    then bilinear x2 expansions back to the PAN grid (Restaino et al., IEEE TIP 25(6), 2016).
    """
    levels = int(round(math.log2(ratio)))
    x = pan
    for level in range(levels):
        smooth = _half_gradient_smooth(x)
        phase = 1 if level == 0 else 0
        x = smooth[phase::2, phase::2]
    for _ in range(levels):
        x = _upsample2_bilinear(x)
    return x
