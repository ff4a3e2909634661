"""Fast hyperspectral indices equal the generic ones (and a hand value for SSIM)."""
from __future__ import annotations

import numpy as np
import pytest

from pansharpen import metrics
from pansharpen.errors import ShapeError, ValueRangeError
from pansharpen.metrics import _hypercomplex as hc
from pansharpen.metrics.hyperspectral import cayley_dickson_signs, hs_indices, q2n_fast, ssim_fast


def _pair(bands, size=48, seed=0, noise=40.0):
    rng = np.random.default_rng(seed)
    ref = rng.uniform(50, 2000, (bands, 1, 1)) * (1 + 0.3 * rng.standard_normal((1, size, size)))
    ref = np.clip(ref, 0, 2047)
    return ref, np.clip(ref + rng.normal(0, noise, ref.shape), 0, 2047)


# ------------------------------------------------------------------------------------ indices
@pytest.mark.parametrize("n", [1, 2, 4, 8, 16, 32])
def test_sign_table_is_the_reference_cayley_dickson_product(n):
    # the generic metrics code multiplies basis units with the onion_mult recursion itself
    t = hc.structure_tensor(n)
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    expected = np.zeros((n, n, n))
    expected[i ^ j, i, j] = cayley_dickson_signs(n)
    np.testing.assert_array_equal(t, expected)


def test_quaternion_units_square_to_minus_one():
    s = cayley_dickson_signs(4)
    assert s[0, 0] == 1 and all(s[k, k] == -1 for k in (1, 2, 3))


@pytest.mark.parametrize("bands", [3, 8, 13, 40])
def test_q2n_fast_equals_generic_q2n(bands):
    ref, fus = _pair(bands, size=70)  # 70 -> padded to 96 by mirroring; bands -> power of two
    assert q2n_fast(ref, fus) == pytest.approx(metrics.q2n(ref, fus), rel=1e-12, abs=1e-14)


def test_q2n_fast_batch_and_explicit_padding():
    ref, fus = _pair(5, size=32)
    batch = q2n_fast(np.stack([ref, ref]), np.stack([fus, ref]))
    assert batch.shape == (2,) and batch[1] == pytest.approx(1.0)
    # padding to 8 is what q2n.m does for 5 bands; asking for 16 gives another (still valid) value
    assert q2n_fast(ref, fus, bands_to=8) == q2n_fast(ref, fus)
    assert 0 < q2n_fast(ref, fus, bands_to=16) <= 1
    with pytest.raises(ValueRangeError, match="power of two"):
        q2n_fast(ref, fus, bands_to=12)
    with pytest.raises(ValueRangeError, match="power of two"):
        q2n_fast(ref, fus, bands_to=4)


def test_ssim_fast_equals_generic_and_hand_value():
    ref, fus = _pair(7, size=40)
    assert ssim_fast(ref, fus, 2047) == pytest.approx(metrics.ssim(ref, fus, 2047), rel=1e-12)
    # constant images: SSIM = (2 mx my + C1) / (mx^2 + my^2 + C1) (the contrast term is C2/C2)
    x, y = np.full((1, 16, 16), 100.0), np.full((1, 16, 16), 120.0)
    c1 = (0.01 * 255) ** 2
    assert ssim_fast(x, y, 255) == pytest.approx((2 * 100 * 120 + c1) / (100**2 + 120**2 + c1), rel=1e-12)


def test_hs_indices_agree_with_each_index():
    ref, fus = _pair(20, size=64)
    got = hs_indices(ref, fus, ratio=4, data_range=2047)
    assert got["SAM"] == pytest.approx(metrics.sam(ref, fus), rel=1e-12)
    assert got["ERGAS"] == pytest.approx(metrics.ergas(ref, fus, 4), rel=1e-12)
    assert got["PSNR"] == pytest.approx(metrics.psnr(ref, fus, 2047), rel=1e-12)
    assert got["SSIM"] == pytest.approx(metrics.ssim(ref, fus, 2047), rel=1e-12)
    assert got["Q2n"] == pytest.approx(metrics.q2n(ref, fus), rel=1e-12)


def test_hs_indices_identical_images_and_batches():
    ref, _ = _pair(6, size=32)
    got = hs_indices(ref, ref)
    assert got["SAM"] == 0 and got["ERGAS"] == 0 and got["PSNR"] == np.inf
    assert got["SSIM"] == pytest.approx(1.0) and got["Q2n"] == pytest.approx(1.0)
    flat = np.broadcast_to(ref[:, :1, :1], ref.shape)  # constant bands: MSE_b / mu_b^2 = 0.1^2 exactly
    rows = hs_indices(np.stack([ref, flat]), np.stack([ref, flat * 0.9]))
    assert len(rows) == 2 and rows[1]["ERGAS"] == pytest.approx(25 * 0.1, rel=1e-9)  # (100/4) * 10 %


def test_hs_indices_bad_input():
    ref, fus = _pair(6, size=32)
    with pytest.raises(ShapeError, match="band counts differ"):
        hs_indices(ref, fus[:5])
    with pytest.raises(ShapeError):
        hs_indices(ref[:, :8, :8], fus[:, :8, :8])
    bad = fus.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueRangeError, match="NaN"):
        hs_indices(ref, bad)
    with pytest.raises(ValueRangeError, match="normalised"):
        hs_indices(ref / 2047, fus / 2047)
    with pytest.warns(UserWarning):
        assert hs_indices(ref / 2047, fus / 2047, max_value=2047)["SAM"] > 0
