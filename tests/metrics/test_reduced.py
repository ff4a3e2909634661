"""Reduced-resolution indices: hand-computed cases, invariances, independent brute force, bad input."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from scipy import ndimage

from pansharpen.errors import ShapeError, ValueRangeError
from pansharpen.metrics import _hypercomplex as hc
from pansharpen.metrics.reduced import (
    crop_borders,
    ergas,
    psnr,
    q2n,
    q_index,
    reduced_resolution_indices,
    sam,
    scc,
    ssim,
)


def smooth_dn(rng, shape, max_dn=2047.0):
    """Realistic-looking DN image: smoothed noise spread over 0..max_dn, rounded."""
    x = ndimage.gaussian_filter(rng.normal(size=shape), sigma=(0,) * (len(shape) - 2) + (3, 3))
    x = (x - x.min()) / (x.max() - x.min())
    return np.round(50 + x * (max_dn - 100))


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    ref = smooth_dn(rng, (8, 64, 64))
    fus = np.clip(ref + rng.normal(0, 40, ref.shape), 0, 2047).round()
    return ref, fus


# ------------------------------------------------------------------------ hand-computed cases
def test_identical_images_are_perfect(pair):
    ref, _ = pair
    out = reduced_resolution_indices(ref, ref.copy())
    assert out["Q2n"] == pytest.approx(1.0, abs=1e-12)
    assert out["Q"] == pytest.approx(1.0, abs=1e-12)
    assert out["SCC"] == pytest.approx(1.0, abs=1e-12)
    assert out["SAM"] == pytest.approx(0.0, abs=1e-6)
    assert out["ERGAS"] == 0.0


@pytest.mark.parametrize("angle_deg", [3.0, 10.0, 45.0])
def test_sam_of_a_known_rotation(angle_deg):
    """Rotate every pixel's 2-band spectrum by a fixed angle: SAM is that angle."""
    rng = np.random.default_rng(1)
    ref = rng.uniform(100, 2000, (2, 20, 30))
    t = math.radians(angle_deg)
    fus = np.stack([math.cos(t) * ref[0] - math.sin(t) * ref[1], math.sin(t) * ref[0] + math.cos(t) * ref[1]])
    assert sam(ref, fus) == pytest.approx(angle_deg, rel=1e-9)
    # in a plane of a 4-band spectrum, other bands zero in both: the same angle
    ref4 = np.concatenate([ref, np.zeros_like(ref)])
    fus4 = np.concatenate([fus, np.zeros_like(fus)])
    assert sam(ref4, fus4) == pytest.approx(angle_deg, rel=1e-9)


def test_sam_leaves_out_zero_norm_pixels():
    ref = np.zeros((2, 2, 2))
    fus = np.zeros((2, 2, 2))
    ref[:, 0, 0] = [1, 0]
    fus[:, 0, 0] = [1, 1]  # 45 degrees
    ref[:, 1, 1] = [3, 4]
    fus[:, 1, 1] = [3, 4]  # 0 degrees; the two other pixels have zero norm
    fus[:, 0, 1] = [1, 2]  # zero reference spectrum: excluded
    assert sam(ref, fus) == pytest.approx(22.5, rel=1e-12)


def test_sam_invariant_to_per_pixel_scaling(pair):
    ref, fus = pair
    scale = np.random.default_rng(2).uniform(0.1, 10, fus.shape[1:])
    assert sam(ref, fus * scale) == pytest.approx(sam(ref, fus), rel=1e-10)


