"""Reduced-resolution quality indices (Wald protocol: fused image versus a reference).

Exact to the reference MATLAB toolbox (Vivone et al. 2020, ``Quality_Indices/`` and
``Tools/indexes_evaluation.m``; formulas in metrics-reference.md sections 2 and 3.4-3.8):
Q2n (Q4/Q8), Q_avg, SAM, ERGAS and the Sobel sCC. ``psnr`` and ``ssim`` are extras for
hyperspectral use and are **not** part of the reference toolbox.

Inputs are channels-first, ``(C, H, W)`` or ``(N, C, H, W)`` (a 2-D array is one band),
numpy or torch, in **digital numbers** (e.g. 0..2047 for 11-bit sensors). One image gives a
float, a batch gives a numpy array of ``N`` values. Arithmetic is float64.
"""
from __future__ import annotations

import numpy as np

from .._arrays import ArrayLike
from ..errors import ShapeError, ValueRangeError
from ..protocol.sensors import Sensor
from . import _hypercomplex as hc
from ._inputs import as_pair, ensure_digital_numbers, per_image, resolve_max_value
from ._windows import blocks, box_sum_valid, matlab_uint16, pad_to_blocks

#: MATLAB ``eps``: replaces a zero block standard deviation in ``norm_blocco.m``.
_EPS = np.finfo(np.float64).eps

__all__ = [
    "q2n",
    "q_index",
    "sam",
    "ergas",
    "scc",
    "psnr",
    "ssim",
    "crop_borders",
    "reduced_resolution_indices",
]


def _each_image(index, ref: np.ndarray, fus: np.ndarray, *args) -> np.ndarray:
    """Apply a batched ``index(ref, fus, *args) -> (n,)`` one image at a time (small working set)."""
    return np.concatenate([index(r[None], f[None], *args) for r, f in zip(ref, fus)])


# ----------------------------------------------------------------------------------------- Q2n
def _q2n_blocks(reference: np.ndarray, fused: np.ndarray) -> np.ndarray:
    """Hypercomplex quality of each block (``onions_quality.m``): ``|q|`` for every block.

    Args:
        reference, fused: ``(n, nblocks, M)`` block pixels, ``n`` a power of two, float64.

    Returns:
        ``(nblocks,)`` block values in [0, 1].
    """
    m = reference.shape[-1]
    k = m / (m - 1)
    mu = reference.mean(axis=-1, keepdims=True)
    sigma = reference.std(axis=-1, ddof=1, keepdims=True)
    sigma = np.where(sigma == 0, _EPS, sigma)
    z1 = (reference - mu) / sigma + 1
    # Both images are normalised with the reference block statistics; where the reference
    # block mean is 0 the reference shifts the fused block by 1 without dividing.
    z2 = (fused - mu) / np.where(mu == 0, 1.0, sigma) + 1

    m1 = z1.mean(axis=-1)  # (n, nblocks)
    m2 = z2.mean(axis=-1)
    m1_sq = (m1**2).sum(axis=0)
    m2_sq = (m2**2).sum(axis=0)
    means_sq = m1_sq + m2_sq
    # sigma1^2 + sigma2^2 with the N-1 normalisation
    variances = k * ((z1**2).sum(axis=0).mean(axis=-1) + (z2**2).sum(axis=0).mean(axis=-1)) - k * means_sq
    mean_bias = 2 * np.sqrt(m1_sq) * np.sqrt(m2_sq) / means_sq

    cross = hc.mean_product(z1, hc.conj(z2))  # E[z1 * conj(z2)]
    covariance = k * cross - k * hc.multiply(m1, hc.conj(m2))
    flat = variances == 0
    safe = np.where(flat, 1.0, variances)
    q = covariance * (mean_bias * 2 / safe)
    # Flat blocks: q = (0, ..., 0, mean_bias).
    q[:, flat] = 0.0
    q[-1, flat] = mean_bias[flat]
    return np.sqrt((q**2).sum(axis=0))


