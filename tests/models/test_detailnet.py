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
