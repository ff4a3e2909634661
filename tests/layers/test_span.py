"""SpanConv: parameter count, SpanKernel (dense equivalent), init, bad input."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from pansharpen.errors import ShapeError
from pansharpen.layers import SpanConv, span_param_count


def _randomise(layer, std=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * std)
    return layer


@pytest.mark.parametrize("cin,cout,k,n", [(9, 9, 3, 2), (32, 16, 3, 2), (4, 7, 5, 3), (3, 2, 1, 1)])
def test_parameter_count_formula(cin, cout, k, n):
    layer = SpanConv(cin, cout, k, num_kernels=n)
    assert sum(p.numel() for p in layer.parameters()) == span_param_count(cin, cout, k, n) == n * cout * (cin + k * k + 2)


def test_lightnet_layer_counts_from_the_paper_code():
    # seed-implementations 1.3: head 3,144 = SpanConv(9,9) + (9,20) + (20,32)
    assert span_param_count(9, 9) + span_param_count(9, 20) + span_param_count(20, 32) == 3144


def test_span_kernel_matches_explicit_sum_and_dense_conv():
    layer = _randomise(SpanConv(5, 4, 3, num_kernels=3))
    with torch.no_grad():
        layer.pointwise_bias.zero_()
        layer.depthwise_bias.zero_()
    P, D = layer.pointwise_weight.detach(), layer.depthwise_weight.detach()
    expected = torch.zeros(4, 5, 3, 3)
    for o in range(4):
        for i in range(5):
            for n in range(3):
                expected[o, i] += P[n, o, i] * D[n, o]
    torch.testing.assert_close(layer.effective_kernel().detach(), expected, rtol=0, atol=1e-6)
    x = torch.randn(2, 5, 11, 8)
    torch.testing.assert_close(layer(x), F.conv2d(x, expected, padding=1), rtol=0, atol=1e-5)


def test_hand_computed_single_channel():
    # 1 -> 1 channel, N = 2: y = d1 * (p1 x + b1) + c1 + d2 * (p2 x + b2) + c2 on a constant-free 1x1 kernel
    layer = SpanConv(1, 1, kernel_size=1, num_kernels=2)
    with torch.no_grad():
        layer.pointwise_weight.copy_(torch.tensor([[[2.0]], [[-1.0]]]))
        layer.pointwise_bias.copy_(torch.tensor([[0.5], [1.0]]))
        layer.depthwise_weight.copy_(torch.tensor([[[[3.0]]], [[[4.0]]]]).view(2, 1, 1, 1))
        layer.depthwise_bias.copy_(torch.tensor([[0.25], [-0.25]]))
    x = torch.tensor([[[[1.0, -2.0]]]])
    # x=1: 3*(2+0.5)+0.25 + 4*(-1+1)-0.25 = 7.5 ; x=-2: 3*(-4+0.5)+0.25 + 4*(2+1)-0.25 = 1.5
    torch.testing.assert_close(layer(x), torch.tensor([[[[7.5, 1.5]]]]))


def test_bias_is_position_dependent_at_the_border():
    layer = _randomise(SpanConv(3, 2))
    out = layer(torch.zeros(1, 3, 6, 6))[0]
    interior = (layer.pointwise_bias[:, :, None, None] * layer.depthwise_weight).sum((0, 2, 3)) + layer.depthwise_bias.sum(0)
    torch.testing.assert_close(out[:, 1:-1, 1:-1], interior[:, None, None].expand(2, 4, 4), rtol=0, atol=1e-6)
    assert (out[:, 0, 0] - interior).abs().max() > 1e-3


def test_init_is_kaiming_fan_out_with_zero_biases():
    layer = SpanConv(64, 256)
    assert layer.pointwise_weight.std().item() == pytest.approx(math.sqrt(2 / 256), rel=0.05)
    assert layer.depthwise_weight.std().item() == pytest.approx(math.sqrt(2 / (9 * 256)), rel=0.05)
    assert layer.pointwise_bias.abs().sum() == 0 and layer.depthwise_bias.abs().sum() == 0


def test_init_is_reproducible_with_a_generator():
    a, b = SpanConv(4, 4), SpanConv(4, 4)
    a.reset_parameters(torch.Generator().manual_seed(3))
    b.reset_parameters(torch.Generator().manual_seed(3))
    assert torch.equal(a.pointwise_weight, b.pointwise_weight)


def test_gradients_reach_every_parameter():
    layer = _randomise(SpanConv(3, 4))
    layer(torch.randn(1, 3, 5, 5)).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in layer.parameters())


def test_bad_input():
    with pytest.raises(ShapeError, match="expects"):
        SpanConv(3, 4)(torch.randn(1, 2, 5, 5))
    with pytest.raises(ShapeError, match="expects"):
        SpanConv(3, 4)(torch.randn(3, 5, 5))
    with pytest.raises(ShapeError, match="odd kernel_size"):
        SpanConv(3, 4, kernel_size=2)
    with pytest.raises(ShapeError, match="num_kernels"):
        SpanConv(3, 4, num_kernels=0)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_dense_and_factorised_compute_the_same_function_and_gradients(n):
    """The dense form (one conv + exact border bias map) equals the paper's branches, gradients too."""
    torch.manual_seed(n)
    dense = SpanConv(5, 7, num_kernels=n, compute="dense")
    with torch.no_grad():
        for p in (dense.pointwise_bias, dense.depthwise_bias):
            p.normal_()  # non-zero biases exercise the border bias map
    fact = SpanConv(5, 7, num_kernels=n, compute="factorised")
    fact.load_state_dict(dense.state_dict())
    x = torch.randn(2, 5, 9, 11, dtype=torch.float64)
    dense.double(), fact.double()
    yd, yf = dense(x), fact(x)
    assert torch.allclose(yd, yf, atol=1e-12)
    # with a zero input only the bias map is left: it differs between the corner and the inside
    zero = dense(torch.zeros_like(x))
    assert not torch.allclose(zero[..., 0, 0], zero[..., 4, 4])
    assert torch.allclose(zero, fact(torch.zeros_like(x)), atol=1e-12)
    yd.square().sum().backward(), yf.square().sum().backward()
    for (name, a), (_, b) in zip(dense.named_parameters(), fact.named_parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-10), name


def test_balanced_init_keeps_the_signal_variance_through_lightnet():
    """Authors' init shrinks a layer's output variance by ~4 N Cin / Cout^2; 'balanced' keeps it O(1)."""
    from pansharpen.models.lightnet import LightNet

    torch.manual_seed(0)
    x = torch.randn(4, 32, 32, 32)
    authors = SpanConv(32, 32, init="authors")
    balanced = SpanConv(32, 32, init="balanced")
    with torch.no_grad():
        ratio_authors = authors(x).var().item() / x.var().item()
        ratio_balanced = balanced(x).var().item() / x.var().item()
    assert 0.15 < ratio_authors < 0.4  # expected 4 * 2 * 32 / 32^2 = 0.25
    assert 1.5 < ratio_balanced < 2.6  # He gain 2
    with pytest.raises(ValueError, match="init"):
        SpanConv(3, 3, init="xavier")
    with pytest.raises(ValueError, match="compute"):
        SpanConv(3, 3, compute="fast")
    net = LightNet(init="balanced")
    assert all(m.init == "balanced" for m in net.modules() if isinstance(m, SpanConv))
