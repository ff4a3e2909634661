"""BSConv-U: parameter count, blueprint kernel, bad input."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pansharpen.errors import ShapeError
from pansharpen.layers import BSConv, bs_param_count


@pytest.mark.parametrize("pointwise_bias", [False, True])
@pytest.mark.parametrize("cin,cout,k", [(9, 20, 3), (32, 32, 3), (3, 5, 5)])
def test_parameter_count_formula(cin, cout, k, pointwise_bias):
    layer = BSConv(cin, cout, k, pointwise_bias=pointwise_bias)
    n = sum(p.numel() for p in layer.parameters())
    assert n == bs_param_count(cin, cout, k, pointwise_bias)
    # Haase & Amthor / LGPConv Table 1: Cout (K^2 + Cin) weights, plus biases
    assert n == cout * (k * k + cin) + cout * (1 + pointwise_bias)


def test_blueprint_kernel_is_rank_one_per_output_channel_and_matches_conv2d():
    torch.manual_seed(0)
    layer = BSConv(6, 4)
    with torch.no_grad():
        layer.depthwise_bias.zero_()
    W = layer.effective_kernel().detach()
    for o in range(4):  # every input-channel slice is a multiple of the blueprint
        flat = W[o].reshape(6, 9)
        assert torch.linalg.matrix_rank(flat).item() == 1
        torch.testing.assert_close(flat[2], layer.pointwise_weight[o, 2].detach() * layer.depthwise_weight[o].detach().reshape(9))
    x = torch.randn(1, 6, 9, 10)
    torch.testing.assert_close(layer(x), F.conv2d(x, W, padding=1), rtol=0, atol=1e-5)


def test_bad_input():
    with pytest.raises(ShapeError):
        BSConv(3, 4)(torch.randn(1, 4, 5, 5))
    with pytest.raises(ShapeError, match="odd"):
        BSConv(3, 4, kernel_size=4)
