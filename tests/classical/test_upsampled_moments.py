"""Moments of upsampled images from their low-resolution spectra equal the moments of the upsampled
images (the streamed pass and numpy's whole-array formulas) to float64 rounding."""
from __future__ import annotations

import numpy as np
import pytest

from pansharpen.classical._common import Moments, make_inputs
from pansharpen.classical._upsampled_moments import UpsampledMoments
from pansharpen.classical.multiresolution import (
    _cbd_estimate,
    _equalization_params,
    _fs_estimate,
    _hpm_haze_estimate,
    _plain_equalization,
    scene_moments,
)
from pansharpen.protocol.interp import upsample, upsample_adjoint, upsampling_response


@pytest.mark.parametrize("ratio, h, w", [(2, 20, 31), (3, 25, 22), (4, 37, 29), (4, 1, 9), (8, 33, 40), (5, 12, 17)])
def test_upsampling_response_describes_the_whole_operator(ratio, h, w):
    """``upsample(x) = U_h x U_w^T``, the columns of ``U`` the response shifted by ``ratio`` per sample."""
    x = np.random.default_rng(ratio).uniform(0, 1000, (h, w))
    columns = [np.stack([np.roll(upsampling_response(n, ratio), ratio * j) for j in range(n)], 1) for n in (h, w)]
    np.testing.assert_allclose(columns[0] @ x @ columns[1].T, np.asarray(upsample(x[None], ratio))[0], rtol=0,
                               atol=1e-12 * np.abs(x).max())


@pytest.mark.parametrize("ratio, h, w", [(2, 20, 31), (3, 25, 22), (4, 37, 29), (4, 1, 9), (8, 9, 12)])
def test_upsample_adjoint_is_the_transpose(ratio, h, w):
    rng = np.random.default_rng(w)
    x, y = rng.uniform(-1, 1, (h, w)), rng.uniform(-1, 1, (ratio * h, ratio * w))
    a = float((np.asarray(upsample(x[None], ratio))[0] * y).sum())
    b = float((x * upsample_adjoint(y, ratio)).sum())
    assert b == pytest.approx(a, rel=1e-12, abs=1e-12 * np.abs(y).sum())
    np.testing.assert_allclose(upsample_adjoint(y + 500.0, ratio, offset=500.0), upsample_adjoint(y, ratio),
                               rtol=0, atol=1e-12 * ratio * ratio)


def test_a_covariance_with_the_pan_keeps_its_precision_under_a_large_level():
    """Co-moments with a full-resolution image at a level 50x its variation: the adjoint runs on the
    centred image and the residual of the rounded mean is removed, so a weak covariance keeps its
    digits (against numpy's two-pass formula on the upsampled image in long double)."""
    rng = np.random.default_rng(3)
    ms = rng.uniform(900, 1100, (1, 40, 40))
    up = np.asarray(upsample(ms, 4))[0]
    pan = 5000.0 + 0.02 * (up - up.mean()) + rng.normal(0, 100, up.shape)  # correlation ~ 1e-2
    got = UpsampledMoments(ms, 4, pairs=[(0, 1)], full=pan).cov(ddof=1)[0]
    a, b = up.ravel().astype(np.longdouble), pan.ravel().astype(np.longdouble)
    want = float(((a - a.mean()) * (b - b.mean())).sum() / (a.size - 1))
    assert got == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("ratio, h, w", [(2, 20, 31), (3, 25, 22), (4, 37, 29), (4, 64, 64), (8, 9, 12)])
def test_spectral_moments_equal_the_moments_of_the_upsampled_images(ratio, h, w):
    rng = np.random.default_rng(h)
    images = rng.uniform(200, 2000, (3, h, w)) + np.array([0.0, 5000.0, -300.0])[:, None, None]  # large offsets
    images[2] = 0.5 * images[0] + 0.1 * images[2]  # correlated
    full = np.asarray(upsample(images[:1], ratio))[0] * 0.7 + rng.normal(900, 50, (ratio * h, ratio * w))  # a "PAN"
    pairs = [(0, 1), (0, 2), (1, 1), (0, 3), (2, 3), (3, 3)]
    want = Moments(4, pairs)
    want.add(np.concatenate([np.asarray(upsample(images, ratio)).reshape(3, -1), full.reshape(1, -1)]))
    got = UpsampledMoments(images, ratio, pairs, full=full)
    assert got.n == want.n == ratio * ratio * h * w
    np.testing.assert_allclose(got.mean, want.mean, rtol=1e-14)
    np.testing.assert_allclose(got.var(ddof=1), want.var(ddof=1), rtol=1e-12)
    np.testing.assert_allclose(got.cov(ddof=1), want.cov(ddof=1), rtol=1e-12)


def test_a_constant_image_keeps_the_small_variance_of_the_upsampler():
    """interp23tap of a constant is not constant (DC gain 1 - 8e-10 at new samples): that variance too."""
    images = np.full((1, 16, 16), 1000.0)
    want = np.asarray(upsample(images, 4)).reshape(1, -1).var(axis=1, ddof=1)
    got = UpsampledMoments(images, 4).var(ddof=1)
    assert want[0] > 0
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("ratio", [4, 2, 3])
def test_the_methods_statistics_equal_those_of_the_streamed_pass(make_pair, ratio):
    """MTF-GLP's equalisation, MTF-GLP-CBD's and -FS's gains, HPM-H's low-pass minima and AWLP's band
    moments: the spectral form (the default) against the streamed pass over the upsampled strips
    (which a caller's own ``MS~``, here the same image, takes)."""
    ms, pan, _ = make_pair(bands=4, size=24, ratio=ratio, seed=ratio)
    x = make_inputs(ms, pan[0], "QB", ratio)
    given = make_inputs(ms, pan[0], "QB", ratio, lms=np.asarray(upsample(ms, ratio)))
    n = x.nbands
    for kwargs in ({}, {"lows": False}, {"lms": False}, {"pairs": lambda sm: [(sm.lms(k), sm.low(k)) for k in range(n)]},
                   {"pan": True, "pairs": lambda sm: [(sm.lms(0), sm.pan()), (sm.low(1), sm.pan()), (sm.pan(), sm.pan())]}):
        fast, streamed = scene_moments(x, **kwargs), scene_moments(given, **kwargs)
        assert isinstance(fast.moments, UpsampledMoments) and isinstance(streamed.moments, Moments)
        np.testing.assert_allclose(fast.moments.mean, streamed.moments.mean, rtol=1e-13)
        np.testing.assert_allclose(fast.moments.var(), streamed.moments.var(), rtol=1e-11)
        np.testing.assert_allclose(fast.moments.cov(), streamed.moments.cov(), rtol=1e-11)
        np.testing.assert_array_equal(fast.low_min, streamed.low_min)  # the same upsampled strips
    # the methods' parameters, end to end
    estimates = (_equalization_params, _cbd_estimate, _plain_equalization, _fs_estimate, _hpm_haze_estimate)
    for f, s in zip([e(x) for e in estimates], [e(given) for e in estimates]):
        assert f.keys() == s.keys()
        for key in f:
            np.testing.assert_allclose(f[key], s[key], rtol=1e-11)
