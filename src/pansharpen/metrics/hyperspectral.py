"""Fast quality indices for hyperspectral images (100-200 bands).

* :func:`q2n_fast` -- Q2n of :func:`pansharpen.metrics.q2n` (bands zero-padded to a power of two:
  128 for 102 bands, 256 for 145/191) with the Cayley-Dickson products written as an ``(n, n)``
  sign table; seconds for a 256 x 256 x 191 image where the generic Q2n takes minutes
  (``docs/hyperspectral.md``).
* :func:`ssim_fast` -- :func:`pansharpen.metrics.ssim` with separable ``scipy.ndimage`` filtering,
  a chunk of bands at a time (the same Gaussian window, :func:`pansharpen.metrics.reduced._gaussian_window`).
* :func:`hs_indices` -- SAM, ERGAS, PSNR, SSIM and Q2n together.

The same numbers as :mod:`pansharpen.metrics.reduced` (tests/metrics/test_hyperspectral.py).
"""
from __future__ import annotations

import functools

import numpy as np
from scipy import ndimage

from .._arrays import ArrayLike, torch_module
from ..errors import ShapeError, ValueRangeError
from ._inputs import as_pair, ensure_digital_numbers, resolve_max_value
from ._windows import matlab_uint16, pad_to_blocks
from .reduced import _ergas_images, _gaussian_window, _sam_images

__all__ = ["hs_indices", "q2n_fast", "ssim_fast", "cayley_dickson_signs"]

_EPS = np.finfo(np.float64).eps


# ------------------------------------------------------------------------------ Q2n, fast path
@functools.lru_cache(maxsize=16)
def cayley_dickson_signs(n: int) -> np.ndarray:
    """Signs ``s[i, j]`` with ``e_i * e_j = s[i, j] e_(i XOR j)`` for the product of ``q2n.m``.

    The reference product (``onion_mult.m``) splits ``x = (a, b)``, ``y = (c, d)`` and returns
    ``(a c - conj(d) b, conj(a) conj(d) + c conj(b))``. On basis units (``conj(e_0) = e_0``,
    ``conj(e_i) = -e_i``), with ``S`` the table of the half algebra and ``c_i`` the conjugation
    signs, the four quadrants are ``S``, ``c_i c_j S``, ``c_i S^T`` and ``-c_j S^T``: an ``(n, n)``
    table instead of the ``n^3`` structure tensor.
    """
    if n < 1 or n & (n - 1):
        raise ValueRangeError(f"hypercomplex dimension must be a power of two; got {n}")
    if n == 1:
        return np.ones((1, 1))
    h = n // 2
    s = cayley_dickson_signs(h)
    c = -np.ones(h)
    c[0] = 1.0
    t = np.empty((n, n))
    t[:h, :h] = s
    t[:h, h:] = c[:, None] * c[None, :] * s
    t[h:, :h] = c[:, None] * s.T
    t[h:, h:] = -c[None, :] * s.T
    t.setflags(write=False)
    return t


def _product_of_moments(moments: np.ndarray) -> np.ndarray:
    """``(x * y)_k = sum_i s[i, i^k] M[i, i^k]`` for ``M[..., i, j] = E[x_i y_j]``: ``(..., n, n) -> (..., n)``."""
    n = moments.shape[-1]
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    j = i ^ k  # (k, i)
    coeff = cayley_dickson_signs(n)[i, j]
    return (moments[..., i, j] * coeff).sum(axis=-1)


