"""Ada3D layer: efficient form vs a naive materialised kernel, tap order, normalisation,
parameter count, strips, autograd, bias modes, bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pansharpen.errors import ShapeError
from pansharpen.layers import ada3d as ada3d_module
from pansharpen.layers.ada3d import Ada3D, adaptive_conv3d, normalise_taps

GAIN_OVER_K = math.sqrt(2.0 / (1.0 + 0.01**2)) / 3.0


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def naive_correlation(x, spectral, spatial):
    """Materialises K (B,C,L,H,W,27) and the 27 patches, then sums their product."""
    B, C, L, H, W = x.shape
    kernel = spectral.permute(0, 1, 3, 2)[:, :, :, None, None, :] * spatial.permute(0, 1, 3, 4, 2)[:, :, None]
    patches = F.pad(x, (1,) * 6).unfold(2, 3, 1).unfold(3, 3, 1).unfold(4, 3, 1)  # (..., dl, dh, dw)
    return (kernel * patches.reshape(B, C, L, H, W, 27)).sum(-1)


def naive_layer(layer: Ada3D, x, y):
    """Ada3D written from the equations with the whole per-voxel kernel built explicitly."""
    B, C, L, H, W = x.shape
    T = 27

    def norm(v):  # v (..., 27)
        return (v - v.mean(-1, keepdim=True)) / (v.std(-1, keepdim=True) + 1e-10) * GAIN_OVER_K

    g0, _, g1 = layer.spectral_generator
    s = x.mean((3, 4))[..., None, None]
    spe = F.conv3d(F.leaky_relu(F.conv3d(s, g0.weight, g0.bias, padding=(1, 0, 0)), 0.2), g1.weight, g1.bias, padding=(1, 0, 0))
    spe = norm(spe.reshape(B, C, T, L).permute(0, 1, 3, 2))  # (B,C,L,T)
    h0, _, h1 = layer.spatial_generator
    spa = F.conv2d(F.leaky_relu(F.conv2d(y, h0.weight, h0.bias, padding=1), 0.2), h1.weight, h1.bias, padding=1)
    spa = norm(spa.reshape(B, C, T, H, W).permute(0, 1, 3, 4, 2))  # (B,C,H,W,T)
    kernel = spe[:, :, :, None, None, :] * spa[:, :, None]  # (B,C,L,H,W,T)
    patches = F.pad(x, (1,) * 6).unfold(2, 3, 1).unfold(3, 3, 1).unfold(4, 3, 1).reshape(B, C, L, H, W, T)
    conv = (kernel * patches).sum(-1)
    bias = layer.bias
    b_spe = F.conv3d(s, bias.spectral.weight, bias.spectral.bias, padding=(1, 0, 0))  # (B,1,L,1,1)
    b_spa = F.conv2d(y, bias.spatial.weight, bias.spatial.bias, padding=1)[:, :, None]  # (B,1,1,H,W)
    both = torch.cat([x.mean((2, 3, 4)), y.mean((2, 3))], 1)[..., None, None, None]
    c0, _, c1 = bias.channel
    b_chan = F.conv3d(F.leaky_relu(F.conv3d(both, c0.weight, c0.bias), 0.2), c1.weight, c1.bias)  # (B,C,1,1,1)
    if layer.bias_mode == "bounded":
        b_spe, b_spa, b_chan = torch.tanh(b_spe), torch.tanh(b_spa), torch.tanh(b_chan)
    return conv + b_spe * b_spa * b_chan


def _inputs(B=2, C=4, Cs=5, L=6, H=7, W=9, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, C, L, H, W, generator=g, dtype=dtype), torch.randn(B, Cs, H, W, generator=g, dtype=dtype)


def test_correlation_equals_materialised_kernel():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 5, 6, 7, generator=g, dtype=torch.float64)
    spe = torch.randn(2, 3, 27, 5, generator=g, dtype=torch.float64)
    spa = torch.randn(2, 3, 27, 6, 7, generator=g, dtype=torch.float64)
    torch.testing.assert_close(adaptive_conv3d(x, spe, spa), naive_correlation(x, spe, spa), rtol=0, atol=1e-12)


@pytest.mark.parametrize("dl,dh,dw", [(0, 0, 0), (2, 1, 0), (1, 2, 2), (1, 1, 1)])
def test_tap_order_is_9dl_3dh_dw(dl, dh, dw):
    """A one-hot tap t = 9 dl + 3 dh + dw picks x[l+dl-1, h+dh-1, w+dw-1] (zero outside)."""
    x = torch.arange(1.0, 1 + 4 * 5 * 6, dtype=torch.float64).reshape(1, 1, 4, 5, 6)
    t = 9 * dl + 3 * dh + dw
    spe = torch.zeros(1, 1, 27, 4, dtype=torch.float64)
    spa = torch.zeros(1, 1, 27, 5, 6, dtype=torch.float64)
    spe[:, :, t] = 1.0
    spa[:, :, t] = 1.0
    expected = np.pad(x[0, 0].numpy(), 1)[dl : dl + 4, dh : dh + 5, dw : dw + 6]
    np.testing.assert_array_equal(adaptive_conv3d(x, spe, spa)[0, 0].numpy(), expected)


def test_normalise_taps_matches_numpy():
    v = np.random.default_rng(0).normal(size=(3, 27, 4))
    got = normalise_taps(torch.from_numpy(v), 1).numpy()
    expected = (v - v.mean(1, keepdims=True)) / (v.std(1, ddof=1, keepdims=True) + 1e-10) * math.sqrt(2 / 1.0001) / 3
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # identical taps: zeros, not NaN, and a finite gradient
    flat = torch.ones(2, 27, requires_grad=True)
    out = normalise_taps(flat, 1)
    out.sum().backward()
    assert torch.count_nonzero(out) == 0 and torch.isfinite(flat.grad).all()


@pytest.mark.parametrize("bias", ["reference", "bounded"])
def test_layer_equals_naive_implementation(bias):
    torch.manual_seed(0)
    layer = Ada3D(4, 5, spectral_ratio=0.5, spatial_ratio=1.0, bias_ratio=0.25, bias=bias).double()
    x, y = _inputs()
    with torch.no_grad():
        expected = naive_layer(layer, x, y)
        torch.testing.assert_close(layer(x, y), expected, rtol=0, atol=1e-10)
        layer.strip_bytes = 1  # one row per strip
        torch.testing.assert_close(layer(x, y), expected, rtol=0, atol=1e-10)
        layer.strip_bytes = 4 * 27 * 9 * 8 * 3  # three rows per strip, last strip shorter
        torch.testing.assert_close(layer(x, y), expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("bias", ["reference", "bounded"])
def test_fused_strip_expression_equals_naive_layer(bias, monkeypatch):
    """The one-expression strip (what torch.compile fuses), run eagerly, equals the naive layer."""
    torch.manual_seed(0)
    layer = Ada3D(4, 5, spectral_ratio=0.5, spatial_ratio=1.0, bias_ratio=0.25, bias=bias).double()
    layer.strip_bytes = 4 * 27 * 9 * 8 * 3  # three rows per strip, last strip shorter
    x, y = _inputs()
    monkeypatch.setattr(ada3d_module, "_FUSE_MIN_VOXELS", 0)
    monkeypatch.setitem(ada3d_module._FUSED, "fn", ada3d_module.strip_output)
    with torch.no_grad():
        torch.testing.assert_close(layer(x, y), naive_layer(layer, x, y), rtol=0, atol=1e-10)


@pytest.mark.slow
def test_compiled_strip_equals_eager_layer(monkeypatch):
    """TorchInductor's fused strip (float32) equals the eager tap loop; skipped where it cannot compile."""
    monkeypatch.delitem(ada3d_module._FUSED, "fn", raising=False)
    fn = ada3d_module.fused_strip_kernel()
    if fn is None:
        pytest.skip("torch.compile is unavailable here (the eager loop is used)")
    torch.manual_seed(0)
    layer = Ada3D(4, 5, spectral_ratio=0.5, spatial_ratio=1.0, bias_ratio=0.25, bias="bounded")
    layer.strip_bytes = 4 * 27 * 11 * 2  # two rows per strip, last strip shorter
    x, y = _inputs(H=9, W=11, dtype=torch.float32)
    with torch.no_grad():
        monkeypatch.setitem(ada3d_module._FUSED, "fn", None)
        eager = layer(x, y)
        monkeypatch.setattr(ada3d_module, "_FUSE_MIN_VOXELS", 0)
        monkeypatch.setitem(ada3d_module._FUSED, "fn", fn)
        torch.testing.assert_close(layer(x, y), eager, rtol=1e-5, atol=1e-5)


