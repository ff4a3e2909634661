"""LGPConv: learnable Gaussian perturbation convolution.

Zhao et al., "LGPConv: Learnable Gaussian Perturbation Convolution for Lightweight
Pansharpening", IJCAI 2023.

The *premier kernel* is a blueprint kernel (BSConv, paper Eq. 6):
``y = DW(B)(PW(P) x + bP) + bB``. The *Gaussian perturbation* ``H(eps)`` is a depthwise
``k x k`` conv ``G`` followed by a pointwise ``Cout x Cout`` conv ``M`` (Eq. 11), both
initialised with Gaussian noise and then learned; it is applied to the premier output
and added (Eq. 13)::

    out = y + M( G( y ) )            (G: depthwise k x k, zero padding; M: 1x1; no biases)

i.e. the operator ``(I + M o G) o (premier)``. Its dense kernel has size ``2k-1`` (5x5
for k=3, the paper's Eq. 12)::

    K[o, i] = pad(P[o, i] B[o]) + sum_j M[o, j] P[j, i] (G[j] * B[j])     (* = full 2-D convolution)

It equals the layer away from the border; within ``k-1`` pixels of the border the
layer zero-pads ``y`` before ``G``, which one ``(2k-1)`` kernel cannot express. The exact
inference fold (:meth:`LGPConv.fold`) is therefore two dense ``k x k`` convs: the premier
kernel (with an exact bias map) then ``I + M o G`` (``Cout x Cout``).

Parameters: ``Cout * (Cin + k^2 + 2)`` (premier, with both biases) ``+ Cout * (k^2 + Cout)``
(perturbation) = ``Cout * (Cin + Cout + 2k^2 + 2)``; 3x3: ``Cout * (Cin + Cout + 20)``. (The
paper's Table 1 writes ``Cout * (2K^2 + 2Cin)``, i.e. ``Cin = Cout`` and no biases.)

Ablation modes (paper Table 4):

* ``"full"``: the LGPKernel; ``G ~ N(0, s1^2)``, ``M ~ N(0, s2^2)`` drawn once at
  construction, learnable, deterministic forward (as the authors' code). Default
  ``s1 = s2 = 0.005`` (paper, Sec. 4.2 / Table 6); the authors' code uses 1e-4.
* ``"premier"``: "only premier kernel" -- no perturbation branch (BSConv with biases).
* ``"no_noise"``: "LGPKernel w/o Gaussian noise" -- the branch exists and is learned but
  starts without noise: ``G = 0`` and ``M = I``, so the layer starts as its premier kernel
  and ``G`` still receives gradient (``dL/dG`` goes through ``M = I``). Zero for both would
  leave the branch dead forever (each factor's gradient is proportional to the other).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ShapeError
from .bsconv import BSConv, bs_conv2d, bs_effective_kernel
from .fold import FoldedConv2d

__all__ = ["LGPConv", "lgp_conv2d", "lgp_effective_kernel", "lgp_param_count", "LGP_MODES"]

LGP_MODES = ("full", "premier", "no_noise")


def lgp_param_count(in_channels: int, out_channels: int, kernel_size: int = 3, mode: str = "full") -> int:
    """``Cout (Cin + k^2 + 2)`` for the premier kernel, ``+ Cout (k^2 + Cout)`` with the perturbation."""
    premier = out_channels * (in_channels + kernel_size**2 + 2)
    return premier if mode == "premier" else premier + out_channels * (kernel_size**2 + out_channels)


def lgp_perturb(y: torch.Tensor, perturb_depthwise: torch.Tensor, perturb_pointwise: torch.Tensor) -> torch.Tensor:
    """``y + M(G(y))``: ``G (C, k, k)`` depthwise with zero padding, ``M (C, C)`` pointwise, no biases."""
    c, k = perturb_depthwise.shape[0], perturb_depthwise.shape[-1]
    z = F.conv2d(y, perturb_depthwise.reshape(c, 1, k, k), None, padding=k // 2, groups=c)
    z = F.conv2d(z, perturb_pointwise.reshape(c, c, 1, 1))
    return y + z


def lgp_conv2d(
    x: torch.Tensor,
    pointwise_weight: torch.Tensor,
    pointwise_bias: torch.Tensor | None,
    depthwise_weight: torch.Tensor,
    depthwise_bias: torch.Tensor | None,
    perturb_depthwise: torch.Tensor | None = None,
    perturb_pointwise: torch.Tensor | None = None,
) -> torch.Tensor:
    """Functional LGPConv (paper Eq. 13).

    Shapes: ``x (B, Cin, H, W)``; premier ``P (Cout, Cin)``, ``B (Cout, k, k)``, biases
    ``(Cout,)``; perturbation ``G (Cout, k, k)``, ``M (Cout, Cout)`` (both None: premier only).
    Returns ``(B, Cout, H, W)``.
    """
    y = bs_conv2d(x, pointwise_weight, pointwise_bias, depthwise_weight, depthwise_bias)
    if perturb_depthwise is None:
        return y
    return lgp_perturb(y, perturb_depthwise, perturb_pointwise)


def lgp_effective_kernel(
    pointwise_weight: torch.Tensor,
    depthwise_weight: torch.Tensor,
    perturb_depthwise: torch.Tensor | None = None,
    perturb_pointwise: torch.Tensor | None = None,
) -> torch.Tensor:
    """The ``(Cout, Cin, 2k-1, 2k-1)`` LGPKernel (Eq. 12); premier only when G, M are None."""
    k = depthwise_weight.shape[-1]
    premier = F.pad(bs_effective_kernel(pointwise_weight, depthwise_weight), [k // 2] * 4)
    if perturb_depthwise is None:
        return premier
    c = depthwise_weight.shape[0]
    # full 2-D convolution G[j] * B[j] (cross-correlations compose into a convolution of kernels)
    gb = F.conv_transpose2d(depthwise_weight.reshape(1, c, k, k), perturb_depthwise.reshape(c, 1, k, k), groups=c)[0]
    return premier + torch.einsum("oj,ji,jab->oiab", perturb_pointwise, pointwise_weight, gb)


class LGPConv(nn.Module):
    """LGPConv layer (IJCAI 2023), a drop-in for ``nn.Conv2d(in, out, k, padding=k//2)``.

    Args:
        in_channels, out_channels, kernel_size: as ``nn.Conv2d`` (odd ``k``; 3 in the paper).
        noise_std: std of the Gaussian noise that initialises ``G`` and ``M``; a float or a
            pair ``(s_depthwise, s_pointwise)`` (paper Table 6). Default 0.005 (paper).
        mode: ``"full"`` | ``"premier"`` | ``"no_noise"`` (module docstring, paper Table 4).

    Parameters: ``pointwise_weight (Cout, Cin)``, ``pointwise_bias (Cout)``,
    ``depthwise_weight (Cout, k, k)`` (blueprint), ``depthwise_bias (Cout)``; unless
    ``mode="premier"``: ``perturb_depthwise (Cout, k, k)`` (G), ``perturb_pointwise (Cout, Cout)`` (M).
    """

    foldable = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        noise_std: float | Sequence[float] = 0.005,
        mode: str = "full",
    ):
        super().__init__()
        if mode not in LGP_MODES:
            raise ValueError(f"LGPConv mode must be one of {LGP_MODES}; got {mode!r}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ShapeError(f"LGPConv needs an odd kernel_size (same-size output); got {kernel_size}")
        stds = (noise_std, noise_std) if isinstance(noise_std, (int, float)) else tuple(noise_std)
        if len(stds) != 2 or min(stds) < 0:
            raise ValueError(f"noise_std must be a non-negative float or a pair of them; got {noise_std!r}")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.mode, self.noise_std = mode, (float(stds[0]), float(stds[1]))
        k = kernel_size
        self.pointwise_weight = nn.Parameter(torch.empty(out_channels, in_channels))
        self.pointwise_bias = nn.Parameter(torch.zeros(out_channels))
        self.depthwise_weight = nn.Parameter(torch.empty(out_channels, k, k))
        self.depthwise_bias = nn.Parameter(torch.zeros(out_channels))
        if mode == "premier":
            self.perturb_depthwise = self.perturb_pointwise = None
        else:
            self.perturb_depthwise = nn.Parameter(torch.empty(out_channels, k, k))
            self.perturb_pointwise = nn.Parameter(torch.empty(out_channels, out_channels))
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Premier kernel: kaiming-normal fan_out, zero biases. Perturbation: see ``mode``."""
        k, cout = self.kernel_size, self.out_channels
        with torch.no_grad():
            self.pointwise_weight.normal_(0.0, math.sqrt(2.0 / cout), generator=generator)
            self.depthwise_weight.normal_(0.0, math.sqrt(2.0 / (k * k * cout)), generator=generator)
            self.pointwise_bias.zero_()
            self.depthwise_bias.zero_()
            if self.mode == "full":
                self.perturb_depthwise.normal_(0.0, self.noise_std[0], generator=generator)
                self.perturb_pointwise.normal_(0.0, self.noise_std[1], generator=generator)
            elif self.mode == "no_noise":
                self.perturb_depthwise.zero_()
                self.perturb_pointwise.copy_(torch.eye(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ShapeError(f"LGPConv expects (B, {self.in_channels}, H, W); got {tuple(x.shape)}")
        return lgp_conv2d(
            x,
            self.pointwise_weight,
            self.pointwise_bias,
            self.depthwise_weight,
            self.depthwise_bias,
            self.perturb_depthwise,
            self.perturb_pointwise,
        )

    def effective_kernel(self) -> torch.Tensor:
        """The ``(Cout, Cin, 2k-1, 2k-1)`` LGPKernel (``k x k`` padded for ``mode="premier"``)."""
        return lgp_effective_kernel(
            self.pointwise_weight, self.depthwise_weight, self.perturb_depthwise, self.perturb_pointwise
        )

    @property
    def radius(self) -> int:
        """Pixels of context on each side: ``k-1`` (``(k-1)/2`` for the premier kernel only)."""
        r = self.kernel_size // 2
        return r if self.perturb_depthwise is None else 2 * r

    def premier(self) -> nn.Module:
        """The premier kernel alone as a :class:`~pansharpen.layers.bsconv.BSConv` (shares no storage)."""
        layer = BSConv(self.in_channels, self.out_channels, self.kernel_size, pointwise_bias=True)
        layer = layer.to(self.pointwise_weight)
        with torch.no_grad():
            for name in ("pointwise_weight", "pointwise_bias", "depthwise_weight", "depthwise_bias"):
                getattr(layer, name).copy_(getattr(self, name))
        return layer

    def fold(self) -> nn.Module:
        """Exact inference form: dense ``k x k`` premier conv with bias map, then dense ``I + M o G``."""
        base = self.premier()
        premier = FoldedConv2d.from_affine(base, base.effective_kernel(), radius=self.kernel_size // 2)
        if self.perturb_depthwise is None:
            return premier
        k, c = self.kernel_size, self.out_channels
        with torch.no_grad():
            kernel = self.perturb_pointwise[:, :, None, None] * self.perturb_depthwise[None, :, :, :]
            kernel[torch.arange(c), torch.arange(c), k // 2, k // 2] += 1.0
        perturb = nn.Conv2d(c, c, k, padding=k // 2, bias=False).to(kernel)
        perturb.weight.data.copy_(kernel)
        perturb.requires_grad_(False)
        return nn.Sequential(premier, perturb)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, mode={self.mode!r}, "
            f"noise_std={self.noise_std}"
        )
