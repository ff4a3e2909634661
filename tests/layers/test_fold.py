"""Inference fold: dense conv + exact bias map equals the factorised layer for any size."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from pansharpen.layers import BSConv, FoldedConv2d, LGPConv, SpanConv, fold_modules


def _randomise(layer, std=0.4, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * std)
    return layer


LAYERS = [
    lambda: SpanConv(5, 6),
    lambda: SpanConv(4, 3, kernel_size=5, num_kernels=3),
    lambda: BSConv(5, 6),
    lambda: BSConv(5, 6, pointwise_bias=True),
    lambda: LGPConv(5, 6),
    lambda: LGPConv(5, 6, mode="premier"),
    lambda: LGPConv(5, 6, mode="no_noise"),
]
SIZES = [(1, 1), (1, 4), (2, 3), (3, 3), (4, 5), (5, 5), (6, 17), (23, 8)]


@pytest.mark.parametrize("make", LAYERS)
def test_fold_is_exact_for_every_size_with_nonzero_biases(make):
    layer = _randomise(make().double())
    folded = layer.fold()
    for h, w in SIZES:
        x = torch.randn(2, layer.in_channels, h, w, dtype=torch.float64)
        torch.testing.assert_close(folded(x), layer(x), rtol=0, atol=1e-12, msg=f"size {h}x{w}")


def test_spanconv_folds_into_one_dense_conv_with_a_border_bias():
    layer = _randomise(SpanConv(3, 4))
    folded = layer.fold()
    assert isinstance(folded, FoldedConv2d) and folded.weight.shape == (4, 3, 3, 3) and folded.has_border
    # the bias map really is needed: a constant bias is wrong at the border
    x = torch.randn(1, 3, 9, 9)
    constant = nn.functional.conv2d(x, folded.weight, folded.bias, padding=1)
    assert (constant - layer(x)).abs().max() > 1e-3


def test_zero_bias_layers_need_no_border_work():
    assert not SpanConv(3, 4).fold().has_border


def test_folded_layer_is_independent_of_later_training():
    layer = _randomise(SpanConv(3, 3))
    folded = layer.fold()
    x = torch.randn(1, 3, 2, 2)
    before = folded(x).clone()
    with torch.no_grad():
        layer.pointwise_bias.add_(1.0)
    torch.testing.assert_close(folded(x), before)


def test_fold_modules_replaces_nested_layers_and_keeps_the_original():
    net = nn.Sequential(_randomise(SpanConv(2, 4)), nn.ReLU(), nn.Sequential(_randomise(LGPConv(4, 2), seed=1)))
    folded = fold_modules(net)
    assert isinstance(net[0], SpanConv) and isinstance(folded[0], FoldedConv2d)
    x = torch.randn(1, 2, 10, 7)
    torch.testing.assert_close(folded(x), net(x), rtol=1e-5, atol=1e-5)
