"""Inference folding: a factorised affine conv layer -> one dense conv plus an exact bias map.

SpanConv, BSConv and the LGPConv premier kernel are ``depthwise(pointwise(x) + bP) + bD``.
Their linear part equals one dense ``k x k`` conv (the pointwise step has no spatial
extent, so zero padding commutes with it). Their constant part does not: ``bP`` is a
constant image that the depthwise step sees with zero padding, so the bias is
``bP * sum(D) + bD`` in the interior and smaller within ``(k-1)/2`` pixels of the border
(seed-implementations 1.1: up to ~1 with random weights). For an affine layer ``A`` with
zero padding, the bias map is ``A(0)``, and it depends only on the distance to each border
up to the layer's radius ``r``. We therefore evaluate ``A`` once on a zero image of side
``2r + 1`` (row/column ``r`` is the interior; rows ``< r`` are the top border classes, rows
``> r`` the bottom ones) and, at run time, add the interior bias in the conv and the
difference only on the ``r``-pixel border strips. Exact for any ``H, W >= 2r + 1``; smaller
images evaluate ``A(0)`` at their size.

``fold_modules(model)`` returns a copy of ``model`` in which every layer with ``foldable =
True`` is replaced by its ``fold()``. Folding is an inference transform: save and load the
unfolded model (the folded copy has different state-dict keys).
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FoldedConv2d", "fold_modules", "border_bias_classes"]


def border_bias_classes(affine: nn.Module, in_channels: int, radius: int, like: torch.Tensor) -> torch.Tensor:
    """``affine(0)`` on a ``(2r+1) x (2r+1)`` zero image: ``(Cout, 2r+1, 2r+1)`` bias classes."""
    side = 2 * radius + 1
    with torch.no_grad():
        return affine(torch.zeros(1, in_channels, side, side, dtype=like.dtype, device=like.device))[0]


class FoldedConv2d(nn.Module):
    """Dense conv ``weight (Cout, Cin, k, k)``, zero padding ``k//2``, plus a position-dependent bias.

    Buffers: ``weight``, ``bias`` (interior bias, ``(Cout,)``) and ``border`` (``(Cout, 2r+1,
    2r+1)``, bias classes minus the interior bias). Build with :meth:`from_affine`.
    """

    def __init__(self, weight: torch.Tensor, bias_classes: torch.Tensor, radius: int, source: nn.Module | None):
        super().__init__()
        self.radius = radius
        self.register_buffer("weight", weight.detach().clone())
        interior = bias_classes[:, radius, radius].clone()
        self.register_buffer("bias", interior)
        self.register_buffer("border", (bias_classes - interior[:, None, None]).clone())
        self.has_border = bool(self.border.abs().max() > 0) if radius > 0 else False
        # kept out of the module tree (tuple): used only for images smaller than 2r+1
        self._source = (source,)

    @classmethod
    def from_affine(cls, layer: nn.Module, weight: torch.Tensor, radius: int) -> "FoldedConv2d":
        """Fold ``layer`` (affine, zero padding, radius ``radius``) whose linear part is ``weight``."""
        source = copy.deepcopy(layer).eval().requires_grad_(False)
        classes = border_bias_classes(source, weight.shape[1], radius, weight)
        return cls(weight, classes, radius, source)

    @property
    def in_channels(self) -> int:
        return self.weight.shape[1]

    @property
    def out_channels(self) -> int:
        return self.weight.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.weight.shape[-1]
        out = F.conv2d(x, self.weight, self.bias, padding=k // 2)
        if not self.has_border:
            return out
        r = self.radius
        h, w = out.shape[-2:]
        if h < 2 * r + 1 or w < 2 * r + 1:
            with torch.no_grad():
                source = self._source[0].to(device=x.device, dtype=x.dtype)  # hidden from .to(): move here
                bias_map = source(x.new_zeros(1, x.shape[1], h, w))
            return out - self.bias.view(1, -1, 1, 1) + bias_map
        d = self.border
        cols = torch.cat(
            [torch.arange(r), torch.full((w - 2 * r,), r, dtype=torch.long), torch.arange(r + 1, 2 * r + 1)]
        ).to(d.device)
        out[..., :r, :] += d[:, :r, cols]
        out[..., h - r :, :] += d[:, r + 1 :, cols]
        out[..., r : h - r, :r] += d[:, r : r + 1, :r]
        out[..., r : h - r, w - r :] += d[:, r : r + 1, r + 1 :]
        return out

    def extra_repr(self) -> str:
        k = self.weight.shape[-1]
        return f"{self.in_channels}, {self.out_channels}, kernel_size={k}, border_bias={self.has_border}"


def fold_modules(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` with every ``foldable`` layer replaced by ``layer.fold()``."""
    folded = copy.deepcopy(module)
    _replace(folded)
    return folded


def _replace(module: nn.Module) -> None:
    for name, child in module.named_children():
        if getattr(child, "foldable", False):
            setattr(module, name, child.fold())
        else:
            _replace(child)


class DenseFoldMixin:
    """For layers that equal one dense ``k x k`` convolution plus a bias map (SpanConv, BSConv):
    ``radius`` and ``fold()`` from the layer's ``effective_kernel()``."""

    kernel_size: int

    @property
    def radius(self) -> int:
        """Pixels of context on each side (``(k-1)/2``)."""
        return self.kernel_size // 2

    def fold(self) -> nn.Module:
        """Equivalent inference module: one dense ``k x k`` conv plus an exact bias map (the pointwise
        bias sees the zero padding, so the bias is position dependent at the border)."""
        return FoldedConv2d.from_affine(self, self.effective_kernel(), radius=self.radius)