def _q2n_image(reference: np.ndarray, fused: np.ndarray, block_size: int, shift: int, uint16_cast: bool) -> float:
    """Q2n of one ``(C, H, W)`` pair (``q2n.m``)."""
    ref = pad_to_blocks(reference, block_size, shift)
    fus = pad_to_blocks(fused, block_size, shift)
    if uint16_cast:
        ref, fus = matlab_uint16(ref), matlab_uint16(fus)
    bands = ref.shape[0]
    padded_bands = 1 << (bands - 1).bit_length()
    if padded_bands != bands:
        zeros = np.zeros((padded_bands - bands, *ref.shape[1:]))
        ref = np.concatenate([ref, zeros])
        fus = np.concatenate([fus, zeros])
    values = _q2n_blocks(blocks(ref, block_size, shift), blocks(fus, block_size, shift))
    return float(values.mean())


def _check_block(block_size: int, shift: int | None = None) -> None:
    if int(block_size) != block_size or block_size < 2:
        raise ShapeError(f"block_size must be an integer >= 2; got {block_size}")
    if shift is not None and (int(shift) != shift or not 1 <= shift <= block_size):
        raise ShapeError(f"shift must be an integer in 1..block_size ({block_size}); got {shift}")


def q2n(
    reference: ArrayLike,
    fused: ArrayLike,
    block_size: int = 32,
    shift: int = 32,
    *,
    max_value: float | None = None,
    uint16_cast: bool = True,
):
    """Q2n (Q4 for 4 bands, Q8 for 8): hypercomplex UIQI of Garzelli & Nencini (GRSL 2009).

    Reference ``q2n.m`` exactly (metrics-reference section 3.4): pad H, W at the bottom/right to
    block multiples by symmetric mirroring; cast both images to ``uint16`` (round half away,
    saturate); append zero bands up to a power of two; in each ``block_size`` block normalise
    both images with the reference block mean and N-1 std (``x' = (x - mu)/sigma + 1``); then

        q = 4 |sigma_{z1 z2}| |m1| |m2| / ((sigma_1^2 + sigma_2^2)(|m1|^2 + |m2|^2))

    with hypercomplex ``z1, z2`` (Cayley-Dickson products); Q2n is the mean of ``|q|`` over blocks.

    Args:
        reference: ground truth, ``(C, H, W)`` or ``(N, C, H, W)``, digital numbers.
        fused: same shape as ``reference``.
        block_size: block side (32 in the toolbox). shift: step between blocks (32: distinct blocks).
        max_value: when given, float images with max <= 1.0 are taken as normalised and multiplied
            by it (with a warning); when not, such images are refused (the cast would destroy them).
        uint16_cast: False skips the cast (the float path of Vivone's Python port and of sewar;
            not the reference, but scale invariant).

    Returns:
        Q2n in [0, 1] (1 = identical): a float, or an array of ``N`` values for a batch.
    """
    _check_block(block_size, shift)
    ref, fus, single = as_pair(reference, fused)
    if uint16_cast:
        arrays = ensure_digital_numbers(
            {"reference": ref, "fused": fus}, {"reference": reference, "fused": fused},
            resolve_max_value(None, max_value),
        )
        ref, fus = arrays["reference"], arrays["fused"]
    values = [_q2n_image(r, f, int(block_size), int(shift), uint16_cast) for r, f in zip(ref, fus)]
    return per_image(np.array(values), single)


# ------------------------------------------------------------------------------------- Q_avg
def _uiqi_sliding(x: np.ndarray, y: np.ndarray, block_size: int) -> np.ndarray:
    """Mean over the sliding-window UIQI map (``img_qi.m``) of each ``(C, H, W)`` band pair: ``(C,)``."""
    n = block_size * block_size
    sx, sy = box_sum_valid(x, block_size), box_sum_valid(y, block_size)
    sxx, syy = box_sum_valid(x * x, block_size), box_sum_valid(y * y, block_size)
    sxy = box_sum_valid(x * y, block_size)
    means_prod = sx * sy
    means_sq = sx * sx + sy * sy
    variances = n * (sxx + syy) - means_sq
    denominator = variances * means_sq
    # Reference special cases: zero variances -> 2 mu_x mu_y / (mu_x^2 + mu_y^2); also zero means -> 1.
    quality = np.ones_like(denominator)
    only_means = (variances == 0) & (means_sq != 0)
    np.divide(2 * means_prod, means_sq, out=quality, where=only_means)
    numerator = 4 * (n * sxy - means_prod) * means_prod
    np.divide(numerator, denominator, out=quality, where=denominator != 0)
    return quality.mean(axis=(-2, -1))


