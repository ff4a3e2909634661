"""BSConv-U: blueprint separable convolution.

Haase & Amthor, "Rethinking Depthwise Separable Convolutions: How Intra-Kernel
Correlations Lead to Improved MobileNets", CVPR 2020.

Each output channel's ``Cin x k x k`` kernel is one ``k x k`` *blueprint* ``B[o]`` scaled
per input channel by ``P[o, i]`` (the LGPConv paper's "premier kernel", its Eq. 6)::

    W[o, i] = P[o, i] * B[o]
    y = DW(B)( PW(P) x [+ bP] ) + bB        (pointwise 1x1, then depthwise k x k)

Parameters: ``Cout * (Cin + k^2)`` weights (the paper's count) plus ``Cout`` depthwise
biases, plus ``Cout`` pointwise biases when ``pointwise_bias=True`` (the LGPConv premier
kernel). Input ``(B, Cin, H, W)``, output ``(B, Cout, H, W)``, zero padding ``(k-1)/2``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ShapeError
from .fold import DenseFoldMixin

__all__ = ["BSConv", "bs_conv2d", "bs_effective_kernel", "bs_param_count"]


def bs_param_count(in_channels: int, out_channels: int, kernel_size: int = 3, pointwise_bias: bool = False) -> int:
    """``Cout * (Cin + k^2) + Cout`` (depthwise bias) ``[+ Cout]`` (pointwise bias)."""
    return out_channels * (in_channels + kernel_size**2 + 1 + int(pointwise_bias))


def bs_conv2d(
    x: torch.Tensor,
    pointwise_weight: torch.Tensor,
    pointwise_bias: torch.Tensor | None,
    depthwise_weight: torch.Tensor,
    depthwise_bias: torch.Tensor | None,
) -> torch.Tensor:
    """Functional BSConv-U: ``DW(B)(PW(P) x + bP) + bB``.

    Shapes: ``x (B, Cin, H, W)``, ``pointwise_weight (Cout, Cin)``, ``depthwise_weight
    (Cout, k, k)``, biases ``(Cout,)`` or None. Returns ``(B, Cout, H, W)``.
    """
    cout, cin = pointwise_weight.shape
    k = depthwise_weight.shape[-1]
    z = F.conv2d(x, pointwise_weight.reshape(cout, cin, 1, 1), pointwise_bias)
    return F.conv2d(z, depthwise_weight.reshape(cout, 1, k, k), depthwise_bias, padding=k // 2, groups=cout)


def bs_effective_kernel(pointwise_weight: torch.Tensor, depthwise_weight: torch.Tensor) -> torch.Tensor:
    """Dense kernel ``W[o, i] = P[o, i] B[o]``, shape ``(Cout, Cin, k, k)``."""
    return pointwise_weight[:, :, None, None] * depthwise_weight[:, None]


class BSConv(DenseFoldMixin, nn.Module):
    """BSConv-U layer, a drop-in for ``nn.Conv2d(in, out, k, padding=k//2)``.

    Args:
        in_channels, out_channels, kernel_size: as ``nn.Conv2d`` (odd ``k``).
        pointwise_bias: add a bias after the pointwise step (False in BSConv-U; True
            gives the LGPConv paper's premier kernel as in the authors' code).

    Init: kaiming-normal fan_out weights, zero biases (the init loop of the LGPConv-Net
    authors, so that the Table 5 ablation compares convolutions, not inits).
    """

    foldable = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, pointwise_bias: bool = False):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ShapeError(f"BSConv needs an odd kernel_size (same-size output); got {kernel_size}")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.pointwise_weight = nn.Parameter(torch.empty(out_channels, in_channels))
        self.pointwise_bias = nn.Parameter(torch.zeros(out_channels)) if pointwise_bias else None
        self.depthwise_weight = nn.Parameter(torch.empty(out_channels, kernel_size, kernel_size))
        self.depthwise_bias = nn.Parameter(torch.zeros(out_channels))
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        k, cout = self.kernel_size, self.out_channels
        with torch.no_grad():
            self.pointwise_weight.normal_(0.0, math.sqrt(2.0 / cout), generator=generator)
            self.depthwise_weight.normal_(0.0, math.sqrt(2.0 / (k * k * cout)), generator=generator)
            self.depthwise_bias.zero_()
            if self.pointwise_bias is not None:
                self.pointwise_bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ShapeError(f"BSConv expects (B, {self.in_channels}, H, W); got {tuple(x.shape)}")
        return bs_conv2d(x, self.pointwise_weight, self.pointwise_bias, self.depthwise_weight, self.depthwise_bias)

    def effective_kernel(self) -> torch.Tensor:
        return bs_effective_kernel(self.pointwise_weight, self.depthwise_weight)

    def extra_repr(self) -> str:
        pb = self.pointwise_bias is not None
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, pointwise_bias={pb}"
