"""MACs per output pixel and empirical receptive field, on hand-computable stand-in models."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pansharpen.errors import ModelError
from pansharpen.models.base import FusionModel
from pansharpen.models.complexity import ComplexityMixin, macs_per_pixel, receptive_field


class Stack(ComplexityMixin, FusionModel):
    """cat[pan, lms] -> convs with the given kernel sizes (C+1 -> 6 -> ... -> C), + lms."""

    def __init__(self, bands=3, kernels=(3, 3), zero=False):
        super().__init__()
        self.bands = bands
        chans = [bands + 1] + [6] * (len(kernels) - 1) + [bands]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, k, padding=k // 2) for a, b, k in zip(chans, chans[1:], kernels))
        if zero:
            for c in self.convs:
                nn.init.zeros_(c.weight)

    def fuse(self, ms, pan, lms):
        x = torch.cat([pan, lms], 1)
        for i, conv in enumerate(self.convs):
            x = conv(x) if i == len(self.convs) - 1 else torch.relu(conv(x))
        return lms + x


class FromMs(ComplexityMixin, FusionModel):
    """Uses only ms: 3x3 conv at low resolution, then nearest x4 (no lms)."""

    needs_lms = False

    def __init__(self, bands=2):
        super().__init__()
        self.bands = bands
        self.conv = nn.Conv2d(bands, bands, 3, padding=1)

    def fuse(self, ms, pan, lms):
        return F.interpolate(self.conv(ms), scale_factor=4, mode="nearest") + 0 * pan

    def extra_macs(self, ms, pan):
        return 7.0 * pan.shape[-1] * pan.shape[-2]  # 7 uncounted MACs per output pixel


def test_macs_per_pixel_of_a_conv_stack_is_the_hand_count():
    model = Stack(bands=3, kernels=(3, 5))
    # 3x3: 4 -> 6 channels = 9*4*6 ; 5x5: 6 -> 3 = 25*6*3
    assert macs_per_pixel(model) == 9 * 4 * 6 + 25 * 6 * 3
    assert macs_per_pixel(model, size=32) == macs_per_pixel(model, size=64)


def test_extra_macs_are_added_and_low_resolution_work_is_per_output_pixel():
    # conv on the 16x16 ms: 9*2*2 MACs per ms pixel = 36/16 per output pixel; plus 7 extra
    assert macs_per_pixel(FromMs()) == pytest.approx(36 / 16 + 7)


@pytest.mark.parametrize("kernels,radius", [((3,), 1), ((3, 3), 2), ((3, 5, 9), 7)])
def test_receptive_field_is_the_sum_of_kernel_radii(kernels, radius):
    assert receptive_field(Stack(kernels=kernels)) == radius


def test_receptive_field_does_not_depend_on_zero_weights():
    assert receptive_field(Stack(kernels=(3, 3), zero=True)) == 2


def test_receptive_field_grows_the_probe_when_needed():
    assert receptive_field(Stack(kernels=(9, 9, 9)), size=16) == 12


def test_receptive_field_through_low_resolution_ms():
    # one ms pixel of context on each side, seen through x4 nearest upsampling: output pixel
    # 32 lies in ms pixel 8; ms pixels 7..9 cover PAN pixels 28..39 -> radius 7
    assert receptive_field(FromMs()) == 7


def test_mixin_feeds_the_card_and_caches():
    model = Stack(kernels=(3, 3))
    assert model.receptive_field() == 2 and model.macs_per_pixel() == 9 * 4 * 6 + 9 * 6 * 3


def test_size_must_be_a_multiple_of_the_ratio():
    with pytest.raises(ModelError, match="multiple"):
        macs_per_pixel(Stack(), size=30)
