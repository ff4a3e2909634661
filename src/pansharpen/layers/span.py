"""SpanConv: a convolution whose kernels lie in the span of N navigated kernels.

Chen et al., "SpanConv: A new convolution via spanning kernel space for lightweight
pansharpening", IJCAI 2022.

For output channel ``o`` the dense ``Cin x k x k`` kernel (the *SpanKernel*) is a
linear combination of ``N`` per-output-channel ``k x k`` navigated kernels ``D_n[o]``
with learnable coefficients ``P_n[o, i]``::

    W[o, i] = sum_n P_n[o, i] * D_n[o]                                  (SpanKernel)

The authors implement it as N parallel branches ``pointwise (1x1, bias) -> depthwise
(k x k, bias)`` whose outputs are summed::

    y = sum_n [ DW(D_n)( PW(P_n) x + bP_n ) + bD_n ]

Parameters: ``N * Cout * (Cin + k^2 + 2)`` (``2 * Cout * (Cin + 11)`` for N=2, k=3).

Shapes: input ``(B, Cin, H, W)``, output ``(B, Cout, H, W)`` (stride 1, zero padding
``(k-1)/2``). Values: any finite range.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ShapeError
from .fold import DenseFoldMixin

__all__ = ["SpanConv", "span_conv2d", "span_effective_kernel", "span_param_count"]


def span_param_count(in_channels: int, out_channels: int, kernel_size: int = 3, num_kernels: int = 2) -> int:
    """``N * Cout * (Cin + k^2 + 2)``: N pointwise weights + biases, N depthwise kernels + biases."""
    return num_kernels * out_channels * (in_channels + kernel_size**2 + 2)


def span_conv2d(
    x: torch.Tensor,
    pointwise_weight: torch.Tensor,
    pointwise_bias: torch.Tensor,
    depthwise_weight: torch.Tensor,
    depthwise_bias: torch.Tensor,
    compute: str = "factorised",
) -> torch.Tensor:
    """Functional SpanConv.

    Args:
        x: ``(B, Cin, H, W)``.
        pointwise_weight: ``P``, ``(N, Cout, Cin)`` -- the span coefficients.
        pointwise_bias: ``(N, Cout)``.
        depthwise_weight: ``D``, ``(N, Cout, k, k)`` -- the navigated kernels.
        depthwise_bias: ``(N, Cout)``.
        compute: ``"factorised"``: the paper's N branches (one 1x1 conv to ``N*Cout`` channels,
            one depthwise conv, sum). ``"dense"``: the same function as one dense convolution
            ``conv(x, W) + B`` with ``W`` the SpanKernel and ``B`` the exact bias map (the
            pointwise bias goes through the zero-padded depthwise kernels, so ``B`` is constant
            inside and differs on the one-pixel border: ``B = conv(1, sum_n bP_n D_n) + sum_n bD_n``
            on an all-ones image). Both are differentiable in every parameter; on CPU the dense
            form trains LightNet 1.5-2x faster (``bench/bench_span_train.py``).

    Returns ``(B, Cout, H, W)``: ``sum_n DW(D_n)(PW(P_n) x + bP_n) + bD_n``.
    """
    n, cout, cin = pointwise_weight.shape
    k = depthwise_weight.shape[-1]
    if compute == "dense":
        weight = span_effective_kernel(pointwise_weight, depthwise_weight)
        bias_kernel = torch.einsum("no,nokl->okl", pointwise_bias, depthwise_weight).unsqueeze(1)
        ones = x.new_ones(1, 1, x.shape[2], x.shape[3])
        bias_map = F.conv2d(ones, bias_kernel, depthwise_bias.sum(0), padding=k // 2)
        return F.conv2d(x, weight, None, padding=k // 2) + bias_map
    if compute != "factorised":
        raise ValueError(f"compute must be 'dense' or 'factorised'; got {compute!r}")
    z = F.conv2d(x, pointwise_weight.reshape(n * cout, cin, 1, 1), pointwise_bias.reshape(n * cout))
    z = F.conv2d(z, depthwise_weight.reshape(n * cout, 1, k, k), None, padding=k // 2, groups=n * cout)
    b, _, h, w = z.shape
    return z.view(b, n, cout, h, w).sum(1) + depthwise_bias.sum(0).view(1, cout, 1, 1)


def span_effective_kernel(pointwise_weight: torch.Tensor, depthwise_weight: torch.Tensor) -> torch.Tensor:
    """The dense SpanKernel ``W[o, i] = sum_n P_n[o, i] D_n[o]``, shape ``(Cout, Cin, k, k)``."""
    return torch.einsum("noi,nokl->oikl", pointwise_weight, depthwise_weight)


class SpanConv(DenseFoldMixin, nn.Module):
    """SpanConv layer (IJCAI 2022), a drop-in for ``nn.Conv2d(in, out, k, padding=k//2)``.

    Args:
        in_channels, out_channels: ``Cin``, ``Cout``.
        kernel_size: odd ``k`` (3 in the paper).
        num_kernels: number of navigated kernels ``N`` (2 in the paper).

    Parameters (``N * Cout * (Cin + k^2 + 2)`` values): ``pointwise_weight (N, Cout, Cin)``,
    ``pointwise_bias (N, Cout)``, ``depthwise_weight (N, Cout, k, k)``,
    ``depthwise_bias (N, Cout)``.

    ``compute="dense"`` (default) evaluates the layer as one dense convolution plus its exact
    bias map, ``"factorised"`` as the paper's pointwise + depthwise branches (both
    :func:`span_conv2d`); both compute the same function of the same parameters
    (equal to float rounding), the dense form is faster on CPU for these channel counts.

    ``init="authors"`` (default) is the authors' init: kaiming-normal with fan_out on each factor
    (std ``sqrt(2/Cout)`` pointwise, ``sqrt(2/(k^2 Cout))`` depthwise), zero biases. The dense
    SpanKernel then has variance ``4N / (k^2 Cout^2)`` per tap, so a layer scales the signal
    variance by ``4 N Cin / Cout^2`` (0.25 for 32 -> 32, N = 2): a stack of ten such layers starts
    with a vanishing residual and vanishing gradients. ``init="balanced"`` draws the factors so the
    dense kernel has He fan-in variance ``2 / (Cin k^2)`` (pointwise std ``sqrt(1/Cin)``, depthwise
    std ``sqrt(2/(N k^2))``), which keeps the signal variance through the stack.
    """

    foldable = True

    INITS = ("authors", "balanced")
    COMPUTES = ("dense", "factorised")
    #: the form the paper's cost counts (``models.complexity.macs_per_pixel`` switches to it)
    ARCHITECTURE_COMPUTE = "factorised"

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, num_kernels: int = 2,
                 init: str = "authors", compute: str = "dense"):
        super().__init__()
        if init not in self.INITS:
            raise ValueError(f"SpanConv init must be one of {self.INITS}; got {init!r}")
        if compute not in self.COMPUTES:
            raise ValueError(f"SpanConv compute must be one of {self.COMPUTES}; got {compute!r}")
        self.init, self.compute = init, compute
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ShapeError(f"SpanConv needs an odd kernel_size (same-size output); got {kernel_size}")
        if num_kernels < 1:
            raise ShapeError(f"SpanConv needs num_kernels >= 1; got {num_kernels}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.num_kernels = kernel_size, num_kernels
        n, k = num_kernels, kernel_size
        self.pointwise_weight = nn.Parameter(torch.empty(n, out_channels, in_channels))
        self.pointwise_bias = nn.Parameter(torch.zeros(n, out_channels))
        self.depthwise_weight = nn.Parameter(torch.empty(n, out_channels, k, k))
        self.depthwise_bias = nn.Parameter(torch.zeros(n, out_channels))
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Weights as ``self.init`` says (see the class docstring), zero biases."""
        k, n = self.kernel_size, self.num_kernels
        if self.init == "authors":
            std_p, std_d = math.sqrt(2.0 / self.out_channels), math.sqrt(2.0 / (k * k * self.out_channels))
        else:
            std_p, std_d = math.sqrt(1.0 / self.in_channels), math.sqrt(2.0 / (n * k * k))
        with torch.no_grad():
            self.pointwise_weight.normal_(0.0, std_p, generator=generator)
            self.depthwise_weight.normal_(0.0, std_d, generator=generator)
            self.pointwise_bias.zero_()
            self.depthwise_bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ShapeError(f"SpanConv expects (B, {self.in_channels}, H, W); got {tuple(x.shape)}")
        return span_conv2d(x, self.pointwise_weight, self.pointwise_bias, self.depthwise_weight, self.depthwise_bias,
                           self.compute)

    def effective_kernel(self) -> torch.Tensor:
        """Dense ``(Cout, Cin, k, k)`` kernel of the paper's SpanKernel."""
        return span_effective_kernel(self.pointwise_weight, self.depthwise_weight)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, num_kernels={self.num_kernels}"
