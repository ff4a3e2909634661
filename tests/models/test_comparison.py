"""Comparison networks: published parameter counts (LGPConv paper Tables 2/3), behaviour, bad input."""
from __future__ import annotations

import pytest
import torch

from pansharpen.errors import ShapeError, ValueRangeError
from pansharpen.models import create
from pansharpen.models.comparison import high_pass
from pansharpen.models.registry import complete_card


# (name, bands, published params): LGPConv paper Table 2 (WV3, 8 bands) and Table 3 (GF-2/QB, 4 bands)
PUBLISHED = [
    ("pnn", 8, 104_000), ("pannet", 8, 83_000), ("dicnn", 8, 47_000), ("fusionnet", 8, 79_000),
    ("pnn", 4, 80_000), ("pannet", 4, 78_000), ("dicnn", 4, 43_000), ("fusionnet", 4, 76_000),
]


@pytest.mark.parametrize("name,bands,published", PUBLISHED)
def test_parameter_counts_within_5_percent_of_the_published_ones(name, bands, published):
    assert abs(create(name, bands=bands).card.params - published) <= 0.05 * published


@pytest.mark.parametrize("name", ["pnn", "pannet", "dicnn", "fusionnet"])
def test_output_on_the_pan_grid_for_any_band_count(name):
    model = create(name, bands=3)
    ms, pan, lms = torch.rand(2, 3, 4, 5), torch.rand(2, 1, 16, 20), torch.rand(2, 3, 16, 20)
    out = model(ms, pan, lms)
    assert out.shape == (2, 3, 16, 20) and torch.isfinite(out).all()
    assert complete_card(model).macs_per_pixel > 0 and complete_card(model).receptive_field > 0


def test_receptive_fields_follow_the_layer_stacks():
    assert complete_card(create("dicnn")).receptive_field == 3  # three 3x3
    assert complete_card(create("pnn")).receptive_field == 8  # 9x9, 5x5, 5x5: 4 + 2 + 2
    assert complete_card(create("fusionnet")).receptive_field == 10  # ten 3x3


@pytest.mark.parametrize("name", ["pannet", "dicnn", "fusionnet"])
def test_residual_networks_return_lms_when_the_last_layer_is_zero(name):
    model = create(name, bands=4)
    last = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
    ms, pan, lms = torch.rand(1, 4, 4, 4), torch.rand(1, 1, 16, 16), torch.rand(1, 4, 16, 16)
    torch.testing.assert_close(model(ms, pan, lms), lms)


def test_fusionnet_sees_only_pan_minus_lms():
    model = create("fusionnet", bands=4)
    ms, pan, lms = torch.rand(1, 4, 4, 4), torch.rand(1, 1, 16, 16), torch.rand(1, 4, 16, 16)
    shift = 0.3  # adding c to PAN and to every band leaves pan - lms unchanged: output shifts by c
    torch.testing.assert_close(model(ms, pan + shift, lms + shift), model(ms, pan, lms) + shift)


def test_pannet_uses_only_high_frequencies_of_pan_and_ms():
    model = create("pannet", bands=4)
    ms, pan, lms = torch.rand(1, 4, 6, 6), torch.rand(1, 1, 24, 24), torch.rand(1, 4, 24, 24)
    torch.testing.assert_close(model(ms + 0.5, pan - 0.2, lms), model(ms, pan, lms), rtol=0, atol=1e-5)


def test_high_pass_of_a_constant_is_zero_and_of_a_hand_case():
    assert high_pass(torch.full((1, 2, 7, 7), 3.0)).abs().max() == 0
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 4] = 25.0
    hp = high_pass(x)
    assert hp[0, 0, 4, 4] == pytest.approx(24.0) and hp[0, 0, 2, 2] == pytest.approx(-1.0) and hp[0, 0, 1, 1] == 0


@pytest.mark.parametrize("name", ["pnn", "pannet", "dicnn", "fusionnet"])
def test_bad_input(name):
    model = create(name)
    with pytest.raises(ShapeError):
        model(torch.rand(1, 4, 4, 4), torch.rand(1, 1, 16, 16), torch.rand(1, 4, 16, 16))
    with pytest.raises(ShapeError):
        model(torch.rand(1, 8, 4, 4), torch.rand(1, 1, 12, 16), torch.rand(1, 8, 12, 16))
    pan = torch.rand(1, 1, 16, 16)
    pan[..., 0, 0] = float("nan")
    with pytest.raises(ValueRangeError):
        model(torch.rand(1, 8, 4, 4), pan, torch.rand(1, 8, 16, 16))
