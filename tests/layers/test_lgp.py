"""LGPConv: parameter counts, the 5x5 LGPKernel (Eq. 12), ablation modes, init, bad input."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pansharpen.errors import ShapeError
from pansharpen.layers import BSConv, LGPConv, lgp_param_count


def _randomise(layer, std=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * std)
    return layer


@pytest.mark.parametrize("mode", ["full", "premier", "no_noise"])
@pytest.mark.parametrize("cin,cout", [(9, 20), (32, 32), (16, 8)])
def test_parameter_count_formula(cin, cout, mode):
    n = sum(p.numel() for p in LGPConv(cin, cout, mode=mode).parameters())
    assert n == lgp_param_count(cin, cout, 3, mode)
    expected = cout * (cin + cout + 20) if mode != "premier" else cout * (cin + 11)
    assert n == expected


def test_lgpconv_net_layer_counts_from_the_authors_code():
    # seed-implementations 2.4: head 3,284 = LGPConv(9,20) + LGPConv(20,32); tail 1,728
    assert lgp_param_count(9, 20) + lgp_param_count(20, 32) == 3284
    assert lgp_param_count(32, 16) + lgp_param_count(16, 8) + lgp_param_count(8, 8) == 1728


def _explicit_lgp_kernel(P, B, G, M):
    """Eq. 12 written out with loops: K[o,i] = pad(P[o,i] B[o]) + sum_j M[o,j] P[j,i] (G[j] conv B[j])."""
    cout, cin = P.shape
    K = torch.zeros(cout, cin, 5, 5, dtype=P.dtype)
    GB = torch.zeros(cout, 5, 5, dtype=P.dtype)
    for j in range(cout):  # full convolution of two 3x3 kernels: offsets add
        for a in range(3):
            for b in range(3):
                GB[j, a : a + 3, b : b + 3] += G[j, a, b] * B[j]
    for o in range(cout):
        for i in range(cin):
            K[o, i, 1:4, 1:4] += P[o, i] * B[o]
            for j in range(cout):
                K[o, i] += M[o, j] * P[j, i] * GB[j]
    return K


def test_effective_5x5_kernel_matches_eq12_and_conv2d_in_the_interior():
    layer = _randomise(LGPConv(4, 5).double())
    with torch.no_grad():
        layer.pointwise_bias.zero_()
        layer.depthwise_bias.zero_()
    K = layer.effective_kernel().detach()
    P, B, G, M = (t.detach() for t in (layer.pointwise_weight, layer.depthwise_weight, layer.perturb_depthwise, layer.perturb_pointwise))
    torch.testing.assert_close(K, _explicit_lgp_kernel(P, B, G, M), rtol=0, atol=1e-12)
    x = torch.randn(2, 4, 12, 9, dtype=torch.float64)
    dense = F.conv2d(x, K, padding=2)
    out = layer(x).detach()
    torch.testing.assert_close(out[..., 2:-2, 2:-2], dense[..., 2:-2, 2:-2], rtol=0, atol=1e-10)
    # at the 2-pixel border the layer zero-pads y before G: one 5x5 kernel is not exact there
    assert (out - dense).abs().max() > 1e-6


def test_perturbation_changes_the_premier_output_by_M_G():
    layer = _randomise(LGPConv(3, 4))
    x = torch.randn(1, 3, 6, 7)
    y = layer.premier()(x)
    z = F.conv2d(F.conv2d(y, layer.perturb_depthwise.view(4, 1, 3, 3), padding=1, groups=4), layer.perturb_pointwise.view(4, 4, 1, 1))
    torch.testing.assert_close(layer(x), y + z)


def test_premier_mode_is_bsconv_with_pointwise_bias():
    layer = _randomise(LGPConv(3, 4, mode="premier"))
    assert layer.perturb_depthwise is None and layer.radius == 1
    bs = BSConv(3, 4, pointwise_bias=True)
    bs.load_state_dict(layer.state_dict())
    x = torch.randn(1, 3, 5, 5)
    torch.testing.assert_close(layer(x), bs(x))


def test_no_noise_mode_starts_at_the_premier_kernel_and_learns_the_branch():
    layer = LGPConv(4, 6, mode="no_noise")
    assert layer.perturb_depthwise.abs().sum() == 0
    assert torch.equal(layer.perturb_pointwise.detach(), torch.eye(6))
    x = torch.randn(1, 4, 7, 7)
    torch.testing.assert_close(layer(x), layer.premier()(x))
    layer(x).square().sum().backward()
    assert layer.perturb_depthwise.grad.abs().sum() > 0


def test_full_mode_noise_std_default_is_the_papers_and_configurable():
    layer = LGPConv(64, 256)
    assert layer.noise_std == (0.005, 0.005)
    assert layer.perturb_depthwise.std().item() == pytest.approx(0.005, rel=0.05)
    assert layer.perturb_pointwise.std().item() == pytest.approx(0.005, rel=0.05)
    code = LGPConv(64, 256, noise_std=(1e-4, 3e-3))
    assert code.perturb_depthwise.std().item() == pytest.approx(1e-4, rel=0.05)
    assert code.perturb_pointwise.std().item() == pytest.approx(3e-3, rel=0.05)


def test_forward_is_deterministic_in_train_and_eval():
    layer = _randomise(LGPConv(3, 3))
    x = torch.randn(1, 3, 8, 8)
    a = layer.train()(x)
    b = layer.eval()(x)
    assert torch.equal(a, b)


def test_bad_input():
    with pytest.raises(ShapeError):
        LGPConv(3, 4)(torch.randn(1, 5, 8, 8))
    with pytest.raises(ValueError, match="mode"):
        LGPConv(3, 4, mode="gaussian")
    with pytest.raises(ValueError, match="noise_std"):
        LGPConv(3, 4, noise_std=-1.0)
    with pytest.raises(ShapeError, match="odd"):
        LGPConv(3, 4, kernel_size=2)
