"""Component-substitution methods checked against their defining equations.

Reference quantities are recomputed here from the papers' formulas with independent code paths
(``np.cov``, ``np.linalg.lstsq``, ``scipy.optimize.nnls``, the protocol's ``interp23tap`` and
``imresize``), never from stored outputs of the methods.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import scipy.optimize
import torch

from pansharpen.classical import get_method
from pansharpen.classical.component_substitution import (
    bdsd_apply_coefficients,
    bdsd_block_coefficients,
    nonnegative_least_squares,
)
from pansharpen.protocol.interp import interp23tap
from pansharpen.protocol.resize import imresize


def _cov(a, b):
    return np.cov(a.ravel(), b.ravel())[0, 1]


def _equalize_to(pan, target):
    return (pan - pan.mean()) * target.std(ddof=1) / pan.std(ddof=1) + target.mean()


def _cs_reference(ms, pan, weights, bias, ratio=4):
    """F_k = MS~_k + g_k (P' - I), I = w.MS~ + b, g_k = cov(MS~_k, I)/var(I) (Vivone 2015, Eq. 3-4)."""
    lms = interp23tap(ms, ratio)
    intensity = np.tensordot(weights, lms, axes=1) + bias
    gains = np.array([_cov(band, intensity) / intensity.var(ddof=1) for band in lms])
    return lms + gains[:, None, None] * (_equalize_to(pan[0], intensity) - intensity)[None]


def test_gs_injection_model(pair):
    ms, pan, _ = pair
    fused = get_method("gs")(ms, pan, "QB", 4)
    expected = _cs_reference(ms, pan, np.full(4, 0.25), 0.0)
    np.testing.assert_allclose(fused, expected, rtol=1e-10, atol=1e-8)


def test_gs_pan_equal_to_intensity_returns_upsampled_ms(pair):
    ms, _, _ = pair
    lms = interp23tap(ms, 4)
    pan = lms.mean(axis=0)[None]
    np.testing.assert_allclose(get_method("gs")(ms, pan, "QB", 4), lms, atol=1e-9)


def test_gsa_weights_are_the_reduced_scale_regression(pair):
    ms, pan, _ = pair
    params = get_method("gsa").estimate(ms, pan, "QB", 4)
    pan_lr = imresize(pan, 0.25)[0]
    design = np.column_stack([ms.reshape(4, -1).T, np.ones(pan_lr.size)])
    coef = np.linalg.lstsq(design, pan_lr.ravel(), rcond=None)[0]
    np.testing.assert_allclose(params["weights"], coef[:-1], rtol=1e-8)
    np.testing.assert_allclose(params["bias"], coef[-1], rtol=1e-6, atol=1e-6)
    fused = get_method("gsa")(ms, pan, "QB", 4)
    np.testing.assert_allclose(fused, _cs_reference(ms, pan, coef[:-1], coef[-1]), rtol=1e-9, atol=1e-7)


@pytest.mark.parametrize("name", ["gs", "gsa", "c-gsa", "bt-h"])
def test_cs_invariant_to_pan_gain_and_offset(pair, name):
    """The PAN is histogram-matched to the intensity, so a*P + b gives the same product."""
    ms, pan, _ = pair
    a = get_method(name)(ms, pan, "QB", 4)
    b = get_method(name)(ms, 2.5 * pan + 300.0, "QB", 4)
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-7)


def test_bth_haze_corrected_brovey_model(pair):
    ms, pan, _ = pair
    method = get_method("bt-h")
    params = method.estimate(ms, pan, "QB", 4)
    np.testing.assert_array_equal(params["haze"], ms.reshape(4, -1).min(axis=1))
    lms = interp23tap(ms, 4)
    intensity = np.tensordot(params["weights"], lms, axes=1) + params["bias"]
    h_i = min(params["bias"] + params["weights"] @ params["haze"], intensity.min() - 0.1 * (intensity.mean() - intensity.min()))
    assert params["intensity_haze"] == pytest.approx(h_i, rel=1e-12)
    pan_eq = _equalize_to(pan[0], intensity)
    haze = params["haze"][:, None, None]
    valid = np.abs(intensity - h_i) > 1e-6  # the darkest pixel itself is a 0/0 the method guards
    expected = haze + (lms - haze) * ((pan_eq - h_i) / np.where(valid, intensity - h_i, 1.0))[None]
    fused = method(ms, pan, "QB", 4)
    assert np.isfinite(fused).all()
    np.testing.assert_allclose(fused[:, valid], expected[:, valid], rtol=1e-9)


