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

``perturbation="full"`` builds the variant of the authors' released ``650.pth``
(:class:`FullPerturbationConv`, 103,456 parameters for 8 bands); ``import-weights lgpconv-net
650.pth`` loads it strictly (see that class for the evidence).
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

__all__ = ["LGPConvNet", "CONV_TYPES", "FullPerturbationConv", "convert_authors_state_dict"]

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


class FullPerturbationConv(nn.Module):
    """The layer of the authors' released ``650.pth`` (the unpublished ``model_addconv_repeat``).

    ``y = DW(D)(PW(P) x + bP) + bD`` (the premier kernel of ``model.py``, biases on), then
    ``out = y + conv3x3(y, W, padding=1, no bias)`` with a **full** ``W (Cout, Cout, 3, 3)``
    perturbation kernel (``model.py`` has a depthwise ``G`` and a pointwise ``M`` instead).
    Parameters per layer: ``Cout (Cin + 11 + 9 Cout)``; 103,456 for the 8-band network.

    Evidence that this is the checkpoint's forward (nothing of it is published): ``650.pth`` holds
    65 tensors, 103,456 values, with ``model.py``'s key names, no ``weight_2`` and every ``weight``
    of shape ``(Cout, Cout, 3, 3)`` (a commented-out line of ``model.py`` shows a "repeat" init
    ``G0 ~ N(0, 0.0005^2)`` repeated to ``(Cout, Cout, 3, 3)``); it loads strictly into this form
    with ``model.py``'s network and ReLU placement. About twenty other forms (``W`` in parallel
    with the premier kernel, ``W`` replacing the depthwise, transposed or flipped ``W``, other
    paddings, other ReLU placements) give garbage on real data, while this one scores Q2n
    0.875-0.919 (SAM 3.3-4.3) on Wald-degraded crops of the dgsamples WV3 product whose PAN was
    MTF-filtered before decimation; with a bicubically reduced PAN it injects about twice too
    much detail, so the checkpoint was most likely trained on MTF-degraded PAN (issue 16;
    ``shared/docs/seed-implementations.md`` section 2.2). ``tests/models/test_lgpnet.py`` checks
    the import on real data.
    """

    def __init__(self, in_channels: int, out_channels: int, noise_std: float = 0.0005):
        super().__init__()
        self.pointwise_weight = nn.Parameter(torch.empty(out_channels, in_channels))
        self.pointwise_bias = nn.Parameter(torch.zeros(out_channels))
        self.depthwise_weight = nn.Parameter(torch.empty(out_channels, 3, 3))
        self.depthwise_bias = nn.Parameter(torch.zeros(out_channels))
        nn.init.normal_(self.pointwise_weight, 0.0, (2.0 / out_channels) ** 0.5)  # kaiming fan_out, as model.py
        nn.init.normal_(self.depthwise_weight, 0.0, (2.0 / (9 * out_channels)) ** 0.5)
        # the "repeat" init: one N(0, s^2) depthwise kernel per output channel, repeated over inputs
        self.perturb_full = nn.Parameter(torch.randn(out_channels, 1, 3, 3).mul(noise_std).repeat(1, out_channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.depthwise_weight.shape[0]
        y = torch.nn.functional.conv2d(x, self.pointwise_weight[:, :, None, None], self.pointwise_bias)
        y = torch.nn.functional.conv2d(y, self.depthwise_weight[:, None], self.depthwise_bias, padding=1, groups=c)
        return y + torch.nn.functional.conv2d(y, self.perturb_full, None, padding=1)


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
        perturbation: ``"factorised"`` (``model.py``: depthwise ``G`` then pointwise ``M``) or
            ``"full"`` (one full ``Cout x Cout x 3 x 3`` kernel: the released ``650.pth``,
            :class:`FullPerturbationConv`).

    CPU inference runs the factorised layers traced into oneDNN's blocked layout
    (:mod:`pansharpen.models.inference`): the dense fold of an LGPConv costs 7x its MACs.
    """

    cpu_inference = "trace"

    def __init__(self, bands: int = 8, conv: str = "lgp", blocks: int | None = None, noise_std: float = 0.005,
                 perturbation: str = "factorised"):
        super().__init__()
        if perturbation not in ("factorised", "full"):
            raise ModelError(f"perturbation must be 'factorised' (model.py) or 'full' (the released 650.pth); got {perturbation!r}")
        if perturbation == "full" and conv != "lgp":
            raise ModelError("perturbation='full' is a form of the LGPConv layer; use it with conv='lgp'")
        make = conv_factory(conv, noise_std) if perturbation == "factorised" else FullPerturbationConv
        self.perturbation = perturbation
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


def is_650_variant(state: dict[str, torch.Tensor]) -> bool:
    """True for the released ``650.pth`` layout: full ``(Cout, Cout, 3, 3)`` perturbation, no ``weight_2``."""
    perturb = [v for k, v in state.items() if k.rpartition(".")[2] == "weight" and not k.endswith("_wise.weight")]
    has_w2 = any(k.endswith(".weight_2") for k in state)
    return bool(perturb) and not has_w2 and all(v.ndim == 4 and v.shape[1] == v.shape[0] > 1 for v in perturb)


def convert_authors_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map the authors' keys (``res_block.0.conv1.point_wise.weight`` ...) onto ours.

    ``model.py`` state dicts map onto ``perturbation="factorised"``; the ``650.pth`` layout (full
    ``weight``, no ``weight_2``) onto ``perturbation="full"`` (``weight`` -> ``perturb_full``).
    """
    full = is_650_variant(state)
    leaves = dict(_LEAVES, weight=("perturb_full", lambda t: t)) if full else _LEAVES
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        top, _, rest = key.partition(".")
        for leaf, (ours, reshape) in leaves.items():
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


@register_importer("lgpconv-net", "LGPConv-Net state dicts of the authors' model.py, and the released 650.pth (perturbation='full')")
def import_lgpconv_net(state: dict[str, torch.Tensor]) -> LGPConvNet:
    key = "tail_conv.2.point_wise.weight"
    if key not in state:
        raise ModelError(
            f"not an LGPConv-Net checkpoint: it has no {key!r}"
            + ("; it looks like a SpanConv checkpoint: use the importer 'lightnet'" if any("point_wise_1" in k for k in state) else "")
        )
    bands = int(state[key].shape[0])
    blocks = len({k.split(".")[1] for k in state if k.startswith("res_block.")})
    full = is_650_variant(state)
    options = ({} if blocks == 4 else {"blocks": blocks}) | ({"perturbation": "full"} if full else {})
    model = create("lgpconv-net", bands=bands, **options)
    model = load_authors_state_dict(model, state)
    model.card.notes = ("Converted from the authors' released 650.pth (unpublished full-kernel perturbation variant, "
                        "perturbation='full'; see FullPerturbationConv for the evidence)." if full else
                        "Converted from a state dict of the authors' model.py (zcy20010503/IJCAI23-LGPConv).")
    return model.eval()
