"""LGPConv-Net (Zhao et al., IJCAI 2023) and its convolution-type ablations.

Architecture (the authors' ``model.py``, seed-implementations 2.3; ``C`` bands, 3x3 convs)::

    x    = cat[pan, lms]                                   (C + 1 channels, PAN first)
    head = conv(C+1, 20) -> conv(20, 32) -> ReLU            (no activation in between)
    body = N x ResBlock: x + ReLU(conv(32,32)(ReLU(conv(32,32)(x))))   (ReLU before the add)
    tail = conv(32, 16) -> conv(16, C) -> conv(C, C)
    out  = lms + tail(body(head(x)))

``conv`` selects the convolution (paper Tables 4 and 5):

======================  =====================================================  ===============
``conv``                layer                                                  params (8 bands)
======================  =====================================================  ===============
``"lgp"`` (default)     LGPConv, noise N(0, 0.005^2) (Table 4 "LGPKernel")     26,516 (N = 4)
``"no_noise"``          LGPConv, branch without noise init (Table 4)           26,516
``"premier"``           premier kernel only (Table 4)                          13,456
``"standard"``          ``nn.Conv2d`` 3x3 with bias (Table 5, 87K)             87,784
``"bsconv"``            BSConv-U (Table 5, N = 10 blocks by default, 29K)       29,244
======================  =====================================================  ===============

LGPConv-Net: 26,516 parameters, 25,830 MACs per output pixel (0.1058 GMAC at 64 x 64; the
paper's "0.112 GFLOPs"), receptive field 26 px (13 LGPConv layers of radius 2).

The authors' released ``650.pth`` belongs to an unpublished variant whose forward is
unknown (shared reference README); the importer refuses it rather than guess.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import ModelError
from ..layers.bsconv import BSConv
from ..layers.lgp import LGPConv
from .base import FusionModel
from .checkpoints import register_importer
from .complexity import ComplexityMixin
from .registry import create, register

__all__ = ["LGPConvNet", "CONV_TYPES", "convert_authors_state_dict"]

PAPER = (
    "C.-Y. Zhao, T.-J. Zhang, R. Ran, Z.-X. Chen, L.-J. Deng, LGPConv: Learnable Gaussian Perturbation "
    "Convolution for Lightweight Pansharpening, IJCAI 2023"
)
CONV_TYPES = ("lgp", "no_noise", "premier", "standard", "bsconv")


def _standard_conv(cin: int, cout: int) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, 3, padding=1)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    nn.init.zeros_(conv.bias)
    return conv


def conv_factory(conv: str, noise_std: float = 0.005):
    """``make(cin, cout) -> nn.Module`` for one of :data:`CONV_TYPES`."""
    if conv == "lgp":
        return lambda cin, cout: LGPConv(cin, cout, noise_std=noise_std, mode="full")
    if conv in ("no_noise", "premier"):
        return lambda cin, cout: LGPConv(cin, cout, noise_std=noise_std, mode=conv)
    if conv == "standard":
        return _standard_conv
    if conv == "bsconv":
        return lambda cin, cout: BSConv(cin, cout)
    raise ModelError(f"conv must be one of {', '.join(CONV_TYPES)}; got {conv!r}")


class ResBlock(nn.Module):
    """``x + ReLU(conv2(ReLU(conv1(x))))`` (the residual branch is non-negative, as the authors')."""

    def __init__(self, make, channels: int):
        super().__init__()
        self.conv1 = make(channels, channels)
        self.conv2 = make(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.relu(self.conv2(torch.relu(self.conv1(x))))


class LGPConvNet(ComplexityMixin, FusionModel):
    """LGPConv-Net for ``bands`` MS bands (``forward(ms, pan, lms=None)``; uses ``lms``).

    Args:
        bands: number of MS bands ``C``.
        conv: convolution type, one of :data:`CONV_TYPES` (module docstring).
        blocks: residual blocks ``N`` (default 4; 10 for ``conv="bsconv"`` as in Table 5).
        noise_std: initial std of the Gaussian perturbation (LGPConv only; paper 0.005,
            the authors' code 1e-4); a float or a ``(depthwise, pointwise)`` pair.

    CPU inference runs the factorised layers traced into oneDNN's blocked layout
    (:mod:`pansharpen.models.inference`): the dense fold of an LGPConv costs 7x its MACs.
    """

    cpu_inference = "trace"

    def __init__(self, bands: int = 8, conv: str = "lgp", blocks: int | None = None, noise_std: float = 0.005):
        super().__init__()
        make = conv_factory(conv, noise_std)
        blocks = (10 if conv == "bsconv" else 4) if blocks is None else blocks
        if blocks < 0:
            raise ModelError(f"blocks must be >= 0; got {blocks}")
        self.bands, self.conv = bands, conv
        self.head = nn.Sequential(make(bands + 1, 20), make(20, 32), nn.ReLU())
        self.body = nn.Sequential(*[ResBlock(make, 32) for _ in range(blocks)])
        self.tail = nn.Sequential(make(32, 16), make(16, bands), make(bands, bands))

    def fuse(self, ms: torch.Tensor, pan: torch.Tensor, lms: torch.Tensor) -> torch.Tensor:
        x = torch.cat([pan, lms], dim=1)
        return lms + self.tail(self.body(self.head(x)))


@register("lgpconv-net", paper=PAPER, description="LGPConv-Net (IJCAI 2023), 27K params; conv= selects Table 4/5 variants", normaliser=2047.0)
def lgpconv_net(bands: int = 8, **options) -> LGPConvNet:
    return LGPConvNet(bands=bands, **options)


@register("lgpconv-net-std", paper=PAPER, description="LGPConv-Net with standard 3x3 convs (Table 5, 87K)", normaliser=2047.0)
def lgpconv_net_std(bands: int = 8, **options) -> LGPConvNet:
    return LGPConvNet(bands=bands, conv="standard", **options)


@register("lgpconv-net-bsconv", paper=PAPER, description="LGPConv-Net with BSConv-U, 10 blocks (Table 5, 29K)", normaliser=2047.0)
def lgpconv_net_bsconv(bands: int = 8, **options) -> LGPConvNet:
    return LGPConvNet(bands=bands, conv="bsconv", **options)


# authors' leaf names (model.py class ``addconv``) -> ours, with the reshape each needs
_LEAVES = {
    "point_wise.weight": ("pointwise_weight", lambda t: t[:, :, 0, 0]),
    "point_wise.bias": ("pointwise_bias", lambda t: t),
    "depth_wise.weight": ("depthwise_weight", lambda t: t[:, 0]),
    "depth_wise.bias": ("depthwise_bias", lambda t: t),
    "weight": ("perturb_depthwise", lambda t: t[:, 0]),
    "weight_2": ("perturb_pointwise", lambda t: t[:, :, 0, 0]),
}
_TOPS = {"head_conv": "head", "res_block": "body", "tail_conv": "tail"}

UNKNOWN_650 = (
    "this checkpoint belongs to the unpublished LGPConv variant of the released 650.pth: its perturbation "
    "tensor 'weight' is a full Cout x Cout x 3 x 3 kernel and there is no 'weight_2', so it does not fit the "
    "published model.py (26,516 parameters). The code of that variant (model_addconv_repeat) was never "
    "released and its forward is unknown: the most plausible guess scores worse than bicubic interpolation "
    "on a WV3 test image (see the reference README of the project's shared data). pansharpen refuses to "
    "guess. Use the SpanConv weights (importer 'lightnet') or train LGPConv-Net with `pansharpen train`."
)


def is_650_variant(state: dict[str, torch.Tensor]) -> bool:
    """True for the released ``650.pth`` layout: full ``(Cout, Cout, 3, 3)`` perturbation, no ``weight_2``."""
    perturb = [v for k, v in state.items() if k.rpartition(".")[2] == "weight" and not k.endswith("_wise.weight")]
    has_w2 = any(k.endswith(".weight_2") for k in state)
    return bool(perturb) and not has_w2 and all(v.ndim == 4 and v.shape[1] == v.shape[0] > 1 for v in perturb)


def convert_authors_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map the authors' ``model.py`` keys (``res_block.0.conv1.point_wise.weight`` ...) onto ours."""
    if is_650_variant(state):
        raise ModelError(UNKNOWN_650)
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        top, _, rest = key.partition(".")
        for leaf, (ours, reshape) in _LEAVES.items():
            if rest.endswith("." + leaf) and top in _TOPS:
                layer = rest[: -len(leaf) - 1]
                try:
                    out[f"{_TOPS[top]}.{layer}.{ours}"] = reshape(value)
                except IndexError:
                    raise ModelError(f"tensor {key!r} has an unexpected shape {tuple(value.shape)}") from None
                break
        else:
            raise ModelError(
                f"key {key!r} is not part of an LGPConv-Net (model.py) checkpoint; is it a checkpoint of another network?"
            )
    return out


def load_authors_state_dict(model: LGPConvNet, state: dict[str, torch.Tensor]) -> LGPConvNet:
    """Load an authors' ``model.py`` state dict strictly into ``model`` (ModelError on mismatch)."""
    ours = convert_authors_state_dict(state)
    try:
        model.load_state_dict(ours, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"the checkpoint does not fit LGPConv-Net ({model.conv}, {model.bands} bands): {exc}") from None
    return model


@register_importer("lgpconv-net", "LGPConv-Net state dicts of the authors' model.py (the released 650.pth is refused: unknown variant)")
def import_lgpconv_net(state: dict[str, torch.Tensor]) -> LGPConvNet:
    key = "tail_conv.2.point_wise.weight"
    if is_650_variant(state):
        raise ModelError(UNKNOWN_650)
    if key not in state:
        raise ModelError(
            f"not an LGPConv-Net checkpoint: it has no {key!r}"
            + ("; it looks like a SpanConv checkpoint: use the importer 'lightnet'" if any("point_wise_1" in k for k in state) else "")
        )
    bands = int(state[key].shape[0])
    blocks = len({k.split(".")[1] for k in state if k.startswith("res_block.")})
    model = create("lgpconv-net", bands=bands, **({} if blocks == 4 else {"blocks": blocks}))
    model = load_authors_state_dict(model, state)
    model.card.notes = "Converted from a state dict of the authors' model.py (zcy20010503/IJCAI23-LGPConv)."
    return model.eval()