def test_ergas_constant_relative_error():
    """Constant bands, fused = (1 + e_b) * reference: ERGAS = 100/R * sqrt(mean(e_b^2)) exactly."""
    levels = np.array([300.0, 700.0, 1200.0, 1900.0])
    ref = np.broadcast_to(levels[:, None, None], (4, 16, 16)).copy()
    e = np.array([0.1, -0.05, 0.02, 0.2])
    fus = ref * (1 + e)[:, None, None]
    expected = 100 / 4 * math.sqrt(np.mean(e**2))
    assert ergas(ref, fus, ratio=4) == pytest.approx(expected, rel=1e-12)
    assert ergas(ref, fus, ratio=2) == pytest.approx(2 * expected, rel=1e-12)
    # uniform error e = 0.1 on any image content: 100/R * e * sqrt(mean_b(E[x^2] / E[x]^2))
    rng = np.random.default_rng(3)
    ref = rng.uniform(1, 2047, (3, 10, 10))
    ratio_b = (ref**2).mean(axis=(1, 2)) / ref.mean(axis=(1, 2)) ** 2
    assert ergas(ref, 1.1 * ref) == pytest.approx(25 * 0.1 * math.sqrt(ratio_b.mean()), rel=1e-12)


def test_q_of_constant_images():
    """Zero variances: Q = 2 mu_x mu_y / (mu_x^2 + mu_y^2); zero means as well: 1."""
    a = np.full((1, 40, 40), 100.0)
    assert q_index(a, np.full_like(a, 50.0)) == pytest.approx(2 * 100 * 50 / (100**2 + 50**2), rel=1e-15)
    assert q_index(a, a.copy()) == 1.0
    assert q_index(np.zeros_like(a), np.zeros_like(a)) == 1.0


def _uiqi(x, y):
    mx, my = x.mean(), y.mean()
    c = np.cov(x.ravel(), y.ravel())
    return 4 * c[0, 1] * mx * my / ((c[0, 0] + c[1, 1]) * (mx**2 + my**2))


def test_q_matches_brute_force_windows():
    """Independent brute force: every 32x32 window with np.cov, then band mean."""
    rng = np.random.default_rng(4)
    ref = rng.uniform(0, 2047, (2, 37, 35))
    fus = ref + rng.normal(0, 300, ref.shape)
    expected = np.mean(
        [
            np.mean([_uiqi(ref[b, i : i + 32, j : j + 32], fus[b, i : i + 32, j : j + 32]) for i in range(6) for j in range(4)])
            for b in range(2)
        ]
    )
    assert q_index(ref, fus) == pytest.approx(expected, rel=1e-10)


def test_scc_matches_scipy_sobel(pair):
    """Independent: scipy.ndimage.sobel with zero padding on the interior, pooled cosine."""
    ref, fus = pair

    def grad(x):
        inner = x[:, 1:-1, 1:-1]
        gx = np.stack([ndimage.sobel(b, axis=0, mode="constant") for b in inner])
        gy = np.stack([ndimage.sobel(b, axis=1, mode="constant") for b in inner])
        return np.hypot(gx, gy)

    g_ref, g_fus = grad(ref), grad(fus)
    expected = (g_ref * g_fus).sum() / np.sqrt((g_ref**2).sum() * (g_fus**2).sum())
    assert scc(ref, fus) == pytest.approx(expected, rel=1e-12)
    assert scc(ref, fus) < 0.999


def test_scc_uses_zero_padding_not_reflection():
    """A ramp has a constant gradient inside; zero padding creates strong edges at the border."""
    ramp = np.tile(np.arange(1.0, 11.0), (10, 1))[None]
    other = ramp + np.random.default_rng(5).normal(0, 0.1, ramp.shape)
    inner = ramp[0, 1:-1, 1:-1]
    g_refl = np.hypot(ndimage.sobel(inner, 0, mode="reflect"), ndimage.sobel(inner, 1, mode="reflect"))
    g_zero = np.hypot(ndimage.sobel(inner, 0, mode="constant"), ndimage.sobel(inner, 1, mode="constant"))
    assert not np.allclose(g_refl, g_zero)
    inner_o = other[0, 1:-1, 1:-1]
    g_o = np.hypot(ndimage.sobel(inner_o, 0, mode="constant"), ndimage.sobel(inner_o, 1, mode="constant"))
    assert scc(ramp, other) == pytest.approx((g_zero * g_o).sum() / np.sqrt((g_zero**2).sum() * (g_o**2).sum()))