def q_index(reference: ArrayLike, fused: ArrayLike, block_size: int = 32):
    """Q_avg: band mean of the Wang-Bovik UIQI on a sliding window (``Q.m`` + ``img_qi.m``).

    Q = 4 sigma_xy mu_x mu_y / ((sigma_x^2 + sigma_y^2)(mu_x^2 + mu_y^2)) on every
    ``block_size`` x ``block_size`` window at stride 1 ('valid', no stabilising constants),
    averaged over the map and then over bands. Windows with zero variance in both images give
    2 mu_x mu_y / (mu_x^2 + mu_y^2); windows with zero variances and zero means give 1.

    Args:
        reference, fused: ``(C, H, W)`` or ``(N, C, H, W)``, H and W >= ``block_size``.

    Returns:
        Q in [-1, 1]: a float, or ``N`` values for a batch.
    """
    _check_block(block_size)
    ref, fus, single = as_pair(reference, fused)
    h, w = ref.shape[-2:]
    if h < block_size or w < block_size:
        raise ShapeError(
            f"Q needs images of at least {block_size}x{block_size} (sliding window); got {h}x{w}: "
            "use larger images, a smaller block_size, or a smaller crop"
        )
    values = [_uiqi_sliding(r, f, int(block_size)).mean() for r, f in zip(ref, fus)]
    return per_image(np.array(values), single)


# --------------------------------------------------------------------------------------- SAM
def _sam_images(ref: np.ndarray, fus: np.ndarray) -> np.ndarray:
    dot = (ref * fus).sum(axis=1)
    norms = np.sqrt((ref * ref).sum(axis=1) * (fus * fus).sum(axis=1))
    valid = norms != 0
    cosines = np.divide(dot, norms, out=np.zeros_like(dot), where=valid)
    angles = np.arccos(np.clip(cosines, -1.0, 1.0)) * valid
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_angle = angles.sum(axis=(1, 2)) / valid.sum(axis=(1, 2))
    return np.degrees(mean_angle)


def sam(reference: ArrayLike, fused: ArrayLike):
    """Spectral Angle Mapper in **degrees** (``SAM.m``).

    theta = arccos(<GT, F> / (|GT| |F|)) per pixel; the mean over pixels where
    ``|GT| |F| != 0`` (zero-norm pixels are left out of the sum and the count), times 180/pi.
    Cosines beyond [-1, 1] from rounding count as 0 or 180 degrees (MATLAB's real(acos)).

    Returns:
        SAM >= 0 (0 = identical spectra): a float, or ``N`` values; NaN when every pixel has a
        zero spectrum, as in the reference.
    """
    ref, fus, single = as_pair(reference, fused)
    return per_image(_each_image(_sam_images, ref, fus), single)


# ------------------------------------------------------------------------------------- ERGAS
def _ergas_images(ref: np.ndarray, fus: np.ndarray, ratio: float) -> np.ndarray:
    mse = ((ref - fus) ** 2).mean(axis=(2, 3))
    means = ref.mean(axis=(2, 3))
    with np.errstate(divide="ignore", invalid="ignore"):
        return (100.0 / ratio) * np.sqrt((mse / means**2).mean(axis=1))


def ergas(reference: ArrayLike, fused: ArrayLike, ratio: float = 4):
    """ERGAS (``ERGAS.m``): (100/R) sqrt( (1/C) sum_b MSE_b / mu_b^2 ), mu_b = mean of reference band b.

    Args:
        ratio: PAN/MS resolution ratio R (4: the factor is 25).

    Returns:
        ERGAS >= 0 (0 = identical): a float or ``N`` values; inf if a reference band has mean 0,
        as in the reference.
    """
    if not ratio > 0:
        raise ValueRangeError(f"ratio must be positive; got {ratio}")
    ref, fus, single = as_pair(reference, fused)
    return per_image(_each_image(_ergas_images, ref, fus, float(ratio)), single)


# --------------------------------------------------------------------------------------- SCC
def _sobel_magnitude(x: np.ndarray) -> np.ndarray:
    """sqrt(Gx^2 + Gy^2) of ``imfilter(x, fspecial('sobel'))`` and its transpose, zero padding, same size."""
    p = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(1, 1), (1, 1)])
    smooth_cols = p[..., :, :-2] + 2 * p[..., :, 1:-1] + p[..., :, 2:]  # [1 2 1] along W
    gy = smooth_cols[..., :-2, :] - smooth_cols[..., 2:, :]
    smooth_rows = p[..., :-2, :] + 2 * p[..., 1:-1, :] + p[..., 2:, :]  # [1 2 1] along H
    gx = smooth_rows[..., :, :-2] - smooth_rows[..., :, 2:]
    return np.sqrt(gx * gx + gy * gy)