def test_gradients_equal_naive_gradients():
    torch.manual_seed(0)
    layer = Ada3D(3, 4, bias="reference").double()
    x, y = _inputs(B=1, C=3, Cs=4, L=4, H=5, W=6)
    grads = []
    for fn in (layer, lambda a, b: naive_layer(layer, a, b)):
        xr, yr = x.clone().requires_grad_(), y.clone().requires_grad_()
        layer.zero_grad()
        (fn(xr, yr) * torch.linspace(-1, 1, xr.numel(), dtype=xr.dtype).view_as(xr)).sum().backward()
        grads.append([xr.grad, yr.grad] + [p.grad.clone() for p in layer.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_correlation_gradcheck():
    g = torch.Generator().manual_seed(2)
    args = (
        torch.randn(1, 1, 2, 3, 2, generator=g, dtype=torch.float64, requires_grad=True),
        torch.randn(1, 1, 27, 2, generator=g, dtype=torch.float64, requires_grad=True),
        torch.randn(1, 1, 27, 3, 2, generator=g, dtype=torch.float64, requires_grad=True),
    )
    assert torch.autograd.gradcheck(adaptive_conv3d, args)


@pytest.mark.parametrize(
    "C,Cs,ratios,expected",
    [
        (48, 48, (0.25, 0.25, 1 / 32), 197_213),  # seed-implementations 3.3: pansharpening layer
        (8, 32, (1.0, 1.0, 0.25), None),
        (32, 64, (0.5, 0.375, 0.125), None),
        (3, 2, (1.0, 2.0, 1.0), None),
    ],
)
def test_parameter_count_formula(C, Cs, ratios, expected):
    layer = Ada3D(C, Cs, 3, *ratios)
    counted = sum(p.numel() for p in layer.parameters())
    assert Ada3D.parameter_count(C, Cs, 3, *ratios) == counted
    if expected is not None:
        assert counted == expected


def test_hand_count_of_pansharpening_layer_parts():
    layer = Ada3D(48, 48, 3, 0.25, 0.25, 1 / 32)
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    # 48*12*3+12 + 12*1296*3+1296 ; 48*12*9+12 + 12*1296*9+1296 ; 145 + 433 + (96*3+3) + (3*48+48)
    assert (n(layer.spectral_generator), n(layer.spatial_generator), n(layer.bias)) == (49_692, 146_460, 1_061)


def test_bounded_bias_is_bounded_and_reference_is_not():
    torch.manual_seed(0)
    layer = Ada3D(2, 3, bias="bounded")
    x, y = _inputs(B=1, C=2, Cs=3, L=3, H=4, W=4, dtype=torch.float32)
    with torch.no_grad():
        for p in layer.bias.parameters():
            p.fill_(1.0)
        bounded = layer(x * 0, y * 1e3)  # x = 0: the output is the bias alone
        layer.bias_mode = "reference"
        reference = layer(x * 0, y * 1e3)
    assert bounded.abs().max() <= 1.0 and torch.isfinite(bounded).all()
    assert reference.abs().max() > 1e3


def test_nothing_is_retained_between_calls():
    layer = Ada3D(2, 3)
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    x, y = _inputs(B=1, C=2, Cs=3, L=3, H=4, W=4, dtype=torch.float32)
    with torch.no_grad():
        layer(x, y)
    assert not any(isinstance(v, torch.Tensor) for m in layer.modules() for v in vars(m).values())
    assert list(layer.buffers()) == [] and layer.state_dict().keys() == before.keys()


def test_pooled_statistics_override():
    torch.manual_seed(0)
    layer = Ada3D(2, 3).double()
    x, y = _inputs(B=1, C=2, Cs=3, L=3, H=6, W=6)
    with torch.no_grad():
        whole = layer(x, y)
        crop = layer(x[..., :4, :], y[..., :4, :], pooled=layer.pool(x, y))
    # rows 0..1 of the crop see the same local data (guide reach 2 rows) and the same global statistics
    torch.testing.assert_close(crop[..., :2, :], whole[..., :2, :], rtol=0, atol=1e-12)


def test_bad_input():
    layer = Ada3D(2, 3)
    x, y = _inputs(B=1, C=2, Cs=3, L=3, H=4, W=4, dtype=torch.float32)
    with pytest.raises(ShapeError, match="cube channels"):
        layer(x.repeat(1, 2, 1, 1, 1), y)
    with pytest.raises(ShapeError, match="guide channels"):
        layer(x, y[:, :2])
    with pytest.raises(ShapeError, match="height and width"):
        layer(x, y[..., :3])
    with pytest.raises(ShapeError):
        layer(x[0], y)
    with pytest.raises(ShapeError, match="odd"):
        Ada3D(2, 3, kernel_size=2)
    with pytest.raises(ValueError, match="bias"):
        Ada3D(2, 3, bias="clamped")
    with pytest.raises(ShapeError, match="k\\^3"):
        adaptive_conv3d(x, torch.zeros(1, 2, 26, 3), torch.zeros(1, 2, 26, 4, 4))
    with pytest.raises(ShapeError, match="kernels must be"):
        adaptive_conv3d(x, torch.zeros(1, 2, 27, 4), torch.zeros(1, 2, 27, 4, 4))