# ------------------------------------------------------------------------------------ Q2n
def test_q2n_float_path_is_scale_invariant(pair):
    ref, fus = pair
    base = q2n(ref, fus, uint16_cast=False)
    assert q2n(ref * 1e-3, fus * 1e-3, uint16_cast=False) == pytest.approx(base, rel=1e-10)
    assert q2n(ref * 7.5, fus * 7.5, uint16_cast=False) == pytest.approx(base, rel=1e-10)
    assert base < 0.999


def test_q2n_casts_to_uint16_like_matlab(pair):
    """uint16(): round half away from zero and saturate, then the float path."""
    ref, fus = pair
    fus_frac = fus + 0.5  # halves round up (away from zero)
    fus_frac[:, :2] = -3.0  # saturates to 0
    fus_frac[:, -2:] = 70000.0  # saturates to 65535
    cast = np.clip(np.floor(fus_frac + 0.5), 0, 65535)
    assert q2n(ref, fus_frac) == pytest.approx(q2n(ref, cast, uint16_cast=False), abs=1e-14)
    assert q2n(ref, fus_frac) != pytest.approx(q2n(ref, fus_frac, uint16_cast=False), abs=1e-9)


def test_q2n_pads_band_count_to_power_of_two():
    """Three bands are evaluated as four, the fourth being zero in both images."""
    rng = np.random.default_rng(6)
    ref = smooth_dn(rng, (3, 64, 64))
    fus = np.clip(ref + rng.normal(0, 60, ref.shape), 0, 2047).round()
    zeros = np.zeros((1, 64, 64))
    assert q2n(ref, fus) == pytest.approx(
        q2n(np.concatenate([ref, zeros]), np.concatenate([fus, zeros])), abs=1e-15
    )


def test_q2n_pads_size_by_symmetric_mirroring():
    """50x40 -> 64x64 by mirroring the last rows/columns (edge included), as q2n.m."""
    rng = np.random.default_rng(7)
    ref = smooth_dn(rng, (4, 50, 40))
    fus = np.clip(ref + rng.normal(0, 60, ref.shape), 0, 2047).round()
    padded = lambda x: np.concatenate([x, x[:, ::-1][:, :14]], axis=1)  # noqa: E731
    mirror = lambda x: np.concatenate([padded(x), padded(x)[:, :, ::-1][:, :, :24]], axis=2)  # noqa: E731
    assert mirror(ref).shape == (4, 64, 64)
    assert q2n(ref, fus) == pytest.approx(q2n(mirror(ref), mirror(fus)), abs=1e-15)


def test_q2n_of_single_block_single_band_is_uiqi_of_normalised_images():
    """One band, one 32x32 block: |q| = UIQI of x' = (x-mu)/sigma+1, y' = (y-mu)/sigma+1 (GT stats)."""
    rng = np.random.default_rng(8)
    x = rng.integers(0, 2048, (32, 32)).astype(float)
    y = np.clip(x + rng.normal(0, 300, x.shape), 0, 2047).round()
    mu, sd = x.mean(), x.std(ddof=1)
    expected = abs(_uiqi((x - mu) / sd + 1, (y - mu) / sd + 1))
    assert q2n(x[None], y[None]) == pytest.approx(expected, rel=1e-12)


def test_hypercomplex_product_is_a_composition_algebra():
    """Complex product for 2 components; |xy| = |x||y| and x conj(x) = |x|^2 up to octonions."""
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(2, 7)), rng.normal(size=(2, 7))
    expected = (x[0] + 1j * x[1]) * (y[0] + 1j * y[1])
    np.testing.assert_allclose(hc.multiply(x, y), np.stack([expected.real, expected.imag]), rtol=1e-14)
    for n in (4, 8):
        x, y = rng.normal(size=(n, 7)), rng.normal(size=(n, 7))
        np.testing.assert_allclose(
            np.linalg.norm(hc.multiply(x, y), axis=0), np.linalg.norm(x, axis=0) * np.linalg.norm(y, axis=0), rtol=1e-12
        )
        xx = hc.multiply(x, hc.conj(x))
        np.testing.assert_allclose(xx[0], (x**2).sum(axis=0), rtol=1e-12)
        np.testing.assert_allclose(xx[1:], 0, atol=1e-12)


