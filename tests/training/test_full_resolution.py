"""The unsupervised full-resolution loss: zero on consistent images, gradients, targets, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pansharpen.errors import ShapeError, ValueRangeError
from pansharpen.metrics.reprojection import reproject
from pansharpen.training.full_resolution import FullResolutionLoss, correlation_target


#: the Z-PNN terms alone (the module's defaults also switch on the QNR and cross-scale terms)
ZPNN = dict(qnr_weight=0.0, scale_weight=0.0)


def _pan_and_fused(seed=0, bands=3, size=64):
    g = torch.Generator().manual_seed(seed)
    pan = 0.2 + 0.5 * torch.rand(2, 1, size, size, generator=g, dtype=torch.float64)
    fused = torch.cat([pan * (0.5 + 0.2 * b) + 0.05 * b for b in range(bands)], dim=1)
    return pan, fused


def test_spectral_term_is_zero_on_a_consistent_image():
    pan, fused = _pan_and_fused()
    ms = reproject(fused, "none", 4)
    loss = FullResolutionLoss([0.3] * 3, 4, spatial_weight=0.0, **ZPNN)
    total, terms = loss(fused, ms, pan)
    assert terms["spectral"] == pytest.approx(0.0, abs=1e-12) and float(total) == pytest.approx(0.0, abs=1e-12)


def test_spectral_term_is_relative_l1_inside_the_border():
    pan, fused = _pan_and_fused()
    ms = reproject(fused, [0.3] * 3, 4)
    loss = FullResolutionLoss([0.3] * 3, 4, spatial_weight=0.0, **ZPNN)
    # a constant offset c of the fused image moves each reprojected pixel by c * DC gain of the kernel
    shifted = fused + 0.01
    _, terms = loss(shifted, ms, pan)
    k = loss.border
    inner = ms[..., k:-k, k:-k]
    want = float((reproject(shifted, [0.3] * 3, 4) - ms)[..., k:-k, k:-k].abs().mean() / inner.abs().mean())
    assert terms["spectral"] == pytest.approx(want, rel=1e-10) and terms["spectral"] > 0
    # scale-free: the same relative error at another DN scale
    _, scaled = loss(shifted * 2047, ms * 2047, pan)
    assert scaled["spectral"] == pytest.approx(terms["spectral"], rel=1e-9)


def test_spatial_term_zero_for_pan_copies_and_positive_otherwise():
    pan, fused = _pan_and_fused()
    loss = FullResolutionLoss([0.3] * 3, 4, spectral_weight=0.0, spatial_weight=1.0, **ZPNN)
    _, terms = loss(fused, None, pan, 1.0)
    assert terms["spatial"] == pytest.approx(0.0, abs=1e-3)  # eps-smoothing keeps rho just below 1
    blurred = torch.nn.functional.avg_pool2d(fused, 5, stride=1, padding=2)
    _, blur_terms = loss(blurred, None, pan, 1.0)
    assert blur_terms["spatial"] > 0.1
    # a target below the reached correlation costs nothing
    _, low_target = loss(blurred, None, pan, -1.0)
    assert low_target["spatial"] == 0.0


def test_gradient_flows_to_a_network():
    pan, fused = _pan_and_fused(bands=2)
    ms = reproject(fused, [0.3, 0.3], 4).float()
    conv = torch.nn.Conv2d(3, 2, 3, padding=1)
    lms = torch.nn.functional.interpolate(ms, scale_factor=4, mode="bilinear")
    out = lms + conv(torch.cat([lms, pan.float()], 1))
    total, _ = FullResolutionLoss([0.3, 0.3], 4, **ZPNN)(out, ms, pan.float(), 1.0)
    total.backward()
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0 and torch.isfinite(conv.weight.grad).all()


def test_correlation_target_shape_range_and_pan_like_ms():
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0)
    pan = 500 + 8000 * gaussian_filter(rng.random((1, 1, 64, 64)), (0, 0, 3, 3))  # smooth, like real scenes
    ms_exp = np.concatenate([pan, 2000 - pan], axis=1)  # a PAN-like band and an anti-PAN band
    t = correlation_target(ms_exp, pan, 4)
    assert t.shape == (1, 2, 61, 61) and t.dtype == np.float32
    assert -1 <= t.min() and t.max() <= 1
    assert t[0, 0].mean() > 0.5 and t[0, 1].mean() < -0.5


def test_bad_settings():
    with pytest.raises(ValueRangeError, match="every loss weight is 0"):
        FullResolutionLoss("none", 4, 0.0, 0.0, **ZPNN)
    with pytest.raises(ValueRangeError):
        FullResolutionLoss("none", 4, -1.0)
    pan, fused = _pan_and_fused(size=32)
    ms = reproject(fused, [0.3] * 3, 4)
    with pytest.raises(ShapeError, match="border"):
        FullResolutionLoss([0.3] * 3, 4, border=4, **ZPNN)(fused, ms, pan)


def test_block_quality_equals_the_metrics_d_s_blocks():
    """The differentiable Q of the QNR term is metrics.full.band_guide_blocks, block for block."""
    from pansharpen.metrics.full import band_guide_blocks
    from pansharpen.training.full_resolution import block_quality

    rng = np.random.default_rng(0)
    x, g = rng.uniform(0.1, 1, (2, 3, 64, 96)), rng.uniform(0.1, 1, (2, 1, 64, 96))
    got = block_quality(torch.from_numpy(x), torch.from_numpy(g), 32).numpy()
    want = np.stack([band_guide_blocks(x[i], g[i, 0], 32).reshape(3, 2, 3) for i in range(2)])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)


def test_qnr_target_is_q_of_the_expanded_ms_with_the_degraded_pan():
    from pansharpen.metrics.full import band_guide_blocks, pan_degraded
    from pansharpen.training.full_resolution import qnr_target

    rng = np.random.default_rng(1)
    pan = rng.uniform(100, 900, (2, 1, 64, 64))
    lms = np.concatenate([pan * 0.7, pan * 0.4 + 30], axis=1) + rng.normal(0, 5, (2, 2, 64, 64))
    q = qnr_target(lms, pan, 4)
    assert q.shape == (2, 2, 2, 2) and q.dtype == np.float32
    low = pan_degraded(pan[1][None], 4)[0, 0]
    np.testing.assert_allclose(q[1].reshape(2, -1), band_guide_blocks(lms[1], low, 32), rtol=1e-6)
    with pytest.raises(ShapeError, match="whole 32-pixel"):
        qnr_target(lms[..., :48, :48], pan[..., :48, :48], 4)


def test_qnr_term_is_zero_when_the_fused_image_keeps_the_low_scale_relation_and_positive_otherwise():
    from pansharpen.training.full_resolution import block_quality

    pan, fused = _pan_and_fused()
    ms = reproject(fused, "none", 4)
    loss = FullResolutionLoss([0.3] * 3, 4, spectral_weight=0.0, spatial_weight=0.0, qnr_weight=1.0, scale_weight=0.0)
    same = block_quality(fused, pan).detach()
    _, terms = loss(fused, ms, pan, 1.0, same)
    assert terms["qnr"] == pytest.approx(0.0, abs=1e-12)
    flat = fused.mean(dim=(-2, -1), keepdim=True) + 0.1 * (fused - fused.mean(dim=(-2, -1), keepdim=True))
    assert loss(flat, ms, pan, 1.0, same)[1]["qnr"] > 0.01  # a tenth of the contrast changes Q
    with pytest.raises(ValueRangeError, match="qnr_target"):
        loss(fused, ms, pan)
    with pytest.raises(ValueRangeError, match="qnr_weight"):
        FullResolutionLoss([0.3] * 3, 4, qnr_weight=-1.0)


def test_two_sided_target_penalises_following_the_pan_more_than_the_ms_does():
    pan, fused = _pan_and_fused()  # every band an affine copy of the PAN: rho = 1 everywhere
    ms = reproject(fused, "none", 4)
    target = torch.full((2, 3, 61, 61), 0.5, dtype=torch.float64)
    one_sided = FullResolutionLoss([0.3] * 3, 4, spectral_weight=0.0, **ZPNN)
    two_sided = FullResolutionLoss([0.3] * 3, 4, spectral_weight=0.0, two_sided=True, **ZPNN)
    assert one_sided(fused, ms, pan, target)[1]["spatial"] == pytest.approx(0.0, abs=1e-6)
    assert two_sided(fused, ms, pan, target)[1]["spatial"] == pytest.approx(0.5, abs=1e-6)


def test_scale_term_is_the_relative_l1_of_the_fused_degraded_patch_against_the_ms():
    g = torch.Generator().manual_seed(3)
    ms = 0.2 + torch.rand(2, 3, 12, 12, generator=g, dtype=torch.float64)
    loss = FullResolutionLoss([0.3] * 3, 4, spectral_weight=0.0, spatial_weight=0.0, qnr_weight=0.0, scale_weight=2.0)
    assert float(loss.scale(ms.clone(), ms)) == 0.0
    off = ms.clone()
    off[..., 5, 5] += 0.3  # one pixel inside a 2-pixel border, one on it
    off[..., 0, 0] += 5.0
    inner = ms[..., 2:-2, 2:-2]
    expected = 0.3 * 2 * 3 / inner.numel() / float(inner.abs().mean())
    assert float(loss.scale(off, ms, border=2)) == pytest.approx(expected, rel=1e-12)
    pan, fused = _pan_and_fused(size=48)
    total, terms = loss(fused, reproject(fused, [0.3] * 3, 4), pan, coarse=(off[..., 2:-2, 2:-2], inner))
    assert terms["scale"] == pytest.approx(expected, rel=1e-12) and float(total) == pytest.approx(2 * expected)
    with pytest.raises(ValueRangeError, match="coarse"):
        loss(fused, reproject(fused, [0.3] * 3, 4), pan)
    with pytest.raises(ShapeError, match="degraded patch"):
        loss.scale(ms[..., :6, :6], ms)
    with pytest.raises(ValueRangeError, match="scale_weight"):
        FullResolutionLoss([0.3] * 3, 4, scale_weight=float("nan"))
    assert loss.describe()["scale_weight"] == 2.0