def _scc_images(ref: np.ndarray, fus: np.ndarray) -> np.ndarray:
    g_ref = _sobel_magnitude(ref[..., 1:-1, 1:-1])
    g_fus = _sobel_magnitude(fus[..., 1:-1, 1:-1])
    axes = (1, 2, 3)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (g_fus * g_ref).sum(axis=axes) / np.sqrt((g_fus**2).sum(axis=axes)) / np.sqrt((g_ref**2).sum(axis=axes))


def scc(reference: ArrayLike, fused: ArrayLike):
    """Spatial correlation coefficient, Sobel variant of the 2020 toolbox (``SCC.m``).

    For each band the interior ``I[1:-1, 1:-1]`` is filtered with the Sobel kernel
    [[1, 2, 1], [0, 0, 0], [-1, -2, -1]] and its transpose (zero padding, same size);
    G = sqrt(Gx^2 + Gy^2); then sCC = sum(G_F G_GT) / (sqrt(sum G_F^2) sqrt(sum G_GT^2)),
    the sums running over all pixels **and** bands (an uncentred cosine, pooled over bands).

    Returns:
        sCC in [0, 1] (1 = same edges): a float or ``N`` values; NaN for flat images.
    """
    ref, fus, single = as_pair(reference, fused)
    if min(ref.shape[-2:]) < 3:
        raise ShapeError(f"SCC needs images of at least 3x3 (it drops a 1-pixel border); got {ref.shape[-2:]}")
    return per_image(_each_image(_scc_images, ref, fus), single)


# ------------------------------------------------------------------------ extras (not reference)
def psnr(reference: ArrayLike, fused: ArrayLike, data_range: float | None = None, pooled: bool = True):
    """PSNR in dB. **Not in the reference toolbox**; an extra for hyperspectral papers.

    PSNR = 10 log10(data_range^2 / MSE). ``pooled=True`` takes one MSE over all bands (what
    published tables match best); ``pooled=False`` averages the per-band PSNRs (DLPan Python).

    Args:
        data_range: peak value (the sensor's max DN, or 1.0 for normalised data); default: the
            reference's maximum per image.
    """
    ref, fus, single = as_pair(reference, fused)
    peak = ref.max(axis=(1, 2, 3)) if data_range is None else np.full(ref.shape[0], float(data_range))
    if not (peak > 0).all():
        raise ValueRangeError(f"PSNR needs a positive data_range; got {peak.min()}")
    with np.errstate(divide="ignore"):
        if pooled:
            mse = ((ref - fus) ** 2).mean(axis=(1, 2, 3))
            values = 10 * np.log10(peak**2 / mse)
        else:
            mse = ((ref - fus) ** 2).mean(axis=(2, 3))
            values = (10 * np.log10(peak[:, None] ** 2 / mse)).mean(axis=1)
    return per_image(values, single)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    t = np.arange(size) - (size - 1) / 2
    g = np.exp(-(t**2) / (2 * sigma**2))
    return g / g.sum()