def test_q2n_flat_blocks_give_the_mean_bias():
    """Constant reference and fused blocks: sigma1^2 + sigma2^2 = 0, |q| = 2|m1||m2|/(|m1|^2+|m2|^2) = 1."""
    ref = np.full((4, 32, 32), 500.0)
    assert q2n(ref, ref.copy()) == pytest.approx(1.0, abs=1e-15)


# ---------------------------------------------------------------------------- batches, kinds
def test_batches_and_torch_inputs(pair):
    ref, fus = pair
    batch_ref = np.stack([ref, fus])
    batch_fus = np.stack([fus, ref])
    out = reduced_resolution_indices(batch_ref, batch_fus)
    assert isinstance(out, list) and len(out) == 2
    single = reduced_resolution_indices(ref, fus)
    for name, value in single.items():
        assert out[0][name] == pytest.approx(value, rel=1e-12)
    values = q2n(batch_ref, batch_fus)
    assert isinstance(values, np.ndarray) and values.shape == (2,)
    assert q2n(torch.from_numpy(ref).float(), torch.from_numpy(fus).float()) == pytest.approx(single["Q2n"], abs=1e-12)
    assert sam(torch.from_numpy(ref), torch.from_numpy(fus)) == pytest.approx(single["SAM"], rel=1e-12)
    assert set(single) == {"Q2n", "Q", "SAM", "ERGAS", "SCC"}


def test_crop_follows_indexes_evaluation():
    """dim_cut = 21: I(21:end-21) in 1-based indexing, 256 -> 215."""
    image = np.arange(256.0)[None, :, None] * np.ones((2, 256, 256))
    cut = crop_borders(image, 21)
    assert cut.shape == (2, 215, 215)
    assert cut[0, 0, 0] == 20 and cut[0, -1, 0] == 234
    assert crop_borders(image, 0) is image
    assert crop_borders(image, 1).shape == (2, 255, 255)


def test_crop_is_applied_to_all_indices(pair):
    ref, fus = pair
    out = reduced_resolution_indices(ref, fus, crop=5)
    assert out["SAM"] == pytest.approx(sam(ref[:, 4:-5, 4:-5], fus[:, 4:-5, 4:-5]), rel=1e-12)
    assert out["Q2n"] == pytest.approx(q2n(ref[:, 4:-5, 4:-5], fus[:, 4:-5, 4:-5]), rel=1e-12)


# ------------------------------------------------------------------------------------ extras
def test_psnr_and_ssim_extras():
    rng = np.random.default_rng(10)
    ref = rng.uniform(0, 1, (3, 32, 32))
    fus = ref + 0.01
    assert psnr(ref, fus, data_range=1.0) == pytest.approx(40.0, rel=1e-12)
    assert psnr(ref, fus, data_range=1.0, pooled=False) == pytest.approx(40.0, rel=1e-12)
    assert ssim(ref, ref, data_range=1.0) == pytest.approx(1.0, abs=1e-12)
    assert 0 < ssim(ref, ref + rng.normal(0, 0.3, ref.shape), data_range=1.0) < 0.9


