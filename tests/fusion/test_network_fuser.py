"""The network fuser on whole images (``fuse_image``) against the plain forward; fp32 math on CUDA."""
from __future__ import annotations

import numpy as np
import torch

from pansharpen.fusion.network_fuser import NetworkFuser, fp32_math
from pansharpen.models import create

from .test_fusers import _image


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


def test_fp32_math_turns_tf32_off_on_cuda_only_and_restores_the_settings():
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    with fp32_math("cpu"):
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before
    with fp32_math("cuda"):  # the flags are plain settings: they can be checked without a GPU
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before