def _q2n_blocks_fast(ref: np.ndarray, fus: np.ndarray, n: int) -> np.ndarray:
    """Block values ``|q|`` (``onions_quality.m``) for ``(nblocks, C, M)`` block pixels padded to ``n`` bands.

    The ``n - C`` zero bands that ``q2n.m`` appends become the constant 1 in both normalised
    images (zero mean and std), so their moments are written down instead of computed: only
    the ``C x C`` block of ``E[z1_i conj(z2)_j]`` needs a matrix product.
    """
    nblocks, bands, m = ref.shape
    k = m / (m - 1)
    mu = ref.mean(axis=-1, keepdims=True)
    sigma = ref.std(axis=-1, ddof=1, keepdims=True)
    sigma = np.where(sigma == 0, _EPS, sigma)
    z1 = np.subtract(ref, mu)  # in place from here on: these arrays are 100 MB each for 191 bands
    z1 /= sigma
    z1 += 1
    z2 = np.subtract(fus, mu)
    z2 /= np.where(mu == 0, 1.0, sigma)
    z2 += 1
    pad = n - bands
    m1 = np.concatenate([z1.mean(axis=-1), np.ones((nblocks, pad))], axis=-1)  # (nblocks, n)
    m2 = np.concatenate([z2.mean(axis=-1), np.ones((nblocks, pad))], axis=-1)
    m1_sq = (m1**2).sum(axis=-1)
    m2_sq = (m2**2).sum(axis=-1)
    means_sq = m1_sq + m2_sq
    second = (z1**2).sum(axis=-2).mean(axis=-1) + (z2**2).sum(axis=-2).mean(axis=-1) + 2 * pad
    variances = k * second - k * means_sq
    mean_bias = 2 * np.sqrt(m1_sq) * np.sqrt(m2_sq) / means_sq
    m2c = m2.copy()
    m2c[..., 1:] *= -1  # conj(m2) = E[conj(z2)]
    moments = np.empty((nblocks, n, n))  # E[z1_i conj(z2)_j]
    z2c = z2
    z2c[:, 1:] *= -1  # conj(z2); z2 itself is not used below
    # float64 batched product through torch: numpy's stacked matmul (and, once torch is loaded, its
    # gemm on some builds) is several times slower for these (191 x 1024) @ (1024 x 191) blocks
    torch = torch_module()
    z1_t = torch.from_numpy(np.ascontiguousarray(z1))
    z2c_t = torch.from_numpy(np.ascontiguousarray(z2c))
    moments[:, :bands, :bands] = torch.bmm(z1_t, z2c_t.transpose(1, 2)).numpy() / m
    moments[:, :bands, bands:] = -m1[:, :bands, None]  # conj of a padded band: -1
    moments[:, bands:, :] = m2c[:, None, :]  # padded z1 band: 1
    cross = _product_of_moments(moments)  # E[z1 * conj(z2)], (nblocks, n)
    means_product = _product_of_moments(m1[..., :, None] * m2c[..., None, :])
    covariance = k * cross - k * means_product
    flat = variances == 0
    safe = np.where(flat, 1.0, variances)
    q = covariance * (mean_bias * 2 / safe)[:, None]
    q[flat] = 0.0
    q[flat, -1] = mean_bias[flat]
    return np.sqrt((q**2).sum(axis=-1))