# -------------------------------------------------------------------------------- bad input
def test_mismatched_shapes_and_bands(pair):
    ref, fus = pair
    with pytest.raises(ShapeError, match="band counts differ"):
        reduced_resolution_indices(ref, fus[:4])
    with pytest.raises(ShapeError, match="image sizes differ"):
        q2n(ref, fus[:, :32])
    with pytest.raises(ShapeError, match="batch sizes differ"):
        sam(np.stack([ref, ref]), np.stack([fus, fus, fus]))
    with pytest.raises(ShapeError, match="channels-first"):
        ergas(ref[0, 0], fus[0, 0, 0])
    with pytest.raises(ValueRangeError, match="ratio"):
        reduced_resolution_indices(ref, fus, ratio=0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_refused(pair, bad):
    ref, fus = pair
    fus = fus.copy()
    fus[3, 10, 10] = bad
    for index in (q2n, q_index, sam, ergas, scc, reduced_resolution_indices):
        with pytest.raises(ValueRangeError, match="NaN or inf"):
            index(ref, fus)


def test_wrong_dtypes_are_refused(pair):
    ref, fus = pair
    with pytest.raises(ValueRangeError, match="dtype"):
        q2n(ref.astype(complex), fus)
    with pytest.raises(ValueRangeError, match="dtype"):
        sam(ref > 100, fus > 100)
    with pytest.raises(ValueRangeError, match="dtype"):
        scc(torch.from_numpy(ref) > 100, torch.from_numpy(fus) > 100)


def test_normalised_floats_are_refused_without_a_max_value(pair):
    ref, fus = pair
    with pytest.raises(ValueRangeError, match="2047"):
        reduced_resolution_indices(ref / 2047, fus / 2047)
    with pytest.raises(ValueRangeError, match="fused"):
        q2n(ref, fus / 2047)
    # float path without cast is scale invariant: nothing to refuse
    q2n(ref / 2047, fus / 2047, uint16_cast=False)


def test_normalised_floats_are_rescaled_with_a_warning(pair):
    ref, fus = pair
    expected = reduced_resolution_indices(ref, fus)
    with pytest.warns(UserWarning, match="2047"):
        got = reduced_resolution_indices(ref / 2047, fus / 2047, sensor="WV3")
    for name in expected:
        assert got[name] == pytest.approx(expected[name], rel=1e-9)
    with pytest.warns(UserWarning, match="1023"):
        reduced_resolution_indices(ref / 2047, fus / 2047, max_value=1023)
    with pytest.warns(UserWarning, match="fused"):
        assert q2n(ref, fus / 2047, max_value=2047) == pytest.approx(expected["Q2n"], rel=1e-9)
    # DN data with max_value given: no warning, no change
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert reduced_resolution_indices(ref, fus, max_value=2047)["Q2n"] == expected["Q2n"]
    # integer images with small values are digital numbers, not normalised data
    small = np.random.default_rng(11).integers(0, 2, (1, 40, 40))
    q2n(small, small)


def test_tiny_and_empty_images():
    rng = np.random.default_rng(12)
    with pytest.raises(ShapeError, match="too small"):
        q2n(rng.uniform(0, 2047, (4, 10, 10)), rng.uniform(0, 2047, (4, 10, 10)))
    # 20 px: mirroring 12 px reaches a 32 block, as q2n.m does
    assert 0 < q2n(rng.uniform(2, 2047, (4, 20, 20)), rng.uniform(2, 2047, (4, 20, 20))) < 1
    with pytest.raises(ShapeError, match="at least 32x32"):
        q_index(rng.uniform(0, 2047, (4, 31, 40)), rng.uniform(0, 2047, (4, 31, 40)))
    with pytest.raises(ShapeError, match="empty"):
        sam(np.zeros((4, 0, 5)), np.zeros((4, 0, 5)))
    with pytest.raises(ShapeError, match="leaves nothing"):
        reduced_resolution_indices(rng.uniform(2, 2047, (4, 40, 40)), rng.uniform(2, 2047, (4, 40, 40)), crop=21)
    with pytest.raises(ShapeError, match="at least 32x32 after the crop"):
        reduced_resolution_indices(rng.uniform(2, 2047, (4, 40, 40)), rng.uniform(2, 2047, (4, 40, 40)), crop=5)
    with pytest.raises(ValueRangeError, match="crop"):
        crop_borders(np.zeros((1, 5, 5)), -1)
    with pytest.raises(ShapeError, match="block_size"):
        q2n(np.ones((1, 64, 64)) * 5, np.ones((1, 64, 64)) * 5, block_size=1)
