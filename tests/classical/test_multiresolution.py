"""MRA methods checked against their defining equations.

The low-pass PAN of MTF-GLP is recomputed here the way the papers define it, through the
protocol primitives on the (equalised) PAN itself: ``P_L = interp23tap(decimate(MTF_k(P)))``,
whereas the library computes it once on the raw PAN and uses linearity.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi

from pansharpen.classical import get_method
from pansharpen.classical._lowpass import _upsample2_bilinear, morphological_lowpass, starlet_lowpass
from pansharpen.protocol import get_sensor
from pansharpen.protocol.interp import interp23tap
from pansharpen.protocol.mtf import mtf_filter
from pansharpen.protocol.wald import decimate


def _glp_lowpass(image, gain, ratio):
    return interp23tap(decimate(mtf_filter(image, gain, ratio), ratio), ratio)


def _equalized(pan, lms_band, gain, ratio):
    """P_k = (P - mean P) std(MS~_k) / std(P_L) + mean(MS~_k), P_L = GLP low-pass of the raw PAN."""
    low = _glp_lowpass(pan, gain, ratio)
    return (pan - pan.mean()) * lms_band.std(ddof=1) / low.std(ddof=1) + lms_band.mean()


@pytest.mark.parametrize("sensor,ratio,bands,size", [("QB", 4, 4, 24), ("WV3", 4, 8, 16), (None, 2, 4, 24), (None, 8, 4, 8)])
def test_mtf_glp_detail_is_pan_minus_its_mtf_lowpass(make_pair, sensor, ratio, bands, size):
    ms, pan, _ = make_pair(bands=bands, size=size, ratio=ratio)
    s = get_sensor(sensor if sensor else "none", nbands=bands)
    lms = interp23tap(ms, ratio)
    fused = get_method("mtf-glp")(ms, pan, sensor, ratio)
    for k in range(bands):
        p_k = _equalized(pan[0], lms[k], s.ms_gnyq[k], ratio)
        detail = p_k - _glp_lowpass(p_k, s.ms_gnyq[k], ratio)
        np.testing.assert_allclose(fused[k] - lms[k], detail, rtol=1e-7, atol=1e-7)



@pytest.mark.parametrize("ratio,bands", [(4, 8), (2, 4), (3, 4), (8, 4)])
def test_additive_injection_upsampled_once_equals_the_sum_as_written(make_pair, ratio, bands):
    """upsample(MS_k - g_k L_k - b_k c_k) + g_k P + b_k (one upsampling per band) against
    MS~_k + (g_k P + b_k) - (g_k P_L,k + b_k LP(1)), which a caller's own MS~ still takes."""
    from pansharpen.classical._common import make_inputs
    from pansharpen.classical.multiresolution import additive_injection
    from pansharpen.protocol.interp import upsample

    ms, pan, _ = make_pair(bands=bands, size=12 if ratio == 8 else 20, ratio=ratio, seed=3)
    sensor = get_sensor("WV3" if bands == 8 else "none", nbands=bands)
    rng = np.random.default_rng(4)
    gain, shift = rng.uniform(0.3, 1.5, bands), rng.uniform(-200.0, 300.0, bands)
    fast_x = make_inputs(ms, pan[0], sensor, ratio)
    plain_x = make_inputs(ms, pan[0], sensor, ratio, lms=np.asarray(upsample(ms, ratio), dtype=np.float64))
    assert fast_x.lms_is_upsampled_ms and not plain_x.lms_is_upsampled_ms
    fast = additive_injection(fast_x, gain, shift)
    assert "lms" not in fast_x.__dict__  # the fast form never builds MS~
    np.testing.assert_allclose(fast, additive_injection(plain_x, gain, shift), rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(additive_injection(fast_x, gain), additive_injection(plain_x, gain), rtol=1e-12, atol=1e-10)

def test_mtf_glp_hpm_is_multiplicative(pair):
    """F_k = MS~_k * P / P_L,k (Vivone et al. 2015, Eq. 13: gains MS~_k / P_L)."""
    ms, pan, _ = pair
    s = get_sensor("QB")
    lms = interp23tap(ms, 4)
    fused = get_method("mtf-glp-hpm")(ms, pan, "QB", 4)
    for k in range(4):
        np.testing.assert_allclose(fused[k], lms[k] * pan[0] / _glp_lowpass(pan[0], s.ms_gnyq[k], 4), rtol=1e-9)


def test_mtf_glp_hpm_haze_model(pair):
    """F_k = H_k + (MS~_k - H_k) (P - H_P) / (P_L,k - H_P) (Lolli et al. 2017)."""
    ms, pan, _ = pair
    s = get_sensor("QB")
    method = get_method("mtf-glp-hpm-h")
    params = method.estimate(ms, pan, "QB", 4)
    np.testing.assert_array_equal(params["haze"], ms.reshape(4, -1).min(axis=1))
    lows = [_glp_lowpass(pan[0], g, 4) for g in s.ms_gnyq]
    assert params["pan_haze"] < min(low.min() for low in lows)  # haze-free low-pass stays positive
    lms = interp23tap(ms, 4)
    fused = method(ms, pan, "QB", 4)
    h_p = params["pan_haze"]
    for k in range(4):
        h_k = params["haze"][k]
        expected = h_k + (lms[k] - h_k) * (pan[0] - h_p) / (lows[k] - h_p)
        np.testing.assert_allclose(fused[k], expected, rtol=1e-9)


def test_haze_free_scene_reduces_hpm_h_to_hpm(pair):
    ms, pan, _ = pair
    method = get_method("mtf-glp-hpm-h")
    params = method.estimate(ms, pan, "QB", 4)
    params = {**params, "haze": np.zeros(4), "pan_haze": 0.0}
    np.testing.assert_allclose(method.apply(ms, pan, params), get_method("mtf-glp-hpm")(ms, pan, "QB", 4), rtol=1e-12)


def test_mtf_glp_fs_full_scale_regression_gains(pair):
    ms, pan, _ = pair
    s = get_sensor("QB")
    lms = interp23tap(ms, 4)
    fused = get_method("mtf-glp-fs")(ms, pan, "QB", 4)
    for k in range(4):
        low = _glp_lowpass(pan[0], s.ms_gnyq[k], 4)
        g = np.cov(lms[k].ravel(), pan[0].ravel())[0, 1] / np.cov(low.ravel(), pan[0].ravel())[0, 1]
        np.testing.assert_allclose(fused[k], lms[k] + g * (pan[0] - low), rtol=1e-9)


def test_mtf_glp_cbd_regression_gains(pair):
    ms, pan, _ = pair
    s = get_sensor("QB")
    lms = interp23tap(ms, 4)
    fused = get_method("mtf-glp-cbd")(ms, pan, "QB", 4)
    for k in range(4):
        low = _glp_lowpass(pan[0], s.ms_gnyq[k], 4)
        g = np.cov(lms[k].ravel(), low.ravel())[0, 1] / low.var(ddof=1)
        np.testing.assert_allclose(fused[k], lms[k] + g * (pan[0] - low), rtol=1e-9)


def test_starlet_lowpass_matches_two_dimensional_b3_convolution():
    rng = np.random.default_rng(2)
    img = rng.normal(size=(40, 40))
    b3 = np.array([1, 4, 6, 4, 1]) / 16.0
    expected = img
    for step in (1, 2):  # ratio 4 -> two a-trous levels with holes
        k1 = np.zeros(4 * step + 1)
        k1[::step] = b3
        expected = ndi.convolve(expected, np.outer(k1, k1), mode="reflect")
    np.testing.assert_allclose(starlet_lowpass(img, 4), expected, rtol=1e-12, atol=1e-12)


def test_awlp_injection_is_proportional_to_luminance(pair):
    ms, pan, _ = pair
    lms = interp23tap(ms, 4)
    fused = get_method("awlp")(ms, pan, "QB", 4)
    detail = pan[0] - starlet_lowpass(pan[0], 4)
    mean_ms = lms.mean(axis=0)
    for k in range(4):
        scale = lms[k].std(ddof=1) / pan[0].std(ddof=1)
        np.testing.assert_allclose(fused[k], lms[k] + lms[k] / mean_ms * scale * detail, rtol=1e-10)


def test_bilinear_doubling_hand_computed():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    out = _upsample2_bilinear(x)
    np.testing.assert_allclose(out[0], [1.0, 1.25, 1.75, 2.0])
    np.testing.assert_allclose(out[:, 0], [1.0, 1.5, 2.5, 3.0])


def test_morphological_lowpass_of_constant_and_commutes_with_affine_maps():
    np.testing.assert_allclose(morphological_lowpass(np.full((16, 16), 7.0), 4), 7.0)
    rng = np.random.default_rng(3)
    img = rng.uniform(0, 100, size=(32, 32))
    np.testing.assert_allclose(morphological_lowpass(3 * img + 5, 4), 3 * morphological_lowpass(img, 4) + 5, rtol=1e-12)


def test_mf_is_multiplicative_with_the_morphological_lowpass(pair):
    ms, pan, _ = pair
    lms = interp23tap(ms, 4)
    fused = get_method("mf")(ms, pan, "QB", 4)
    np.testing.assert_allclose(fused, lms * (pan[0] / morphological_lowpass(pan[0], 4))[None], rtol=1e-10)


def test_exp_is_interp23tap(pair):
    ms, pan, _ = pair
    np.testing.assert_array_equal(get_method("exp")(ms, pan, "QB", 4), interp23tap(ms, 4))


@pytest.mark.parametrize("name", ["mtf-glp", "awlp"])
def test_equalised_methods_ignore_pan_gain_and_offset(pair, name):
    ms, pan, _ = pair
    np.testing.assert_allclose(
        get_method(name)(ms, pan, "QB", 4), get_method(name)(ms, 0.5 * pan + 123.0, "QB", 4), rtol=1e-9, atol=1e-8
    )


@pytest.mark.parametrize("name", ["mtf-glp-fs", "mtf-glp-cbd", "mtf-glp-hpm", "mf"])
def test_gains_and_ratios_absorb_pan_gain(pair, name):
    ms, pan, _ = pair
    np.testing.assert_allclose(get_method(name)(ms, pan, "QB", 4), get_method(name)(ms, 3.0 * pan, "QB", 4), rtol=1e-9)


@pytest.mark.parametrize("name", ["mtf-glp", "mtf-glp-hpm", "mtf-glp-hpm-h", "mtf-glp-fs", "mtf-glp-cbd", "awlp", "mf"])
@pytest.mark.parametrize("bands,ratio", [(8, 4), (4, 2), (3, 8)])
def test_band_counts_and_ratios(make_pair, name, bands, ratio):
    size = 8 if ratio == 8 else 16
    ms, pan, _ = make_pair(bands=bands, size=size, ratio=ratio, seed=ratio)
    fused = get_method(name)(ms, pan, None, ratio)
    assert fused.shape == (bands, ratio * size, ratio * size) and np.isfinite(fused).all()


# ----------------------------------------------------------------------------------------------
# Streamed scene statistics: equal to the whole-image computation
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_bytes", [1, 40_000, 2**26])
@pytest.mark.parametrize("ratio,rows", [(4, 1), (4, 7), (4, 64), (2, 1), (2, 5), (8, 3), (16, 2)])
def test_upsample_strips_are_bitwise_the_whole_upsampled_image(ratio, rows, chunk_bytes):
    """Strips of ``rows`` LR rows, upsampled one at a time (chunk_bytes=1), a few together or all at once."""
    from pansharpen.classical._lowpass import upsample_interp23tap, upsample_strips

    img = np.random.default_rng(5).uniform(0, 2047, (3, 23, 17))  # odd sizes; rows=1: margin > strip
    strips = list(upsample_strips(img, ratio, rows, chunk_bytes))
    assert [s[0] for s in strips] == list(range(0, 23 * ratio, rows * ratio))
    assert [s[1] - s[0] for s in strips] == [s[2].shape[1] for s in strips]
    assert all(s[2].shape[1] == rows * ratio for s in strips[:-1])
    np.testing.assert_array_equal(np.concatenate([s for _, _, s in strips], axis=1), upsample_interp23tap(img, ratio))


def _wv3_scene(h=75, w=37, seed=6):
    rng = np.random.default_rng(seed)  # 75 MS rows: three strips of 32 at the default height
    return rng.uniform(50, 2047, (8, h, w)), rng.uniform(50, 2047, (4 * h, 4 * w))


@pytest.mark.parametrize("rows", [4, 64])
def test_scene_moments_equal_the_whole_image_statistics(rows):
    from pansharpen.classical import multiresolution as mra
    from pansharpen.classical._common import covariance, make_inputs

    ms, pan = _wv3_scene()
    x = make_inputs(ms, pan, "WV3", 4)
    sm = mra.scene_moments(x, pan=True, rows=rows, pairs=lambda sm: [(sm.lms(k), sm.low(k)) for k in range(8)])
    assert "lms" not in x.__dict__ and ("glp", mra._gains(x)) not in x.cache  # no whole image built
    whole = make_inputs(ms, pan, "WV3", 4)
    lms, lows = whole.lms, mra.pan_glp_lowpass(whole)
    assert len(set(mra._gains(x))) > 1  # WV3: several MTF gains share strips
    for k in range(8):
        np.testing.assert_allclose(sm.mean(sm.lms(k)), lms[k].mean(), rtol=1e-14)
        np.testing.assert_allclose(sm.mean(sm.low(k)), lows[k].mean(), rtol=1e-14)  # with low_min: the haze cap
        np.testing.assert_allclose(sm.var(sm.low(k)), lows[k].var(ddof=1), rtol=1e-12)
        np.testing.assert_allclose(sm.cov(sm.lms(k), sm.low(k)), covariance(lms[k], lows[k]), rtol=1e-12)
        assert sm.low_min[sm.gain_index[k]] == lows[k].min()  # exact
    np.testing.assert_allclose(sm.var(sm.pan()), pan.var(ddof=1), rtol=1e-12)


def test_streamed_mra_estimates_equal_todays_whole_image_ones():
    """Each MRA estimate against the whole-image formulas it replaced (float64 rounding, 1e-12)."""
    from pansharpen.classical import multiresolution as mra
    from pansharpen.classical._common import covariance, make_inputs
    from pansharpen.classical._lowpass import HAZE_MARGIN

    ms, pan = _wv3_scene()
    whole = make_inputs(ms, pan, "WV3", 4)
    lms, lows = whole.lms, mra.pan_glp_lowpass(whole)

    def estimate(name):
        return get_method(name).estimate(ms, pan, "WV3", 4)

    glp = estimate("mtf-glp")
    np.testing.assert_allclose(glp["scale"], [lms[k].std(ddof=1) / lows[k].std(ddof=1) for k in range(8)], rtol=1e-12)
    np.testing.assert_allclose(glp["band_mean"], lms.reshape(8, -1).mean(axis=1), rtol=1e-14)
    fs = [covariance(lms[k], pan) / covariance(lows[k], pan) for k in range(8)]
    np.testing.assert_allclose(estimate("mtf-glp-fs")["gain"], fs, rtol=1e-12)
    cbd = [covariance(lms[k], lows[k]) / lows[k].var(ddof=1) for k in range(8)]
    np.testing.assert_allclose(estimate("mtf-glp-cbd")["gain"], cbd, rtol=1e-12)
    awlp = estimate("awlp")
    np.testing.assert_allclose(awlp["scale"], lms.reshape(8, -1).std(axis=1, ddof=1) / pan.std(ddof=1), rtol=1e-12)
    np.testing.assert_allclose(awlp["band_mean"], lms.reshape(8, -1).mean(axis=1), rtol=1e-14)
    hpmh = estimate("mtf-glp-hpm-h")
    cap = min(low.min() - HAZE_MARGIN * (low.mean() - low.min()) for low in lows)
    w, b = hpmh["weights"], hpmh["bias"]
    np.testing.assert_allclose(hpmh["pan_haze"], min(float(b + w @ hpmh["haze"]), cap), rtol=1e-13)


@pytest.mark.parametrize("r0,r1", [(0, 1), (3, 17), (50, 92), (91, 92), (0, 92)])
def test_upsample_rows_at_any_row_range_are_bitwise_the_whole_image(r0, r1):
    from pansharpen.classical._lowpass import upsample_interp23tap, upsample_rows

    img = np.random.default_rng(9).uniform(0, 2047, (2, 23, 17))
    np.testing.assert_array_equal(upsample_rows(img, 4, r0, r1), upsample_interp23tap(img, 4)[:, r0:r1])


@pytest.mark.parametrize("shape,ratio", [((92, 44), 4), ((64, 72), 8), ((30, 26), 2)])
def test_mtf_decimate_is_the_filtered_and_decimated_pan(shape, ratio):
    from pansharpen.classical._lowpass import mtf_decimate

    pan = np.random.default_rng(13).uniform(0, 2047, shape)
    gains = (0.29, 0.35)
    got = mtf_decimate(pan, gains, ratio)
    for i, g in enumerate(gains):
        np.testing.assert_allclose(got[i], decimate(mtf_filter(pan, g, ratio), ratio), rtol=1e-12, atol=1e-9)


def test_mtf_decimate_cached_kernel_spectra_are_bitwise_the_computed_ones(monkeypatch):
    """Tiles reuse the kernel spectra of their shape (:func:`_kernel_spectra_cached`): the same bits as
    computing them in the call, on a first call (cache filled) and a second one (cache hit)."""
    from pansharpen.classical import _lowpass

    pan = np.random.default_rng(14).uniform(0, 2047, (160, 200))
    gains = (0.23, 0.29, 0.35)
    _lowpass._kernel_spectra_cached.cache_clear()
    first, second = _lowpass.mtf_decimate(pan, gains, 4), _lowpass.mtf_decimate(pan, gains, 4)
    assert _lowpass._kernel_spectra_cached.cache_info().hits == len(gains)
    monkeypatch.setattr(_lowpass, "_SPECTRA_CACHE_BYTES", 0)  # every call computes its spectra
    plain = _lowpass.mtf_decimate(pan, gains, 4)
    assert _lowpass._kernel_spectra_cached.cache_info().hits == len(gains)
    np.testing.assert_array_equal(first, plain)
    np.testing.assert_array_equal(second, plain)


def test_glp_unit_response_is_the_plain_formula_from_its_cache():
    from pansharpen.classical._lowpass import glp_unit_response
    from pansharpen.protocol.interp import interp23tap
    from pansharpen.protocol.mtf import mtf_kernel

    for _ in range(2):  # computed, then from the cache
        for gain in (0.23, 0.35):
            plain = float(mtf_kernel(gain, 4).sum()) * interp23tap(np.ones((1, 11, 9)), 4)[0]
            np.testing.assert_array_equal(glp_unit_response((44, 36), gain, 4), plain)


@pytest.mark.parametrize("fft_shape", [(180, 180), (845, 430), (27, 64)])
def test_kernel_spectra_two_passes_are_rfft2(fft_shape):
    """The phase kernels' spectra from their nonzero rows (row rfft, then the zero-padded column fft)
    are ``rfft2(kernel, s=fft_shape)`` to float64 rounding (numpy's complex column pass rounds a
    little differently from its 2-D real transform)."""
    from pansharpen.classical._lowpass import MTF_RADIUS, _kernel_spectra
    from pansharpen.protocol.mtf import mtf_kernel

    r, k = 4, 2 * MTF_RADIUS + 1
    taps = -(-k // r)
    kernel = np.zeros((r * taps, r * taps))
    kernel[:k, :k] = mtf_kernel(0.29, r)
    plain = np.conjugate(np.stack([np.fft.rfft2(kernel[j // r :: r, j % r :: r], s=fft_shape) for j in range(r * r)]))
    np.testing.assert_allclose(_kernel_spectra(0.29, r, fft_shape), plain, rtol=0, atol=1e-15)


def test_fft_length_is_the_smallest_five_smooth_length():
    from pansharpen.protocol.mtf import fft_length

    smooth = [n for n in range(1, 3000) if _is_five_smooth(n)]
    for n in range(1, 2900):
        assert fft_length(n) == min(m for m in smooth if m >= n)


def _is_five_smooth(n: int) -> bool:
    for p in (2, 3, 5):
        while n % p == 0:
            n //= p
    return n == 1


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (6, 1), (2, 2), (37, 41)])
def test_cross_dilation_erosion_is_bitwise_ndimage(shape):
    from pansharpen.classical._lowpass import CROSS_3X3, cross_dilation_erosion

    x = np.random.default_rng(sum(shape)).integers(0, 6, shape).astype(np.float64)  # many ties
    x[0, 0] = -np.inf if x.size > 1 else x[0, 0]
    dil, ero = cross_dilation_erosion(x)
    np.testing.assert_array_equal(dil, ndi.grey_dilation(x, footprint=CROSS_3X3, mode="nearest"))
    np.testing.assert_array_equal(ero, ndi.grey_erosion(x, footprint=CROSS_3X3, mode="nearest"))


@pytest.mark.parametrize("shape", [(64, 80), (7, 9), (3, 5), (2, 2), (1, 6)])
@pytest.mark.parametrize("step", [1, 2, 4])
def test_symmetric_correlation_is_bitwise_ndimage(shape, step):
    from pansharpen.classical._lowpass import B3_SPLINE, correlate_symmetric

    image = np.random.default_rng(30).uniform(0, 2047, shape)
    kernel = np.zeros(4 * step + 1)
    kernel[::step] = B3_SPLINE
    for axis in (0, 1):
        np.testing.assert_array_equal(correlate_symmetric(image, kernel, axis),
                                      ndi.correlate1d(image, kernel, axis=axis, mode="reflect"))
