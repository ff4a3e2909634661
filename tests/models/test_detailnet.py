"""DetailNet: starts exactly at MTF-GLP-HPM's formula, tiles exactly, learns, refuses bad options."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pansharpen.errors import ModelError
from pansharpen.models import create, load, save
from pansharpen.models.detailnet import LOWPASS_FLOOR
from pansharpen.models.registry import complete_card
from pansharpen.protocol.interp import interp23tap
from pansharpen.protocol.mtf import mtf_filter
from pansharpen.protocol.wald import decimate

GAINS = (0.34, 0.32, 0.30, 0.22)


def _inputs(size=32, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    ms = 0.2 + 0.3 * torch.rand(1, 4, size, size, generator=g, dtype=dtype)
    pan = 0.2 + 0.3 * torch.rand(1, 1, 4 * size, 4 * size, generator=g, dtype=dtype)
    return ms, pan, interp23tap(ms, 4)


def test_a_fresh_network_is_the_hpm_formula_computed_with_numpy():
    """At initialisation F_k = lms_k * P / P_L,k, P_L,k = interp23tap(decimate(MTF_k(P))) (numpy path)."""
    net = create("detail-net", bands=4, mtf_gains=list(GAINS)).double()
    ms, pan, lms = _inputs()
    with torch.no_grad():
        out = net(ms, pan, lms).numpy()[0]
    p = pan.numpy()[0, 0]
    low = np.asarray(interp23tap(np.asarray(decimate(mtf_filter(np.stack([p] * 4), GAINS, 4), 4)), 4))
    expected = lms.numpy()[0] * p / np.maximum(low, LOWPASS_FLOOR)
    np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-12)


def test_tiles_equal_the_whole_image_beyond_the_receptive_field():
    torch.manual_seed(0)
    net = create("detail-net", bands=4, mtf_gains=list(GAINS)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.05 * torch.randn_like(p))
    rf = complete_card(net).receptive_field
    assert rf == 64  # MTF radius 20 + 4 + interp23tap 33 + 4 + 3 layers
    ms, pan, lms = _inputs(size=64)
    with torch.no_grad():
        whole = net(ms, pan, lms)
        k = 16  # MS pixels cut on each side; the crop's output is exact rf PAN pixels inside its border
        crop = net(ms[..., k:-k, k:-k], pan[..., 4 * k:-4 * k, 4 * k:-4 * k], lms[..., 4 * k:-4 * k, 4 * k:-4 * k])
    inner = whole[..., 4 * k + rf: -4 * k - rf, 4 * k + rf: -4 * k - rf]
    torch.testing.assert_close(crop[..., rf:-rf, rf:-rf], inner, rtol=0, atol=1e-12)
    # and the reach is needed: closer to the crop border the two differ
    assert (crop[..., 2:-2, 2:-2] - whole[..., 4 * k + 2: -4 * k - 2, 4 * k + 2: -4 * k - 2]).abs().max() > 1e-6


def test_every_parameter_learns_and_only_the_body_waits_for_the_tail():
    net = create("detail-net", bands=4)
    ms, pan, lms = (t.float() for t in _inputs(16))
    net(ms, pan, lms).square().mean().backward()
    grads = {n: p.grad.abs().sum().item() for n, p in net.named_parameters()}
    assert grads["alpha"] > 0 and grads["beta"] > 0 and grads["tail.weight"] > 0
    assert all(v == 0 for n, v in grads.items() if n.startswith("body"))  # zero tail: no signal yet


def test_options_round_trip_through_a_weights_file(tmp_path):
    net = create("detail-net", bands=3, ratio=2, mtf_gains=[0.3, 0.25, 0.2], width=8)
    save(net, tmp_path / "d.safetensors")
    back = load(tmp_path / "d.safetensors")
    assert back.ratio == 2 and back.mtf_gains == (0.3, 0.25, 0.2) and back.card.bands == 3
    ms = torch.rand(1, 3, 12, 12) + 0.2
    pan = torch.rand(1, 1, 24, 24) + 0.2
    torch.testing.assert_close(back(ms, pan), net(ms, pan))


@pytest.mark.parametrize("options, match", [
    ({"ratio": 3}, "power-of-two"),
    ({"mtf_gains": [0.3, 0.3]}, "4 MTF gains"),
    ({"mtf_gains": [0.3, 0.3, 1.2, 0.3]}, "in \\(0, 1\\)"),
    ({"layers": 1}, "layers >= 2"),
])
def test_bad_options_are_refused(options, match):
    with pytest.raises(ModelError, match=match):
        create("detail-net", bands=4, **options)


def _numpy_lowpass(pan: torch.Tensor) -> np.ndarray:
    p = pan.numpy()[0, 0]
    return np.asarray(interp23tap(np.asarray(decimate(mtf_filter(np.stack([p] * 4), GAINS, 4), 4)), 4))


def test_regression_gains_are_mtf_glp_fs_gains_computed_with_numpy():
    """g_k = cov(lms_k, P) / cov(P_L,k, P) over every pixel (Vivone et al., TIP 2018)."""
    net = create("detail-net", bands=4, mtf_gains=list(GAINS)).double()
    ms, pan, lms = _inputs(seed=1)
    p, low, up = pan.numpy()[0, 0], _numpy_lowpass(pan), lms.numpy()[0]
    cov = lambda a, b: np.mean((a - a.mean()) * (b - b.mean()))  # noqa: E731
    expected = [cov(up[k], p) / cov(low[k], p) for k in range(4)]
    np.testing.assert_allclose(net.regression_gains(pan, lms).numpy(), expected, rtol=1e-9)


def test_start_additive_is_the_mtf_glp_fs_formula_and_still_learns():
    net = create("detail-net", bands=4, mtf_gains=list(GAINS)).double()
    ms, pan, lms = _inputs(seed=2)
    gains = net.regression_gains(pan, lms)
    net.start_additive(gains)
    with torch.no_grad():
        out = net(ms, pan, lms).numpy()[0]
    p, low = pan.numpy()[0, 0], _numpy_lowpass(pan)
    expected = lms.numpy()[0] + gains.numpy()[:, None, None] * (p - low)
    np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-12)
    net(ms, pan, lms).square().mean().backward()
    assert net.alpha.grad.abs().sum() > 0 and net.tail.weight.grad.abs().sum() > 0


def test_start_additive_equals_the_classical_mtf_glp_fs_method():
    """With the classical method's own gains, the network's start is ``pansharpen`` MTF-GLP-FS
    (same MTF kernels, decimation, interp23tap and scene-wide gains)."""
    from pansharpen.classical.registry import fuse_classical
    from pansharpen.protocol.sensors import generic_sensor

    sensor = generic_sensor(GAINS, 0.15, 11, name="test")
    rng = np.random.default_rng(3)
    ms = 300 + 800 * rng.random((4, 32, 32))
    pan = 300 + 800 * rng.random((1, 128, 128))
    classical = np.asarray(fuse_classical("mtf-glp-fs", ms, pan, sensor, 4))
    net = create("detail-net", bands=4, mtf_gains=list(GAINS)).double()
    t = lambda a: torch.from_numpy(a[None] / 2047.0)  # noqa: E731
    lms = interp23tap(t(ms), 4)
    net.start_additive(net.regression_gains(t(pan), lms))
    with torch.no_grad():
        out = net(t(ms), t(pan), lms).numpy()[0] * 2047.0
    assert np.abs(classical - np.asarray(fuse_classical("exp", ms, pan, sensor, 4))).max() > 50  # real detail
    np.testing.assert_allclose(out, classical, rtol=0, atol=1e-8)


def test_start_additive_refuses_wrong_gains():
    net = create("detail-net", bands=4, mtf_gains=list(GAINS))
    with pytest.raises(ModelError):
        net.start_additive(torch.ones(3))
    with pytest.raises(ModelError):
        net.start_additive(torch.tensor([1.0, float("nan"), 1.0, 1.0]))


def test_weights_without_haze_terms_load_as_the_haze_free_network(tmp_path):
    net = create("detail-net", bands=4, mtf_gains=list(GAINS))
    state = {k: v for k, v in net.state_dict().items() if k not in ("haze", "pan_haze")}
    other = create("detail-net", bands=4, mtf_gains=list(GAINS))
    with torch.no_grad():
        other.haze.fill_(0.1)
    other.load_state_dict(state)
    assert torch.equal(other.haze, torch.zeros(4)) and torch.equal(other.pan_haze, torch.zeros(1))
    with pytest.raises(ModelError):
        net.start_haze(torch.zeros(4), float("inf"))


def test_a_blend_start_is_the_average_of_the_mra_start_and_the_cs_formula():
    """start_blend(w, c, b): F = (1 - w) F_MRA + w (lms_k + c_k . [P, lms] + b_k), F_MRA the start before it."""
    net = create("detail-net", bands=4, mtf_gains=list(GAINS)).double()
    ms, pan, lms = _inputs()
    net.start_additive(torch.tensor([0.9, 1.1, 0.8, 1.2], dtype=torch.float64))
    with torch.no_grad():
        mra = net(ms, pan, lms)
    g = torch.Generator().manual_seed(1)
    coefficients = torch.randn(4, 5, generator=g, dtype=torch.float64) * 0.3
    bias = torch.randn(4, generator=g, dtype=torch.float64) * 0.01
    net.start_blend(0.3, coefficients, bias)
    with torch.no_grad():
        out = net(ms, pan, lms)
    cs = lms + torch.einsum("kj,njhw->nkhw", coefficients, torch.cat([pan, lms], dim=1)) + bias.view(1, 4, 1, 1)
    assert (cs - mra).abs().max() > 0.05  # the two differ: the blend is not one of them
    torch.testing.assert_close(out, 0.7 * mra + 0.3 * cs, rtol=0, atol=1e-12)
    with pytest.raises(ModelError):
        net.start_blend(1.5, coefficients, bias)
    with pytest.raises(ModelError):
        net.start_blend(0.5, coefficients[:, :4], bias)


def test_weights_without_the_cs_term_load_with_it_off(tmp_path):
    net = create("detail-net", bands=4, mtf_gains=list(GAINS)).double()
    state = {k: v for k, v in net.state_dict().items() if not k.startswith("cs.")}
    other = create("detail-net", bands=4, mtf_gains=list(GAINS)).double()
    with torch.no_grad():
        other.cs.weight.fill_(1.0)
    other.load_state_dict(state)
    ms, pan, lms = _inputs(16)
    with torch.no_grad():
        torch.testing.assert_close(other(ms, pan, lms), net(ms, pan, lms), rtol=0, atol=0)


def test_a_consistent_network_gives_the_ms_back_and_tiles_beyond_its_larger_reach(tmp_path):
    from pansharpen.metrics.reprojection import reproject
    from pansharpen.protocol.consistency import consistency_reach, project_consistent

    torch.manual_seed(0)
    net = create("detail-net", bands=4, mtf_gains=list(GAINS), consistent=True).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.05 * torch.randn_like(p))
    rf = complete_card(net).receptive_field
    assert rf == 64 + consistency_reach(GAINS, 4)
    ms, pan, lms = _inputs(size=112)
    with torch.no_grad():
        whole = net(ms, pan, lms)
        plain = create("detail-net", bands=4, mtf_gains=list(GAINS)).double()
        plain.load_state_dict(net.state_dict())
        off = (reproject(plain(ms, pan, lms), GAINS, 4) - ms)[..., 32:-32, 32:-32].abs().max()
        projected = project_consistent(plain(ms, pan, lms), ms, GAINS, 4)
    on = (reproject(whole, GAINS, 4) - ms)[..., 32:-32, 32:-32].abs().max()
    torch.testing.assert_close(whole, projected, rtol=0, atol=1e-12)  # the network's output, projected
    assert off > 1e-2 and on < 0.5 * off  # nearer consistency (the Tikhonov floor leaves the weak frequencies)
    with torch.no_grad():
        k = 8
        crop = net(ms[..., k:-k, k:-k], pan[..., 4 * k:-4 * k, 4 * k:-4 * k], lms[..., 4 * k:-4 * k, 4 * k:-4 * k])
    inner = whole[..., 4 * k + rf: -4 * k - rf, 4 * k + rf: -4 * k - rf]
    assert inner.numel() > 0
    torch.testing.assert_close(crop[..., rf:-rf, rf:-rf], inner, rtol=0, atol=1e-10)
    save(net.float(), tmp_path / "c.safetensors")
    assert load(tmp_path / "c.safetensors").consistent