def test_cgsa_with_one_cluster_is_gsa(pair):
    ms, pan, _ = pair
    np.testing.assert_allclose(
        get_method("c-gsa")(ms, pan, "QB", 4, clusters=1), get_method("gsa")(ms, pan, "QB", 4), rtol=1e-9, atol=1e-8
    )


def test_cgsa_gains_are_computed_per_segment(make_pair):
    # two spectrally distinct halves with different PAN/MS relations need different gains
    ms, pan, _ = make_pair(seed=3)
    ms = ms.copy()
    ms[:, :, 12:] *= 3.0
    params = get_method("c-gsa").estimate(ms, pan, "QB", 4, clusters=2)
    assert params["segment_gain"].shape == (2, 4)
    assert not np.allclose(params["segment_gain"][0], params["segment_gain"][1])


def test_bdsd_block_least_squares_recovers_known_coefficients():
    rng = np.random.default_rng(7)
    c, h, block = 3, 16, 8
    features = rng.normal(size=(c + 1, h, h))
    gamma = rng.normal(size=(2, 2, c + 1, c))  # one (F, C) matrix per 8x8 block
    target = np.zeros((c, h, h))
    for i in range(2):
        for j in range(2):
            f = features[:, i * 8 : (i + 1) * 8, j * 8 : (j + 1) * 8].reshape(c + 1, -1)
            target[:, i * 8 : (i + 1) * 8, j * 8 : (j + 1) * 8] = (gamma[i, j].T @ f).reshape(c, 8, 8)
    np.testing.assert_allclose(bdsd_block_coefficients(features, target, block), gamma, rtol=1e-9, atol=1e-10)


