"""LightNet: the SpanConv pansharpening network (Chen et al., IJCAI 2022).

Architecture (seed-implementations 1.2; ``C`` bands, all SpanConv 3x3, N = 2)::

    x    = cat[pan, lms]                                   (C + 1 channels, PAN first)
    head = SpanConv(C+1, C+1) -> SpanConv(C+1, 20) -> SpanConv(20, 32) -> ReLU
    body = 2 x [SpanConv(32, 32) -> ReLU -> SpanConv(32, 32)]   (no skip, no activation after)
    tail = SpanConv(32, 16) -> SpanConv(16, C) -> SpanConv(C, C)
    out  = lms + tail(body(head(x)))                       (not clipped)

16,264 parameters and 15,380 MACs per output pixel for 8 bands; receptive field 10 px (ten 3x3 layers).
Inputs are digital numbers / 2047 (WV3) as in the authors' training.

The importer ``lightnet`` converts the authors' ``weight-*.pth``. Their checkpoints name
the body ``res_block.*`` while their model calls it ``belly_conv.*``; the authors' test
scripts load with ``strict=False`` and silently keep a random body (seed-implementations
1.6). We rename and load strictly.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import ModelError
from ..layers.span import SpanConv
from .base import FusionModel
from .checkpoints import register_importer
from .complexity import ComplexityMixin
from .registry import create, register

__all__ = ["LightNet", "lightnet", "convert_authors_state_dict"]

PAPER = (
    "Z.-X. Chen, C. Jin, T.-J. Zhang, X. Wu, L.-J. Deng, SpanConv: A new convolution via spanning kernel "
    "space for lightweight pansharpening, IJCAI 2022"
)


class BellyBlock(nn.Module):
    """``SpanConv -> ReLU -> SpanConv`` (no skip connection, as the authors' network)."""

    def __init__(self, channels: int, num_kernels: int = 2, init: str = "authors", compute: str = "dense"):
        super().__init__()
        self.conv1 = SpanConv(channels, channels, num_kernels=num_kernels, init=init, compute=compute)
        self.conv2 = SpanConv(channels, channels, num_kernels=num_kernels, init=init, compute=compute)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(torch.relu(self.conv1(x)))


class LightNet(ComplexityMixin, FusionModel):
    """SpanConv LightNet for ``bands`` MS bands (``forward(ms, pan, lms=None)``; uses ``lms``).

    Args:
        bands: number of MS bands ``C`` (8 for WV3).
        num_kernels: navigated kernels per SpanConv (2 in the paper).
        blocks: body blocks (2 in the paper; its ablation tried 1-4).
        init: ``"authors"`` (the released code's init) or ``"balanced"`` (variance-preserving
            SpanKernels; see :class:`~pansharpen.layers.span.SpanConv`).
        compute: ``"dense"`` (one dense conv per layer; faster on CPU) or ``"factorised"`` (the
            paper's pointwise + depthwise branches); the same function of the same parameters.
    """

    def __init__(self, bands: int = 8, num_kernels: int = 2, blocks: int = 2, init: str = "authors",
                 compute: str = "dense"):
        super().__init__()
        self.bands = bands
        c = bands + 1

        def span(cin: int, cout: int) -> SpanConv:
            return SpanConv(cin, cout, num_kernels=num_kernels, init=init, compute=compute)

        self.head = nn.Sequential(span(c, c), span(c, 20), span(20, 32), nn.ReLU())
        self.body = nn.Sequential(*[BellyBlock(32, num_kernels, init, compute) for _ in range(blocks)])
        self.tail = nn.Sequential(span(32, 16), span(16, bands), span(bands, bands))

    def fuse(self, ms: torch.Tensor, pan: torch.Tensor, lms: torch.Tensor) -> torch.Tensor:
        x = torch.cat([pan, lms], dim=1)
        return lms + self.tail(self.body(self.head(x)))


@register(
    "lightnet",
    paper=PAPER,
    description="SpanConv LightNet (IJCAI 2022), 16K params for 8 bands",
    normaliser=2047.0,
)
def lightnet(bands: int = 8, **options) -> LightNet:
    return LightNet(bands=bands, **options)


def convert_authors_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map the authors' LightNet keys (``head_conv.0.point_wise_1.weight`` ...) onto ours.

    Accepts both ``res_block.*`` (released checkpoints) and ``belly_conv.*`` (their model).
    Raises :class:`ModelError` when the dict is not a SpanConv LightNet state dict.
    """
    state = {("belly_conv." + k[len("res_block."):] if k.startswith("res_block.") else k): v for k, v in state.items()}
    groups: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        parent, _, leaf = key.rpartition(".")
        layer, _, branch = parent.rpartition(".")
        kind, _, n = branch.rpartition("_")
        if kind not in ("point_wise", "depth_wise") or not n.isdigit() or leaf not in ("weight", "bias"):
            raise ModelError(
                f"key {key!r} is not part of a SpanConv LightNet checkpoint (expected head_conv/belly_conv/"
                "tail_conv.*.point_wise_N / depth_wise_N); is this a checkpoint of another network?"
            )
        groups.setdefault(layer, {})[f"{kind}_{leaf}_{n}"] = value
    renamed = {"head_conv": "head", "belly_conv": "body", "tail_conv": "tail"}
    out: dict[str, torch.Tensor] = {}
    for layer, tensors in groups.items():
        top, _, rest = layer.partition(".")
        if top not in renamed:
            raise ModelError(f"unexpected layer {layer!r} in a SpanConv LightNet checkpoint")
        ours = f"{renamed[top]}.{rest}"
        nk = len([k for k in tensors if k.startswith("point_wise_weight_")])
        try:
            pw = torch.stack([tensors[f"point_wise_weight_{i}"][:, :, 0, 0] for i in range(1, nk + 1)])
            pb = torch.stack([tensors[f"point_wise_bias_{i}"] for i in range(1, nk + 1)])
            dw = torch.stack([tensors[f"depth_wise_weight_{i}"][:, 0] for i in range(1, nk + 1)])
            db = torch.stack([tensors[f"depth_wise_bias_{i}"] for i in range(1, nk + 1)])
        except (KeyError, IndexError, RuntimeError) as exc:
            raise ModelError(f"SpanConv layer {layer!r} is incomplete or malformed in the checkpoint ({exc})") from None
        out.update({f"{ours}.pointwise_weight": pw, f"{ours}.pointwise_bias": pb, f"{ours}.depthwise_weight": dw, f"{ours}.depthwise_bias": db})
    return out


def load_authors_state_dict(model: LightNet, state: dict[str, torch.Tensor]) -> LightNet:
    """Load an authors' state dict strictly into ``model`` (ModelError on any mismatch)."""
    ours = convert_authors_state_dict(state)
    try:
        model.load_state_dict(ours, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"the checkpoint does not fit LightNet with {model.bands} bands: {exc}") from None
    return model


@register_importer("lightnet", "SpanConv LightNet weight-*.pth (zhi-xuan-chen/SpanConv; renames res_block -> belly_conv)")
def import_lightnet(state: dict[str, torch.Tensor]) -> LightNet:
    key = "tail_conv.2.point_wise_1.weight"
    if key not in state:
        raise ModelError(
            f"not a SpanConv LightNet checkpoint: it has no {key!r}"
            + ("; it looks like an LGPConv checkpoint: use the importer 'lgpconv-net'" if any("point_wise." in k for k in state) else "")
        )
    bands = int(state[key].shape[0])
    options = {}
    kernels = len({k for k in state if k.startswith("head_conv.0.point_wise_") and k.endswith(".weight")})
    blocks = len({k.split(".")[1] for k in state if k.startswith(("res_block.", "belly_conv."))})
    if kernels != 2:
        options["num_kernels"] = kernels
    if blocks != 2:
        options["blocks"] = blocks
    model = load_authors_state_dict(create("lightnet", bands=bands, **options), state)
    model.card.sensors = ["WV3"] if bands == 8 else []
    model.card.notes = (
        "Authors' released weights (WorldView-3, inputs / 2047). Belly keys renamed res_block -> belly_conv "
        "and loaded strictly (the authors' test scripts leave the belly random)."
    )
    return model.eval()