def _filter_valid(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation of ``(..., H, W)`` with the 1-D window ``g`` along H and W."""
    k = g.size
    win = np.lib.stride_tricks.sliding_window_view(x, k, axis=-2)  # (..., H-k+1, W, k)
    rows = win @ g
    win = np.lib.stride_tricks.sliding_window_view(rows, k, axis=-1)
    return win @ g


def ssim(reference: ArrayLike, fused: ArrayLike, data_range: float | None = None):
    """Mean SSIM over bands (Wang et al. 2004). **Not in the reference toolbox**; an extra.

    Gaussian 11x11 window, sigma 1.5, K1 = 0.01, K2 = 0.03, 'valid' map (Wang's
    ``ssim_index.m``), computed per band and averaged.

    Args:
        data_range: dynamic range L (sensor max DN, or 1.0); default: the reference's max per image.
    """
    ref, fus, single = as_pair(reference, fused)
    if min(ref.shape[-2:]) < 11:
        raise ShapeError(f"SSIM needs images of at least 11x11; got {ref.shape[-2:]}")
    peak = ref.max(axis=(1, 2, 3)) if data_range is None else np.full(ref.shape[0], float(data_range))
    if not (peak > 0).all():
        raise ValueRangeError(f"SSIM needs a positive data_range; got {peak.min()}")
    c1 = ((0.01 * peak) ** 2)[:, None, None, None]
    c2 = ((0.03 * peak) ** 2)[:, None, None, None]
    g = _gaussian_window()
    mx, my = _filter_valid(ref, g), _filter_valid(fus, g)
    sxx = _filter_valid(ref * ref, g) - mx * mx
    syy = _filter_valid(fus * fus, g) - my * my
    sxy = _filter_valid(ref * fus, g) - mx * my
    ssim_map = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return per_image(ssim_map.mean(axis=(2, 3)).mean(axis=1), single)


# ----------------------------------------------------------------------------- all together
def crop_borders(image: np.ndarray, crop: int) -> np.ndarray:
    """``indexes_evaluation.m`` border cut: ``I(dim_cut:end-dim_cut, dim_cut:end-dim_cut)`` (1-based).

    Removes ``crop - 1`` rows/columns at the top/left and ``crop`` at the bottom/right
    (256 -> 215 for ``crop=21``); ``crop=0`` keeps the image.
    """
    if int(crop) != crop or crop < 0:
        raise ValueRangeError(f"crop must be a non-negative integer (dim_cut); got {crop}")
    crop = int(crop)
    if crop == 0:
        return image
    h, w = image.shape[-2:]
    if h - 2 * crop + 1 < 1 or w - 2 * crop + 1 < 1:
        raise ShapeError(f"crop={crop} leaves nothing of a {h}x{w} image; use a smaller crop")
    return image[..., crop - 1 : h - crop, crop - 1 : w - crop]


def reduced_resolution_indices(
    reference: ArrayLike,
    fused: ArrayLike,
    ratio: int = 4,
    crop: int = 0,
    sensor: "str | Sensor | None" = None,
    max_value: float | None = None,
    block_size: int = 32,
):
    """All reduced-resolution indices as ``indexes_evaluation.m`` computes them.

    Args:
        reference: ground truth ``(C, H, W)`` or ``(N, C, H, W)``, digital numbers.
        fused: same shape.
        ratio: resolution ratio for ERGAS.
        crop: ``dim_cut`` border cut (see :func:`crop_borders`; 0 = none, the toolbox demos use 21
            or 30).
        sensor, max_value: only used to rescale images that look normalised to [0, 1] (float,
            max <= 1.0) back to digital numbers, with a warning; without either, such images
            are refused because Q2n casts to uint16 (``max_value`` wins over ``sensor``).
        block_size: Q2n block and Q window (32).

    Returns:
        ``{"Q2n", "Q", "SAM", "ERGAS", "SCC"}`` floats for one image; a list of such dicts for
        a batch.
    """
    if not ratio > 0:
        raise ValueRangeError(f"ratio must be positive; got {ratio}")
    ref, fus, single = as_pair(reference, fused)
    arrays = ensure_digital_numbers(
        {"reference": ref, "fused": fus}, {"reference": reference, "fused": fused},
        resolve_max_value(sensor, max_value),
    )
    ref = crop_borders(arrays["reference"], crop)
    fus = crop_borders(arrays["fused"], crop)
    _check_block(block_size, block_size)
    if min(ref.shape[-2:]) < block_size:
        raise ShapeError(
            f"the reduced-resolution indices need images of at least {block_size}x{block_size} after the crop; "
            f"got {ref.shape[-2]}x{ref.shape[-1]}: use a smaller crop or block_size"
        )
    rows = []
    for r, f in zip(ref, fus):  # one image at a time keeps the working set in cache
        r1, f1 = r[None], f[None]
        rows.append(
            {
                "Q2n": _q2n_image(r, f, int(block_size), int(block_size), True),
                "Q": float(_uiqi_sliding(r, f, int(block_size)).mean()),
                "SAM": float(_sam_images(r1, f1)[0]),
                "ERGAS": float(_ergas_images(r1, f1, float(ratio))[0]),
                "SCC": float(_scc_images(r1, f1)[0]),
            }
        )
    return rows[0] if single else rows