def test_bdsd_apply_uses_each_block_coefficients_and_offset():
    rng = np.random.default_rng(8)
    c = 2
    lms = rng.uniform(100, 200, size=(c, 12, 12))
    pan = rng.uniform(100, 200, size=(12, 12))
    gamma = rng.normal(size=(3, 3, c + 1, c)) * 0.1
    block, offset = 8, (4, 0)
    out = bdsd_apply_coefficients(lms, pan, gamma, block, offset)
    for r in range(12):
        for q in range(12):
            g = gamma[(r + offset[0]) // block, (q + offset[1]) // block]
            feat = np.append(lms[:, r, q], pan[r, q])
            np.testing.assert_allclose(out[:, r, q], lms[:, r, q] + feat @ g, rtol=1e-12)


def test_bdsd_apply_equals_the_block_products_bitwise():
    """The gathered-buffer form equals ``MS~ + gamma^T [MS~, P]`` block by block as written (a concatenated
    feature image, one product per block), bit for bit, with partial blocks at both ends and past the grid."""
    rng = np.random.default_rng(9)
    c, block, offset = 3, 8, (5, 13)
    lms = rng.uniform(100, 2000, size=(c, 29, 23))
    pan = rng.uniform(100, 2000, size=(29, 23))
    gamma = rng.normal(size=(4, 4, c + 1, c)) * 0.1  # the tile reaches past block 3 along the columns
    out = bdsd_apply_coefficients(lms, pan, gamma, block, offset)
    features = np.concatenate([lms, pan[None]], axis=0)
    expected = lms.copy()
    rows = np.clip((np.arange(29) + offset[0]) // block, 0, 3)
    cols = np.clip((np.arange(23) + offset[1]) // block, 0, 3)
    for bi in np.unique(rows):
        rs = slice(np.flatnonzero(rows == bi)[0], np.flatnonzero(rows == bi)[-1] + 1)
        for bj in np.unique(cols):
            cs = slice(np.flatnonzero(cols == bj)[0], np.flatnonzero(cols == bj)[-1] + 1)
            expected[:, rs, cs] += np.tensordot(gamma[bi, bj].T, features[:, rs, cs], axes=1)
    assert np.array_equal(out, expected)


def test_bdsd_fused_equals_model_with_estimated_blocks(pair):
    ms, pan, _ = pair  # MS 24 px, PAN 96 px, blocks of 32 PAN px -> 3 x 3 blocks
    method = get_method("bdsd")
    params = method.estimate(ms, pan, "QB", 4, block=32)
    assert params["gamma"].shape == (3, 3, 5, 4)
    fused = method(ms, pan, "QB", 4, block=32)
    lms = interp23tap(ms, 4)
    feats = np.concatenate([lms, pan], axis=0)
    r, q = 40, 70  # block (1, 2)
    np.testing.assert_allclose(fused[:, r, q], lms[:, r, q] + feats[:, r, q] @ params["gamma"][1, 2], rtol=1e-10)


def test_nonnegative_least_squares_matches_scipy_and_recovers_nonnegative_truth():
    rng = np.random.default_rng(9)
    design = rng.normal(size=(500, 5))
    truth = np.array([0.7, 0.0, 1.3, 0.2, 0.0])
    np.testing.assert_allclose(nonnegative_least_squares(design, design @ truth), truth, atol=1e-10)
    target = design @ np.array([0.5, -1.0, 0.3, 0.0, 2.0]) + rng.normal(0, 0.1, 500)
    np.testing.assert_allclose(nonnegative_least_squares(design, target), scipy.optimize.nnls(design, target)[0], atol=1e-8)



def test_nonnegative_least_squares_of_several_targets_is_each_target_on_the_tall_system():
    """One R factor of [design | targets] serves every target: each column equals scipy's NNLS on the
    whole tall system (the plain computation), also with a scene-like level and scale."""
    rng = np.random.default_rng(10)
    design = rng.random((20_000, 8)) * 900 + 100
    targets = design @ rng.normal(0.1, 0.3, size=(8, 3)) + rng.normal(0, 5, size=(20_000, 3))
    got = nonnegative_least_squares(design, targets)
    assert got.shape == (8, 3) and np.all(got >= 0) and np.any(got == 0)
    for t in range(3):
        want = scipy.optimize.nnls(design, targets[:, t], maxiter=400)[0]
        np.testing.assert_allclose(got[:, t], want, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(nonnegative_least_squares(design, targets[:, 1]), got[:, 1], rtol=1e-12, atol=1e-15)
    few = nonnegative_least_squares(design[:3], targets[:3])  # fewer rows than unknowns: R padded with zeros
    assert few.shape == (8, 3) and np.all(few >= 0)


def test_lawson_hanson_reaches_scipys_nnls_minimum_on_random_and_degenerate_systems():
    """Our active-set solver against scipy's NNLS (the reference implementation): the same minimum
    of ||a x - b|| over x >= 0, on wide and tall systems over six decades of scale, with collinear
    columns, a zero column and targets that no non-negative combination approaches."""
    from pansharpen.classical.component_substitution import lawson_hanson

    rng = np.random.default_rng(21)
    for trial in range(600):
        m, n = int(rng.integers(1, 30)), int(rng.integers(1, 12))
        a = rng.normal(size=(m, n)) * 10 ** rng.uniform(-3, 3)
        if trial % 5 == 0 and n > 1:
            a[:, 0] = a[:, 1]
        if trial % 7 == 0:
            a[:, -1] = 0.0
        b = rng.normal(size=m) * 10 ** rng.uniform(-3, 3)
        if trial % 11 == 0:
            b = -np.abs(a).sum(axis=1) - 1.0  # below every non-negative combination of a >= 0 rows
        got = lawson_hanson(a, b)
        want = scipy.optimize.nnls(a, b, maxiter=50 * n)[0]
        assert got.shape == (n,) and np.all(got >= 0)
        got_r, want_r = np.linalg.norm(a @ got - b), np.linalg.norm(a @ want - b)
        assert got_r <= want_r + 1e-9 * max(want_r, np.linalg.norm(b)), (trial, got, want)


def test_the_triangular_solve_is_scipys():
    from pansharpen.classical._common import solve_right_upper

    rng = np.random.default_rng(22)
    a = rng.uniform(0, 2000, (5000, 9))
    r = np.linalg.cholesky(a.T @ a).T
    want = scipy.linalg.solve_triangular(r, a.T, trans="T").T
    np.testing.assert_allclose(solve_right_upper(a, r), want, rtol=1e-12, atol=1e-14 * np.abs(want).max())

def test_bdsd_pc_coefficients_are_nonnegative_and_define_the_product(pair):
    ms, pan, _ = pair
    method = get_method("bdsd-pc")
    params = method.estimate(ms, pan, "QB", 4)
    coef = params["coef"]
    assert coef.shape == (5, 4) and np.all(coef >= 0)
    lms = interp23tap(ms, 4)
    expected = lms + coef[0][:, None, None] * pan - np.tensordot(coef[1:].T, lms, axes=1)
    np.testing.assert_allclose(method(ms, pan, "QB", 4), expected, rtol=1e-10)


def test_pracs_with_zero_beta_returns_upsampled_ms(pair):
    ms, pan, _ = pair
    np.testing.assert_allclose(get_method("pracs")(ms, pan, "QB", 4, beta=0.0), interp23tap(ms, 4), atol=1e-9)


def test_pracs_gains_follow_choi_equation(pair):
    ms, pan, _ = pair
    params = get_method("pracs").estimate(ms, pan, "QB", 4, beta=0.95)
    lms = interp23tap(ms, 4)
    std = lms.reshape(4, -1).std(axis=1, ddof=1)
    # g_k = beta * corr(I'_k, MS~_k) * std(MS~_k) / mean_i std(MS~_i): bounded by beta * std_k / mean std
    assert np.all(np.abs(params["gain"]) <= 0.95 * std / std.mean() + 1e-12)
    assert np.all(params["gain"] > 0)


def test_brovey_pseudo_pan_of_output_is_the_pan(pair):
    ms, pan, _ = pair
    weights = np.array([0.1, 0.2, 0.3, 0.4])
    fused = get_method("brovey")(ms, pan, None, 4, weights=weights)
    np.testing.assert_allclose(np.tensordot(weights, fused, axes=1), pan[0], rtol=1e-10)
    up = imresize(ms, 4, method="bicubic")
    ratio = fused / up
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[:1], ratio.shape), rtol=1e-9)


def test_brovey_zero_pseudo_pan_gives_zero():
    ms = np.zeros((3, 8, 8))
    pan = np.full((1, 32, 32), 500.0)
    assert np.all(get_method("brovey")(ms, pan, None, 4) == 0)


@pytest.mark.parametrize("bands,ratio", [(4, 2), (8, 4), (8, 2), (4, 8), (3, 4)])
@pytest.mark.parametrize("name", ["gs", "gsa", "bt-h", "bdsd-pc", "pracs", "c-gsa", "brovey"])
def test_band_counts_and_ratios(make_pair, name, bands, ratio):
    size = 16 if ratio < 8 else 8
    ms, pan, _ = make_pair(bands=bands, size=size, ratio=ratio, seed=bands + ratio)
    fused = get_method(name)(ms, pan, None, ratio)
    assert fused.shape == (bands, ratio * size, ratio * size)
    assert np.isfinite(fused).all()
    if name == "gs":
        np.testing.assert_allclose(fused, _cs_reference(ms, pan, np.full(bands, 1 / bands), 0.0, ratio), rtol=1e-9, atol=1e-7)


def test_bdsd_ratio_2_and_8_bands(make_pair):
    ms, pan, _ = make_pair(bands=8, size=32, ratio=2, seed=4)
    fused = get_method("bdsd")(ms, pan, None, 2, block=32)
    assert fused.shape == (8, 64, 64) and np.isfinite(fused).all()


def test_torch_in_torch_out(pair):
    ms, pan, _ = pair
    out = get_method("gsa")(torch.from_numpy(ms).float(), torch.from_numpy(pan).float(), "QB", 4)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == (4, 96, 96)
    np.testing.assert_allclose(out.numpy(), get_method("gsa")(ms, pan, "QB", 4), rtol=1e-4)


def test_brovey_matches_gdal_pansharpened_vrt(tmp_path, pair):
    """GDAL's VRTPansharpenedDataset (WeightedBrovey, cubic) is an independent implementation."""
    rasterio = pytest.importorskip("rasterio")
    from affine import Affine

    spec = importlib.util.spec_from_file_location("bench_classical", Path(__file__).parents[2] / "bench" / "bench_classical.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    ms, pan, _ = pair
    ms_dn, pan_dn = np.round(ms).astype(np.uint16), np.round(pan).astype(np.uint16)
    common = {"driver": "GTiff", "crs": "EPSG:32613", "dtype": "uint16"}
    pan_path, ms_path = tmp_path / "pan.tif", tmp_path / "ms.tif"
    with rasterio.open(pan_path, "w", width=96, height=96, count=1, transform=Affine(0.5, 0, 5e5, 0, -0.5, 4.4e6), **common) as dst:
        dst.write(pan_dn)
    with rasterio.open(ms_path, "w", width=24, height=24, count=4, transform=Affine(2.0, 0, 5e5, 0, -2.0, 4.4e6), **common) as dst:
        dst.write(ms_dn)
    _, gdal_out = bench.time_gdal(pan_path, ms_path, 4, 1, tmp_path)
    ours = get_method("brovey")(ms_dn, pan_dn, None, 4, weights="equal")  # GDAL's default weights
    inner = (slice(None), slice(8, -8), slice(8, -8))  # borders: GDAL clamps, MATLAB-style resize mirrors
    diff = np.abs(np.round(ours) - gdal_out.astype(np.float64))[inner]
    assert diff.mean() < 0.5 and diff.max() <= 3


def test_brovey_fitted_weights_are_the_nonnegative_regression(pair):
    ms, pan, _ = pair
    params = get_method("brovey").estimate(ms, pan, None, 4, weights="fit")
    pan_lr = imresize(pan, 0.25)[0]
    expected = scipy.optimize.nnls(ms.reshape(4, -1).T, pan_lr.ravel())[0]
    np.testing.assert_allclose(params["weights"], expected, rtol=1e-8, atol=1e-10)
    with pytest.raises(Exception, match="'fit'"):
        get_method("brovey").estimate(ms, pan, None, 4, weights="mean")


def test_lms_strips_and_rows_are_bitwise_the_whole_upsampled_ms():
    from pansharpen.classical._common import make_inputs, map_strips

    rng = np.random.default_rng(3)
    ms, pan = rng.uniform(0, 2047, (4, 37, 29)), rng.uniform(0, 2047, (148, 116))
    x = make_inputs(ms, pan, "QB", 4)
    got = np.concatenate(list(map_strips(x, lambda r0, r1, s: s.copy(), rows=8)), axis=1)  # 5 strips, last shorter
    rows = x.lms_rows(37, 101)
    assert "lms" not in x.__dict__  # neither built the whole MS~
    whole = make_inputs(ms, pan, "QB", 4).lms
    np.testing.assert_array_equal(got, whole)
    np.testing.assert_array_equal(rows, whole[:, 37:101])


@pytest.mark.parametrize("minimum", [False, True])
def test_streamed_cs_statistics_equal_whole_array_ones(minimum):
    """GS/GSA/BT-H statistics from the low-resolution spectra (and BT-H's intensity minimum from the
    upsampled intensity) equal the whole-array formulas (float64 rounding)."""
    from pansharpen.classical import component_substitution as cs
    from pansharpen.classical._common import covariance, make_inputs

    rng = np.random.default_rng(4)
    ms = rng.uniform(0, 2047, (4, 150, 70))
    pan = rng.uniform(0, 2047, (600, 280))
    x = make_inputs(ms, pan, "QB", 4)  # 150 MS rows: five strips of 32
    weights, bias = np.array([0.3, 0.1, 0.4, 0.2]), 12.5
    got = cs._cs_params(x, weights, bias, minimum=minimum)
    lms = make_inputs(ms, pan, "QB", 4).lms
    intensity = np.tensordot(weights, lms, axes=1) + bias
    var_i = intensity.var(ddof=1)
    np.testing.assert_allclose(got["gain"], [covariance(lms[k], intensity) / var_i for k in range(4)], rtol=1e-12)
    np.testing.assert_allclose(got["intensity_mean"], intensity.mean(), rtol=1e-13)
    np.testing.assert_allclose(got["intensity_std"], np.sqrt(var_i), rtol=1e-12)
    if minimum:  # the minimum of up(w . MS) + b: the same image to float64 rounding
        assert got["intensity_min"] == pytest.approx(intensity.min(), rel=1e-13)
    else:
        assert "intensity_min" not in got
    assert "lms" not in x.__dict__  # the full-resolution MS~ was never built


def test_bt_h_haze_cap_equals_the_whole_intensity_one():
    from pansharpen.classical._common import make_inputs
    from pansharpen.classical._lowpass import HAZE_MARGIN

    rng = np.random.default_rng(7)
    ms, pan = rng.uniform(50, 2047, (4, 75, 33)), rng.uniform(50, 2047, (300, 132))
    params = get_method("bt-h").estimate(ms, pan, "QB", 4)
    intensity = np.tensordot(params["weights"], make_inputs(ms, pan, "QB", 4).lms, axes=1) + params["bias"]
    cap = intensity.min() - HAZE_MARGIN * (intensity.mean() - intensity.min())
    expected = min(float(params["bias"] + params["weights"] @ params["haze"]), cap)
    np.testing.assert_allclose(params["intensity_haze"], expected, rtol=1e-13)


def _pracs_whole_image(ms, pan, sensor, ratio, beta=0.95):
    """PRACS's estimate as it was computed on whole images before streaming (the reference)."""
    from pansharpen.classical._common import (
        band_mean,
        band_std,
        correlation,
        lstsq,
        make_inputs,
    )
    from pansharpen.classical.component_substitution import _pracs_matched_ms

    def down_up(image):
        return imresize(imresize(image, 1.0 / ratio), ratio)

    x = make_inputs(ms, pan, sensor, ratio)
    n, lms = x.nbands, x.lms
    std_k = band_std(lms)
    params = {"band_mean": band_mean(lms), "band_std_safe": np.where(std_k > 0, std_k, 1.0),
              "pan_mean": float(pan.mean()), "pan_std": float(pan.std(ddof=1))}
    matched = _pracs_matched_ms(lms, params)
    basis = np.concatenate([np.ones((1, *pan.shape)), matched]).reshape(n + 1, -1).T
    targets = np.concatenate([down_up(pan[None]).reshape(1, -1), down_up(matched).reshape(n, -1)], axis=0).T
    coefs = lstsq(basis, targets, "reference")
    alpha = coefs[:, 0]
    intensity = (basis @ alpha).reshape(pan.shape)
    cc = np.array([correlation(intensity, matched[k]) for k in range(n)])
    gamma = cc[None] * alpha[:, None] + (1 - cc[None]) * coefs[:, 1:]
    offset, inj, rho = np.zeros(n), np.zeros(n), np.zeros(n)
    for k in range(n):
        i_k = (basis @ gamma[:, k]).reshape(pan.shape)
        offset[k] = (cc[k] * pan + (1 - cc[k]) * matched[k]).mean() - i_k.mean()
        inj[k], rho[k] = correlation(i_k, lms[k]), correlation(intensity, lms[k])
    return dict(params, alpha=alpha, cc=cc, gamma=gamma, detail_offset=offset, gain=beta * inj * std_k / std_k.mean(), rho=rho)


@pytest.mark.parametrize("block, correlated", [(3, False), (16, False), (16, True)])
def test_streamed_pracs_estimate_equals_the_whole_image_one(monkeypatch, block, correlated):
    """One pass: the later statistics are quadratic forms of z = [P, M~, MS~]'s covariance matrix,
    also with eight strongly correlated bands (where such forms could lose digits)."""
    from pansharpen.classical import component_substitution as cs

    monkeypatch.setattr(cs, "PRACS_BLOCK", block)
    rng = np.random.default_rng(10)
    if correlated:  # a shared scene times band gains, plus a little band noise
        ms = rng.uniform(200, 1800, (1, 71, 23)) * rng.uniform(0.8, 1.2, (8, 1, 1)) + rng.normal(0, 15, (8, 71, 23))
        sensor, weights = "WV3", rng.uniform(0.05, 0.2, 8)
    else:  # odd sizes: 71 MS rows, three strips of 32, short last blocks
        ms, sensor, weights = rng.uniform(50, 2047, (4, 71, 23)), "QB", [0.3, 0.2, 0.3, 0.2]
    pan = np.tensordot(weights, imresize(ms, 4), axes=1) + rng.normal(0, 30, (284, 92))
    got = get_method("pracs").estimate(ms, pan, sensor, 4)
    want = _pracs_whole_image(ms, pan, sensor, 4)
    for key in ("band_mean", "band_std_safe", "pan_mean", "pan_std", "alpha", "cc", "gamma", "gain", "rho"):
        np.testing.assert_allclose(got[key], want[key], rtol=1e-11, atol=0, err_msg=key)
    # the offsets are ~0 (the regression has an intercept): compared in DN, relative to the PAN level
    np.testing.assert_allclose(got["detail_offset"], want["detail_offset"], rtol=0, atol=1e-12 * want["pan_mean"])


def test_pracs_apply_is_the_plain_band_expression(pair):
    from pansharpen.classical._common import make_inputs
    from pansharpen.classical.component_substitution import _pracs_apply, _pracs_matched_ms

    ms, pan, _ = pair
    pan = pan.reshape(pan.shape[-2:])
    x = make_inputs(ms, pan, "QB", 4)
    params = get_method("pracs").estimate(ms, pan, "QB", 4)
    matched = _pracs_matched_ms(x.lms, params)
    want = x.lms.copy()
    for k in range(x.nbands):  # Choi et al. 2011, Eq. 9-12, written out
        i_k = params["gamma"][0, k] + np.tensordot(params["gamma"][1:, k], matched, axes=1)
        detail = params["cc"][k] * pan + (1 - params["cc"][k]) * matched[k] - i_k - params["detail_offset"][k]
        want[k] += params["gain"][k] * (1 - np.abs(1 - params["rho"][k] * x.lms[k] / i_k)) * detail
    np.testing.assert_allclose(_pracs_apply(make_inputs(ms, pan, "QB", 4), params), want, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("strip", [1, 4, 13])
def test_down_up_rows_are_bitwise_the_whole_image_resizes(strip):
    from pansharpen.classical.component_substitution import down_up_reach, down_up_rows

    img = np.random.default_rng(11).uniform(0, 2047, (2, 44, 27))  # 44 = 4 x 11 rows
    whole = imresize(imresize(img, 0.25), 4)
    bands = [(a, min(a + strip, 44)) for a in range(0, 44, strip)]
    got = [down_up_rows(lambda a, b: img[:, a:b], 44, 4, r0, r1) for r0, r1 in bands]
    np.testing.assert_array_equal(np.concatenate(got, axis=1), whole)
    lo, hi = down_up_reach(44, 4, 20, 24)
    assert 0 < lo < 20 and 24 < hi < 44  # a band with its halo


def test_streamed_least_squares_equals_lstsq_on_the_whole_design():
    from pansharpen.classical._common import (
        SingularRegressionWarning,
        StreamedLeastSquares,
        lstsq,
    )

    rng = np.random.default_rng(12)
    design = np.concatenate([np.ones((1000, 1)), rng.normal(size=(1000, 4))], axis=1)
    target = design @ rng.normal(size=(5, 3)) + rng.normal(0, 0.1, (1000, 3))
    fit = StreamedLeastSquares()
    for a in (0, 3, 400, 997):  # the first block has fewer rows than columns
        b = {0: 3, 3: 400, 400: 997, 997: 1000}[a]
        fit.add(design[a:b], target[a:b])
    np.testing.assert_allclose(fit.solve("t"), lstsq(design, target, "t"), rtol=1e-12)
    collinear = np.concatenate([design, design[:, 1:2]], axis=1)  # rank 5 of 6: minimum norm, warned
    fit = StreamedLeastSquares()
    for a in range(0, 1000, 300):
        fit.add(collinear[a : a + 300], target[a : a + 300])
    with pytest.warns(SingularRegressionWarning):
        got = fit.solve("t")
    with pytest.warns(SingularRegressionWarning):
        np.testing.assert_allclose(got, lstsq(collinear, target, "t"), rtol=1e-10)


def test_bdsd_reduced_scale_filters_band_by_band_bitwise_as_the_stack():
    from pansharpen.classical._common import make_inputs
    from pansharpen.classical._lowpass import upsample_interp23tap
    from pansharpen.classical.component_substitution import bdsd_reduced_scale
    from pansharpen.protocol.mtf import mtf_filter

    rng = np.random.default_rng(14)
    ms, pan = rng.uniform(50, 2047, (8, 22, 18)), rng.uniform(50, 2047, (88, 72))
    x = make_inputs(ms, pan, "WV3", 4)
    whole = upsample_interp23tap(mtf_filter(ms[:, :20, :16], x.sensor, 4)[:, 2::4, 2::4], 4)
    np.testing.assert_array_equal(bdsd_reduced_scale(x)[1], whole)


def test_r_factor_gives_the_householder_r_up_to_row_signs():
    from pansharpen.classical._common import r_factor

    rng = np.random.default_rng(15)
    a = rng.normal(size=(500, 6)) @ np.diag([1, 10, 100, 1e3, 1e4, 1e5])  # cond ~1e5: CholeskyQR2
    want = np.linalg.qr(a, mode="r")
    got = r_factor(a)
    signs = np.sign(np.diag(got) * np.diag(want))
    np.testing.assert_allclose(signs[:, None] * got, want, rtol=1e-11, atol=1e-12 * np.abs(want).max())
    ill = a.copy()
    ill[:, 5] = ill[:, 4] + 1e-6 * rng.normal(size=500)  # nearly collinear, cond ~1e10 > max_cond: Householder
    np.testing.assert_array_equal(r_factor(ill), np.linalg.qr(ill, mode="r"))


def _cgsa_segments_whole_image(ms, pan, sensor, ratio, params):
    """C-GSA's k-means sample and per-segment sums as computed on whole images before streaming (the reference)."""
    from pansharpen.classical._common import make_inputs
    from pansharpen.classical.segmentation import assign_clusters, kmeans

    lms = make_inputs(ms, pan, sensor, ratio).lms
    flat = lms.reshape(lms.shape[0], -1)
    centres = kmeans(np.ascontiguousarray(flat[:, :: max(1, flat.shape[1] // 20_000)].T), 5, seed=0)
    labels = assign_clusters(flat, centres, channels_first=True)
    k = len(centres)
    intensity = (np.tensordot(params["weights"], lms, axes=1) + params["bias"]).ravel()
    n = np.bincount(labels, minlength=k).astype(np.float64)
    mean_i = np.bincount(labels, weights=intensity, minlength=k) / n
    var_i = (np.bincount(labels, weights=intensity**2, minlength=k) - n * mean_i**2) / (n - 1)
    mean_p = np.bincount(labels, weights=pan.ravel(), minlength=k) / n
    gain = np.stack([(np.bincount(labels, weights=flat[b] * intensity, minlength=k)
                      - n * mean_i * np.bincount(labels, weights=flat[b], minlength=k) / n) / (n - 1) / var_i
                     for b in range(flat.shape[0])], axis=1)
    return centres, mean_i, np.sqrt(var_i), mean_p, gain


def test_streamed_cgsa_estimate_equals_the_whole_image_one():
    rng = np.random.default_rng(16)
    ms = rng.uniform(50, 2047, (4, 65, 61))  # three strips of 32 MS rows; 63,440 pixels: every 3rd is
    pan = np.tensordot([0.3, 0.2, 0.3, 0.2], imresize(ms, 4), axes=1) + rng.normal(0, 30, (260, 244))  # sampled,
    assert (32 * 4 * 244) % 3 != 0  # and the stride is not aligned with the second strip's first pixel
    got = get_method("c-gsa").estimate(ms, pan, "QB", 4)
    centres, mean_i, std_i, mean_p, gain = _cgsa_segments_whole_image(ms, pan, "QB", 4, got)
    np.testing.assert_array_equal(got["centres"], centres)  # the same sample, the same k-means
    np.testing.assert_allclose(got["segment_intensity_mean"], mean_i, rtol=1e-13)
    np.testing.assert_allclose(got["segment_intensity_std"], std_i, rtol=1e-11)
    np.testing.assert_allclose(got["segment_pan_mean"], mean_p, rtol=1e-13)
    np.testing.assert_allclose(got["segment_gain"], gain, rtol=1e-11)


@pytest.mark.parametrize("name", ["gs", "gsa"])
@pytest.mark.parametrize("ratio", [4, 2, 3])
def test_cs_injection_upsampled_once_equals_the_sum_as_written(make_pair, name, ratio):
    """upsample(MS_k - g_k w . MS) + g_k (P_eq - b) against MS~_k + g_k (P_eq - w . MS~ - b), which a
    caller's own MS~ still takes."""
    from pansharpen.protocol.interp import upsample

    ms, pan, _ = make_pair(bands=4, size=20, ratio=ratio, seed=5)
    method = get_method(name)
    params = method.estimate(ms, pan, "QB", ratio)
    fast = method.apply(ms, pan, params)
    plain = method.apply(ms, pan, params, lms=np.asarray(upsample(ms, ratio), dtype=np.float64))
    np.testing.assert_allclose(fast, plain, rtol=1e-12, atol=1e-9)
