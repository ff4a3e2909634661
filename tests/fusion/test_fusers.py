"""Fusers on whole images (``fuse_image``, what the benchmark runs) against the plain computation."""
from __future__ import annotations

import numpy as np
import torch

from pansharpen.classical.registry import get_method
from pansharpen.fusion.fusers import ClassicalFuser
from pansharpen.fusion.network_fuser import NetworkFuser
from pansharpen.models import create
from pansharpen.protocol import get_sensor
from pansharpen.protocol.interp import interp23tap


def _image(seed=0, bands=4, h=8, w=8):
    rng = np.random.default_rng(seed)
    ms = rng.uniform(200, 1500, (bands, h, w))
    pan = interp23tap(ms, 4).mean(axis=0, keepdims=True) + rng.normal(0, 20, (1, 4 * h, 4 * w))
    return ms, pan


def test_network_fuse_image_is_the_plain_forward_on_the_card_scale():
    torch.manual_seed(0)
    model = create("lgpconv-net", bands=4)
    ms, pan = _image()
    lms = np.repeat(np.repeat(ms, 4, axis=1), 4, axis=2)  # a given lms (a test set's) is used as is
    fuser = NetworkFuser(model, form="eager", subtile=None)
    norm = model.card.normaliser
    with torch.no_grad():
        model.eval()
        args = [torch.from_numpy((a[None] / norm).astype(np.float32)) for a in (ms, pan, lms)]
        plain = model(*args)[0].double().numpy() * norm
        plain_own_lms = model(*args[:2])[0].double().numpy() * norm
    np.testing.assert_array_equal(fuser.fuse_image(ms, pan, lms), plain)
    np.testing.assert_array_equal(fuser.fuse_image(ms, pan), plain_own_lms)
    assert not model.card.receptive_field  # whole images need no halo: nothing was measured


def test_classical_fuse_image_is_the_method_with_its_options():
    ms, pan = _image(1)
    sensor = get_sensor("QB")
    fuser = ClassicalFuser("bdsd", sensor, 4, {"block": 16})
    np.testing.assert_array_equal(fuser.fuse_image(ms, pan), get_method("bdsd")(ms, pan, sensor, 4, block=16))
    assert not np.array_equal(fuser.fuse_image(ms, pan), get_method("bdsd")(ms, pan, sensor, 4, block=32))


def test_fp32_math_turns_tf32_off_on_cuda_only_and_restores_the_settings():
    import torch

    from pansharpen.fusion.network_fuser import fp32_math

    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    with fp32_math("cpu"):
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before
    with fp32_math("cuda"):  # the flags are plain settings: they can be checked without a GPU
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before