def _blocks_first(x: np.ndarray, size: int) -> np.ndarray:
    """Distinct ``size`` blocks of ``(C, H, W)`` (H, W multiples of size) as a contiguous ``(nblocks, C, size**2)``.

    Block order is row-major over the block grid, as :func:`pansharpen.metrics._windows.blocks`.
    """
    c, h, w = x.shape
    v = x.reshape(c, h // size, size, w // size, size).transpose(1, 3, 0, 2, 4)
    return np.ascontiguousarray(v).reshape((h // size) * (w // size), c, size * size)


def _q2n_one(ref: np.ndarray, fus: np.ndarray, block_size: int, bands_to: int | None, uint16_cast: bool) -> float:
    ref = pad_to_blocks(ref, block_size, block_size)
    fus = pad_to_blocks(fus, block_size, block_size)
    if uint16_cast:
        ref, fus = matlab_uint16(ref), matlab_uint16(fus)
    bands = ref.shape[0]
    n = 1 << (bands - 1).bit_length() if bands_to is None else int(bands_to)
    if n < bands or n & (n - 1):
        raise ValueRangeError(f"Q2n pads {bands} bands to a power of two >= {bands}; got bands_to={bands_to}")
    rb, fb = _blocks_first(ref, block_size), _blocks_first(fus, block_size)  # (nblocks, bands, M)
    return float(_q2n_blocks_fast(rb, fb, n).mean())


def q2n_fast(
    reference: ArrayLike, fused: ArrayLike, block_size: int = 32, *, bands_to: int | None = None,
    max_value: float | None = None, uint16_cast: bool = True,
):
    """Q2n of :func:`pansharpen.metrics.q2n` (non-overlapping blocks) for many bands, fast.

    Same definition (metrics-reference section 3.4: symmetric padding to block multiples,
    uint16 cast, zero bands up to a power of two, block normalisation by the reference,
    hypercomplex UIQI); the Cayley-Dickson products use the ``(n, n)`` sign table of
    :func:`cayley_dickson_signs` instead of the ``n^3`` structure tensor.

    Args:
        reference, fused: ``(C, H, W)`` or ``(N, C, H, W)`` digital numbers.
        bands_to: pad the bands to this power of two (default: the next one, as ``q2n.m``;
            128 or 256 for hyperspectral images).

    Returns:
        Q2n in [0, 1], a float or ``N`` values.
    """
    ref, fus, single = as_pair(reference, fused)
    if uint16_cast:
        arrays = ensure_digital_numbers({"reference": ref, "fused": fus}, {"reference": reference, "fused": fused},
                                        resolve_max_value(None, max_value))
        ref, fus = arrays["reference"], arrays["fused"]
    values = np.array([_q2n_one(r, f, int(block_size), bands_to, uint16_cast) for r, f in zip(ref, fus)])
    return float(values[0]) if single else values


# ----------------------------------------------------------------------------- SSIM, fast path
def _filter_valid_separable(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation of ``(..., H, W)`` with the odd 1-D window ``g``."""
    half = g.size // 2
    y = ndimage.correlate1d(x, g, axis=-2, mode="constant")[..., half : x.shape[-2] - half, :]
    return ndimage.correlate1d(y, g, axis=-1, mode="constant")[..., half : x.shape[-1] - half]


def _ssim_bands(ref: np.ndarray, fus: np.ndarray, peak: float, chunk: int = 16) -> np.ndarray:
    """Mean SSIM of each band of a ``(C, H, W)`` pair, ``chunk`` bands at a time: ``(C,)``."""
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    g = _gaussian_window()
    out = []
    for s in range(0, ref.shape[0], chunk):
        x, y = ref[s : s + chunk], fus[s : s + chunk]
        mx, my = _filter_valid_separable(x, g), _filter_valid_separable(y, g)
        sxx = _filter_valid_separable(x * x, g) - mx * mx
        syy = _filter_valid_separable(y * y, g) - my * my
        sxy = _filter_valid_separable(x * y, g) - mx * my
        ssim_map = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
        out.append(ssim_map.mean(axis=(-2, -1)))
    return np.concatenate(out)


def ssim_fast(reference: ArrayLike, fused: ArrayLike, data_range: float | None = None):
    """:func:`pansharpen.metrics.ssim` (Gaussian 11x11, sigma 1.5, K = 0.01/0.03, 'valid', band mean), fast.

    Args:
        data_range: the dynamic range L (sensor max, or 1.0); default: the reference's max per image.
    """
    ref, fus, single = as_pair(reference, fused)
    if min(ref.shape[-2:]) < 11:
        raise ShapeError(f"SSIM needs images of at least 11x11; got {ref.shape[-2:]}")
    values = []
    for r, f in zip(ref, fus):
        peak = float(r.max()) if data_range is None else float(data_range)
        if not peak > 0:
            raise ValueRangeError(f"SSIM needs a positive data_range; got {peak}")
        values.append(_ssim_bands(r, f, peak).mean())
    return float(values[0]) if single else np.array(values)


# -------------------------------------------------------------------------------- all indices
def hs_indices(
    reference: ArrayLike,
    fused: ArrayLike,
    ratio: int = 4,
    *,
    data_range: float | None = None,
    max_value: float | None = None,
    block_size: int = 32,
    q2n_bands: int | None = None,
):
    """Reduced-resolution indices for hyperspectral images: ``{"Q2n", "SAM", "ERGAS", "PSNR", "SSIM"}``.

    Definitions as :mod:`pansharpen.metrics` (SAM in degrees, ERGAS with ``100/ratio``, Q2n of
    ``q2n.m`` with bands zero-padded to ``q2n_bands`` -- default the next power of two -- and 32 x 32
    blocks); PSNR pooled over bands, ``10 log10(L^2 / MSE)``; SSIM with the Gaussian 11 x 11, sigma
    1.5 window of the papers, averaged over bands. ``L`` is ``data_range`` (default: the
    reference's maximum per image).

    Args:
        reference, fused: ``(C, H, W)`` or ``(N, C, H, W)``, digital numbers (Q2n casts to uint16);
            float images in [0, 1] need ``max_value`` (they are then scaled for Q2n only).

    Returns:
        a dict of floats for one image, a list of dicts for a batch.
    """
    if not ratio > 0:
        raise ValueRangeError(f"ratio must be positive; got {ratio}")
    ref, fus, single = as_pair(reference, fused)
    if min(ref.shape[-2:]) < max(block_size // 2 + 1, 11):
        raise ShapeError(f"hs_indices needs images of at least {max(block_size // 2 + 1, 11)} pixels a side; got {ref.shape[-2:]}")
    dn = ensure_digital_numbers({"reference": ref, "fused": fus}, {"reference": reference, "fused": fused},
                                resolve_max_value(None, max_value))
    rows = []
    for i, (r, f) in enumerate(zip(ref, fus)):
        peak = float(r.max()) if data_range is None else float(data_range)
        if not peak > 0:
            raise ValueRangeError(f"PSNR/SSIM need a positive data_range; got {peak}")
        mse = float(((r - f) ** 2).mean())
        rows.append({
            "Q2n": _q2n_one(dn["reference"][i], dn["fused"][i], int(block_size), q2n_bands, True),
            "SAM": float(_sam_images(r[None], f[None])[0]),
            "ERGAS": float(_ergas_images(r[None], f[None], float(ratio))[0]),
            "PSNR": float(10 * np.log10(peak**2 / mse)) if mse > 0 else float("inf"),
            "SSIM": float(_ssim_bands(r, f, peak).mean()),
        })
    return rows[0] if single else rows
