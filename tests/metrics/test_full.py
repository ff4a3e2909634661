"""Full-resolution indices: brute-force block loops, identities, invariances, bad input."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy import ndimage

from pansharpen.errors import SensorError, ShapeError, ValueRangeError
from pansharpen.metrics.full import d_lambda, d_lambda_k, d_s, full_resolution_indices, hqnr, qnr
from pansharpen.metrics.reduced import q2n
from pansharpen.protocol.interp import interp23tap
from pansharpen.protocol.mtf import mtf_filter
from pansharpen.protocol.resize import imresize
from pansharpen.protocol.sensors import get_sensor

KEYS = {"D_lambda", "D_s", "QNR", "D_lambda_K", "HQNR"}


def smooth(rng, shape, sigma=3.0):
    x = ndimage.gaussian_filter(rng.normal(size=shape), sigma=(0,) * (len(shape) - 2) + (sigma, sigma))
    return (x - x.min()) / (x.max() - x.min())


@pytest.fixture(scope="module")
def scene():
    """A 4-band 64x64 scene: PAN, MS at 1/4, its interp23tap expansion and a 'fused' image."""
    rng = np.random.default_rng(0)
    pan = np.round(100 + 1500 * smooth(rng, (1, 64, 64)))
    gains = np.array([0.7, 0.9, 1.0, 1.2])[:, None, None]
    ms = np.round(imresize(pan * gains + rng.normal(0, 20, (4, 64, 64)), 0.25))
    ms_exp = interp23tap(ms, 4)
    fused = np.round(np.clip(ms_exp + 0.5 * (pan - imresize(imresize(pan, 0.25), 4.0)), 0, 2047))
    return fused, ms, ms_exp, pan


def uiqi(x, y):
    mx, my = x.mean(), y.mean()
    c = np.cov(x.ravel(), y.ravel())
    return 4 * c[0, 1] * mx * my / ((c[0, 0] + c[1, 1]) * (mx**2 + my**2))


def block_mean_q(x, y, s=32):
    """Independent loop over distinct s x s blocks (blockproc)."""
    return np.mean([uiqi(x[i : i + s, j : j + s], y[i : i + s, j : j + s]) for i in range(0, x.shape[0], s) for j in range(0, x.shape[1], s)])


# ------------------------------------------------------------------------ brute force checks
def test_d_lambda_matches_block_loop(scene):
    fused, _, ms_exp, _ = scene
    c = fused.shape[0]
    diffs = [
        abs(block_mean_q(fused[i], fused[j]) - block_mean_q(ms_exp[i], ms_exp[j])) for i in range(c) for j in range(i + 1, c)
    ]
    assert d_lambda(fused, ms_exp) == pytest.approx(np.mean(diffs), rel=1e-10)
    p2 = np.mean(np.array(diffs) ** 2) ** 0.5
    assert d_lambda(fused, ms_exp, p=2) == pytest.approx(p2, rel=1e-10)
    assert d_lambda(fused, ms_exp) > 1e-4


def test_d_s_matches_block_loop(scene):
    fused, _, ms_exp, pan = scene
    pan_tilde = interp23tap(imresize(pan, 0.25), 4)  # P~ of D_s.m
    diffs = [abs(block_mean_q(fused[b], pan[0]) - block_mean_q(ms_exp[b], pan_tilde[0])) for b in range(4)]
    assert d_s(fused, ms_exp, pan) == pytest.approx(np.mean(diffs), rel=1e-10)
    assert d_s(fused, ms_exp, pan[0]) == pytest.approx(np.mean(diffs), rel=1e-10)  # (H, W) pan
    assert d_s(fused, ms_exp, pan, block_size=16) != pytest.approx(np.mean(diffs), rel=1e-6)


def test_d_lambda_k_is_q2n_of_mtf_filtered_fused_without_decimation(scene):
    fused, _, ms_exp, _ = scene
    filtered = mtf_filter(fused, get_sensor("QB"), 4)
    expected = 1 - q2n(ms_exp, filtered)
    assert d_lambda_k(fused, ms_exp, "QB") == pytest.approx(expected, abs=1e-14)
    # MSexp is the Q2n reference (its block statistics normalise both); the order matters
    assert expected != pytest.approx(1 - q2n(filtered, ms_exp), abs=1e-6)
    # one gain per band or a sensor object give the same filter
    assert d_lambda_k(fused, ms_exp, get_sensor("QB"), max_value=2047) == pytest.approx(expected, abs=1e-14)
    assert d_lambda_k(fused, ms_exp, [0.34, 0.32, 0.30, 0.22]) == pytest.approx(expected, abs=1e-14)


def test_d_lambda_k_matches_sewar_q2n(scene):
    sewar_full_ref = pytest.importorskip("sewar.full_ref")
    fused, _, ms_exp, _ = scene
    filtered = mtf_filter(fused, get_sensor("QB"), 4)
    cast = lambda x: np.clip(np.floor(x + 0.5), 0, 65535).transpose(1, 2, 0)  # noqa: E731  MATLAB uint16
    expected = 1 - sewar_full_ref.q2n(cast(ms_exp), cast(filtered))
    assert d_lambda_k(fused, ms_exp, "QB") == pytest.approx(expected, abs=1e-12)


# ------------------------------------------------------------------------------- identities
def test_identities(scene):
    fused, ms, ms_exp, pan = scene
    assert d_lambda(ms_exp, ms_exp) == 0.0
    out = full_resolution_indices(fused, ms, pan, "QB")
    assert set(out) == KEYS
    assert out["QNR"] == pytest.approx((1 - out["D_lambda"]) * (1 - out["D_s"]), rel=1e-15)
    assert out["HQNR"] == pytest.approx((1 - out["D_lambda_K"]) * (1 - out["D_s"]), rel=1e-15)
    assert out["D_lambda"] == pytest.approx(d_lambda(fused, ms_exp), rel=1e-12)
    assert out["D_s"] == pytest.approx(d_s(fused, ms_exp, pan), rel=1e-12)
    assert out["D_lambda_K"] == pytest.approx(d_lambda_k(fused, ms_exp, "QB"), rel=1e-12)
    assert qnr(fused, ms_exp, pan) == pytest.approx(out["QNR"], rel=1e-12)
    assert hqnr(fused, ms_exp, pan, "QB") == pytest.approx(out["HQNR"], rel=1e-12)
    assert 0 < out["HQNR"] < 1 and 0 < out["D_s"] < 1 and 0 < out["D_lambda_K"] < 1


def test_given_ms_exp_is_used(scene):
    fused, ms, ms_exp, pan = scene
    other = ms_exp + np.random.default_rng(1).normal(0, 30, ms_exp.shape)
    a = full_resolution_indices(fused, ms, pan, "QB", ms_exp=other)
    assert a["D_s"] == pytest.approx(d_s(fused, other, pan), rel=1e-12)
    assert a["D_s"] != pytest.approx(full_resolution_indices(fused, ms, pan, "QB")["D_s"], rel=1e-6)
    assert full_resolution_indices(fused, None, pan, "QB", ms_exp=other) == a


def test_uiqi_based_distortions_are_scale_invariant(scene):
    fused, _, ms_exp, pan = scene
    assert d_lambda(fused * 3.5, ms_exp * 0.25) == pytest.approx(d_lambda(fused, ms_exp), rel=1e-10)
    assert d_s(fused * 3.5, ms_exp * 3.5, pan * 3.5) == pytest.approx(d_s(fused, ms_exp, pan), rel=1e-10)


def test_single_band_has_no_d_lambda(scene):
    fused, ms, _, pan = scene
    out = full_resolution_indices(fused[:1], ms[:1], pan, [0.3])
    assert np.isnan(out["D_lambda"]) and np.isnan(out["QNR"])
    assert 0 < out["HQNR"] < 1
    with pytest.raises(ShapeError, match="at least 2 bands"):
        d_lambda(fused[:1], fused[:1])


def test_flat_blocks_give_nan_like_the_reference():
    """uqi.m has no special case: a block flat in both images is 0/0."""
    flat = np.full((2, 32, 32), 100.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning leaks either
        assert np.isnan(d_lambda(flat, flat))


def test_batches_and_torch(scene):
    fused, ms, ms_exp, pan = scene
    single = full_resolution_indices(fused, ms, pan, "QB")
    rows = full_resolution_indices(
        np.stack([fused, ms_exp]), np.stack([ms, ms]), np.stack([pan, pan]), "QB"
    )
    assert isinstance(rows, list) and len(rows) == 2
    for key in KEYS:
        assert rows[0][key] == pytest.approx(single[key], rel=1e-12)
    assert rows[1]["D_lambda"] == 0.0
    values = d_s(np.stack([fused, ms_exp]), np.stack([ms_exp, ms_exp]), np.stack([pan, pan]))
    assert values.shape == (2,)
    t = full_resolution_indices(torch.from_numpy(fused), torch.from_numpy(ms), torch.from_numpy(pan), "QB")
    for key in KEYS:
        assert t[key] == pytest.approx(single[key], rel=1e-12)


# -------------------------------------------------------------------------------- bad input
def test_sizes_not_multiple_of_block(scene):
    fused, ms, ms_exp, pan = scene
    f, e, p = fused[:, :48, :56], ms_exp[:, :48, :56], pan[:, :48, :56]
    for call in (lambda: d_lambda(f, e), lambda: d_s(f, e, p), lambda: d_lambda_k(f, e, "QB")):
        with pytest.raises(ShapeError, match="crop_to_blocks=True"):
            call()
    with pytest.raises(ShapeError, match="multiples of the block size"):
        full_resolution_indices(f, ms[:, :12, :14], p, "QB")
    # cropped: the top-left 32x32, derived images computed on the whole image first
    assert d_lambda(f, e, crop_to_blocks=True) == pytest.approx(d_lambda(f[:, :32, :32], e[:, :32, :32]), rel=1e-12)
    out = full_resolution_indices(f, ms[:, :12, :14], p, "QB", crop_to_blocks=True)
    assert out["cropped_to"] == [32, 32]
    with pytest.raises(ShapeError, match="no 32x32 block"):
        d_lambda(fused[:, :16, :40], ms_exp[:, :16, :40], crop_to_blocks=True)


def test_sizes_that_do_not_match_the_ratio(scene):
    fused, ms, ms_exp, pan = scene
    with pytest.raises(ShapeError, match="ratio 4"):
        full_resolution_indices(fused, ms[:, :15], pan, "QB")
    with pytest.raises(ShapeError, match="ratio 2"):
        full_resolution_indices(fused, ms, pan, "QB", ratio=2)
    with pytest.raises(ShapeError, match="PAN grid"):
        full_resolution_indices(fused, ms, pan[:, :32], "QB")
    with pytest.raises(ShapeError, match="one band"):
        d_s(fused, ms_exp, np.concatenate([pan, pan]))
    with pytest.raises(ShapeError, match="band"):
        full_resolution_indices(fused, ms[:3], pan, "QB")
    with pytest.raises(ShapeError, match="band counts differ"):
        d_lambda(fused, ms_exp[:3])
    with pytest.raises(SensorError, match="4"):
        d_lambda_k(fused, ms_exp, "WV3")  # 8-band sensor, 4-band data
    with pytest.raises(ShapeError, match="ms or ms_exp"):
        full_resolution_indices(fused, None, pan, "QB")


def test_non_finite_values(scene):
    fused, ms, ms_exp, pan = scene
    bad = pan.copy()
    bad[0, 5, 5] = np.nan
    with pytest.raises(ValueRangeError, match="pan contains NaN"):
        full_resolution_indices(fused, ms, bad, "QB")
    bad = ms.copy()
    bad[1, 2, 2] = np.inf
    with pytest.raises(ValueRangeError, match="ms contains NaN"):
        full_resolution_indices(fused, bad, pan, "QB")


def test_normalised_floats(scene):
    fused, ms, ms_exp, pan = scene
    expected = full_resolution_indices(fused, ms, pan, "QB")
    with pytest.warns(UserWarning, match="2047"):
        got = full_resolution_indices(fused / 2047, ms / 2047, pan / 2047, "QB")
    for key in KEYS:
        assert got[key] == pytest.approx(expected[key], rel=1e-9, abs=1e-12)
    with pytest.raises(ValueRangeError, match="uint16"):
        d_lambda_k(fused / 2047, ms_exp / 2047, [0.34, 0.32, 0.30, 0.22])
    with pytest.warns(UserWarning, match="fused"):
        d_lambda_k(fused / 2047, ms_exp, [0.34, 0.32, 0.30, 0.22], max_value=2047)
