"""Ada3D: adaptive 3-D convolution with a rank-1 (spectral x spatial) kernel per voxel.

Ada3D (IEEE TIP 2026, arXiv 2605.09455) convolves a 3-D feature cube
``x`` of shape ``(B, C, L, H, W)`` (C feature channels, L spectral bands) with a
different ``k x k x k`` kernel at every voxel and for every feature channel
(depthwise, "group convolution" in the paper). The kernel is the product of a
spectral kernel, generated from the globally pooled cube, and a spatial kernel,
generated from a 2-D guide feature ``y`` of shape ``(B, Cs, H, W)``::

    K_spe[b,c,l,t]   = N( G_spe( GAP_hw(x) ) )[b, c*T + t, l]            (T = k^3 taps)
    K_spa[b,c,h,w,t] = N( G_spa( y ) )[b, c*T + t, h, w]
    out[b,c,l,h,w]   = sum_t x[b,c,l+dl-p,h+dh-p,w+dw-p] K_spe[b,c,l,t] K_spa[b,c,h,w,t]
                       + bias[b,c,l,h,w]

with tap order ``t = k^2 dl + k dh + dw`` (offsets in ``0..k-1``, ``p = k // 2``,
zero padding, cross-correlation), and ``N`` the per-voxel tap normalisation
``N(v) = (v - mean_t v) / (std_t v + 1e-10) * sqrt(2 / (1 + 0.01^2)) / k``
(unbiased std over the T taps).

Generators (``h_*`` hidden widths, LReLU slope 0.2)::

    G_spe: Conv3d(C -> h_spe, (3,1,1)) -> LReLU -> Conv3d(h_spe -> T*C, (3,1,1))    on (B, C, L, 1, 1)
    G_spa: Conv2d(Cs -> h_spa, 3x3)   -> LReLU -> Conv2d(h_spa -> T*C, 3x3)        on y
    bias : spectral  Conv3d(C -> 1, (3,1,1)) on GAP_hw(x)              -> (B, 1, L, 1, 1)
           spatial   Conv2d(Cs -> 1, 3x3) on y                          -> (B, 1, 1, H, W)
           channel   Conv3d(C+Cs -> h_b, 1) -> LReLU -> Conv3d(h_b -> C, 1)
                     on [GAP_lhw(x), GAP_hw(y)]                        -> (B, C, 1, 1, 1)

``bias="reference"`` is the authors' triple product ``spectral * spatial * channel``:
it is unbounded and cubic in the activations, so activations can feed back into
ever larger biases layer after layer (the released WDC/Botswana weights overflow on
inputs in [0, 0.2]). ``bias="bounded"`` (default for new models) uses
``tanh(spectral) * tanh(spatial) * tanh(channel)``: the same parameters, equal to the
reference to first order while the factors are small, and ``|bias| < 1`` always.

Parameter count (``h_spe = int(C a_spe)``, ``h_spa = int(Cs a_spa)``, ``h_b = int((C+Cs) a_b)``)::

    G_spe: 3 C h_spe + h_spe + 3 h_spe T C + T C
    G_spa: 9 Cs h_spa + h_spa + 9 h_spa T C + T C
    bias : (3 C + 1) + (9 Cs + 1) + ((C + Cs) h_b + h_b) + (h_b C + C)

(e.g. 197,213 for C = Cs = 48, k = 3, h = 12 / 12 / 3: the pansharpening layer).

Memory and speed: the (B, C, L, H, W, T) kernel is never built. The correlation
loops over the T taps, accumulating ``shift_t(x) * K_spe[..., t] * K_spa[..., t]``
with broadcasting. The spatial normalisation is split: the tap mean is linear, so it is
folded into the weights of the generator's last conv (centred taps come out of the conv),
and the scale ``gain / k / (std + 1e-10)`` depends only on (b, c, h, w), so it multiplies
the tap sum once instead of every tap. Without autograd the layer works in strips of
rows, so that only a strip of the spatial kernel (T*C values per pixel, the largest
tensor) exists at a time. With autograd a custom backward recomputes the taps instead
of storing T products. Nothing is kept on the module between calls.
"""
from __future__ import annotations

import math
import os
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ShapeError

#: sqrt(2 / (1 + 0.01^2)): torch's leaky_relu gain for slope 0.01 (the authors' constant)
_LEAKY_GAIN = math.sqrt(2.0 / (1.0 + 0.01**2))
_STD_EPS = 1e-10
_SLOPE = 0.2
BIAS_MODES = ("reference", "bounded")


def normalise_taps(v: torch.Tensor, dim: int, kernel_size: int = 3) -> torch.Tensor:
    """Standardise the taps along ``dim``: ``(v - mean) / (std_unbiased + 1e-10) * gain / k``.

    ``gain = sqrt(2 / (1 + 0.01^2))``. The variance is clamped at 1e-20 before the square root
    so that a group of identical taps gives zeros with a finite gradient (the value is the
    authors' whenever std > 1e-10).
    """
    centred = v - v.mean(dim, keepdim=True)
    std = v.var(dim, keepdim=True, unbiased=True).clamp_min(1e-20).sqrt()
    return centred / (std + _STD_EPS) * (_LEAKY_GAIN / kernel_size)


def _tap_offsets(k: int):
    for dl in range(k):
        for dh in range(k):
            for dw in range(k):
                yield k * k * dl + k * dh + dw, dl, dh, dw


def _correlate(xpad: torch.Tensor, spectral: torch.Tensor, spatial: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """Tap loop without autograd. ``xpad`` (B,C,L+2p,H+2p,W+2p); ``spectral`` (B,C,T,L); ``spatial`` (B,C,T,H,W).

    Per tap: ``k_t = K_spe[..., t] (x) K_spa[..., t]`` (one tap of the kernel, (B,C,L,H,W), in a reused
    buffer), then ``out += shift_t(x) * k_t``. ``out`` (zeros) may be given to accumulate in place.
    """
    T = spectral.shape[2]
    k = round(T ** (1 / 3))
    B, C, Lp, Hp, Wp = xpad.shape
    L, H, W = Lp - (k - 1), Hp - (k - 1), Wp - (k - 1)
    if out is None:
        out = torch.zeros((B, C, L, H, W), dtype=xpad.dtype, device=xpad.device)
    kernel_t = torch.empty((B, C, L, H, W), dtype=xpad.dtype, device=xpad.device)  # reused: no page faults per tap
    for t, dl, dh, dw in _tap_offsets(k):
        torch.mul(spectral[:, :, t, :, None, None], spatial[:, :, t].unsqueeze(2), out=kernel_t)
        out.addcmul_(xpad[:, :, dl : dl + L, dh : dh + H, dw : dw + W], kernel_t)
    return out


def strip_output(xpad: torch.Tensor, spectral: torch.Tensor, centred: torch.Tensor, global_bias: torch.Tensor,
                 spatial_bias: torch.Tensor) -> torch.Tensor:
    """One strip of an Ada3D layer's output as one expression (what :func:`fused_strip_kernel` compiles).

    ``xpad`` (B,C,L+2p,h+2p,W+2p) zero-padded cube strip; ``spectral`` (B,C,T,L); ``centred`` (B,C,T,h,W)
    tap-centred spatial kernel; ``global_bias`` (B,C,L,1,1) = spectral x channel bias factors;
    ``spatial_bias`` (B,1,1,h,W). Returns ``sum_t shift_t(x) K_spe_t centred_t * scale + bias``, with
    ``scale = gain / k / (std_t + 1e-10)`` (module docstring): the same values as the eager strip.
    """
    T = spectral.shape[2]
    k = round(T ** (1 / 3))
    L, H, W = xpad.shape[2] - (k - 1), xpad.shape[3] - (k - 1), xpad.shape[4] - (k - 1)
    acc = sumsq = None
    for t, dl, dh, dw in _tap_offsets(k):
        spa = centred[:, :, t]
        term = xpad[:, :, dl : dl + L, dh : dh + H, dw : dw + W] * spectral[:, :, t, :, None, None] * spa.unsqueeze(2)
        acc = term if acc is None else acc + term
        sumsq = spa * spa if sumsq is None else sumsq + spa * spa
    std = (sumsq / (T - 1)).clamp_min(1e-20).sqrt()
    scale = (_LEAKY_GAIN / k) / (std + _STD_EPS)
    return acc * scale.unsqueeze(2) + global_bias * spatial_bias


#: cubes with fewer voxels run the eager loop (compiling costs tens of seconds once per process; the
#: pansharpening cube of a 256 x 256 PAN, 48 x 8 x 256 x 256 voxels, is above it)
_FUSE_MIN_VOXELS = 2**24
_FUSED: dict[str, object] = {}


def fused_strip_kernel():
    """:func:`strip_output` compiled by TorchInductor into one loop over the strip (the 27 taps, the
    normalisation and the bias in registers instead of 2 x 27 + 3 passes over memory), or None.

    None when ``PANSHARPEN_COMPILE=0``, when ``torch.compile`` is unavailable, or when the first
    compilation fails (it needs a C++ compiler; a warning says so once); callers then run the eager
    tap loop, which gives the same values. Compiled code is cached on disk by Inductor, so only the
    first process on a machine pays the compilation (tens of seconds).
    """
    if "fn" in _FUSED:
        return _FUSED["fn"]
    fn = None
    if os.environ.get("PANSHARPEN_COMPILE", "1") != "0" and hasattr(torch, "compile"):
        try:
            compiled = torch.compile(strip_output, dynamic=True)
            # compile and check once on a small strip (a missing compiler fails here, not mid-scene)
            g = torch.Generator().manual_seed(0)
            args = (torch.rand(1, 2, 5, 6, 9, generator=g), torch.rand(1, 2, 27, 3, generator=g),
                    torch.rand(1, 2, 27, 4, 7, generator=g), torch.rand(1, 2, 3, 1, 1, generator=g),
                    torch.rand(1, 1, 1, 4, 7, generator=g))

            def fn(*tensors):
                # no "duck" shapes: sizes that happen to be equal in one strip must not be assumed equal
                with torch.fx.experimental._config.patch(use_duck_shape=False):
                    return compiled(*tensors)

            with torch.no_grad():
                err = float((fn(*args) - strip_output(*args)).abs().max())
            if err > 1e-4:
                raise RuntimeError(f"the compiled strip differs from the eager one by {err:.3g}")
        except Exception as exc:  # no compiler, no inductor: the eager loop is exact too
            fn = None
            warnings.warn(f"Ada3D runs its eager tap loop (torch.compile unavailable: {str(exc)[:200]})", stacklevel=3)
    _FUSED["fn"] = fn
    return fn


class _AdaptiveCorrelation(torch.autograd.Function):
    """Autograd for the tap loop that recomputes the taps in backward (memory: x + the two kernels)."""

    @staticmethod
    def forward(ctx, xpad, spectral, spatial):
        ctx.save_for_backward(xpad, spectral, spatial)
        with torch.no_grad():
            return _correlate(xpad, spectral, spatial)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        xpad, spectral, spatial = ctx.saved_tensors
        T = spectral.shape[2]
        k = round(T ** (1 / 3))
        L, H, W = grad.shape[2:]
        need_x, need_spe, need_spa = ctx.needs_input_grad
        gx = torch.zeros_like(xpad) if need_x else None
        gspe = torch.empty_like(spectral) if need_spe else None
        gspa = torch.empty_like(spatial) if need_spa else None
        for t, dl, dh, dw in _tap_offsets(k):
            a = spectral[:, :, t, :, None, None]  # (B,C,L,1,1)
            b = spatial[:, :, t].unsqueeze(2)  # (B,C,1,H,W)
            if need_x:
                gx[:, :, dl : dl + L, dh : dh + H, dw : dw + W].addcmul_(grad * b, a)
            if need_spe or need_spa:
                gxs = grad * xpad[:, :, dl : dl + L, dh : dh + H, dw : dw + W]
                if need_spe:
                    gspe[:, :, t] = (gxs * b).sum((3, 4))
                if need_spa:
                    gspa[:, :, t] = (gxs * a).sum(2)
        return gx, gspe, gspa


def adaptive_conv3d(x: torch.Tensor, spectral: torch.Tensor, spatial: torch.Tensor) -> torch.Tensor:
    """Depthwise per-voxel 3-D correlation with the rank-1 kernel ``K_spe[b,c,l,t] * K_spa[b,c,h,w,t]``.

    Args:
        x: ``(B, C, L, H, W)`` feature cube.
        spectral: ``(B, C, T, L)`` spectral taps, ``T = k^3``, tap ``t = k^2 dl + k dh + dw``.
        spatial: ``(B, C, T, H, W)`` spatial taps.

    Returns ``(B, C, L, H, W)``: ``sum_t x_t K_spe_t K_spa_t`` with zero padding ``k // 2``
    (cross-correlation), computed without materialising the per-voxel kernel.
    """
    if x.ndim != 5 or spectral.ndim != 4 or spatial.ndim != 5:
        raise ShapeError(
            f"adaptive_conv3d expects x (B,C,L,H,W), spectral (B,C,T,L), spatial (B,C,T,H,W); "
            f"got {tuple(x.shape)}, {tuple(spectral.shape)}, {tuple(spatial.shape)}"
        )
    B, C, L, H, W = x.shape
    T = spectral.shape[2]
    k = round(T ** (1 / 3))
    if k**3 != T or k % 2 == 0:
        raise ShapeError(f"adaptive_conv3d: the tap axis must hold k^3 taps for an odd k; got {T}")
    if tuple(spectral.shape) != (B, C, T, L) or tuple(spatial.shape) != (B, C, T, H, W):
        raise ShapeError(
            f"adaptive_conv3d: for x {tuple(x.shape)} the kernels must be spectral {(B, C, T, L)} and spatial "
            f"{(B, C, T, H, W)}; got {tuple(spectral.shape)} and {tuple(spatial.shape)}"
        )
    p = k // 2
    xpad = F.pad(x, (p, p, p, p, p, p))
    if torch.is_grad_enabled() and (x.requires_grad or spectral.requires_grad or spatial.requires_grad):
        return _AdaptiveCorrelation.apply(xpad, spectral, spatial)
    return _correlate(xpad, spectral, spatial)


class Ada3D(nn.Module):
    """Adaptive 3-D convolution layer (see the module docstring for the equations).

    Args:
        channels: C, feature channels of the cube ``x`` (B, C, L, H, W); the output has C too.
        guide_channels: Cs, channels of the guide feature ``y`` (B, Cs, H, W).
        kernel_size: k (odd), taps T = k^3.
        spectral_ratio: hidden width of the spectral generator = ``int(C * spectral_ratio)``.
        spatial_ratio: hidden width of the spatial generator = ``int(Cs * spatial_ratio)``.
        bias_ratio: hidden width of the channel-bias MLP = ``int((C + Cs) * bias_ratio)``.
        bias: ``"bounded"`` (tanh of each factor; default) or ``"reference"`` (authors' product).
        strip_bytes: without autograd, the image is processed in strips of rows whose spatial
            kernel holds at most about this many bytes (memory bound; 0 disables strips).

    ``forward(x, y, pooled=None)``; ``pooled = (GAP_hw(x) (B,C,L), GAP_hw(y) (B,Cs))`` may be
    given to use image-wide statistics for a tile (see :meth:`pool`).
    """

    def __init__(
        self,
        channels: int,
        guide_channels: int,
        kernel_size: int = 3,
        spectral_ratio: float = 1.0,
        spatial_ratio: float = 1.0,
        bias_ratio: float = 0.25,
        bias: str = "bounded",
        strip_bytes: int = 16 * 2**20,
    ):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ShapeError(f"Ada3D kernel_size must be odd and positive; got {kernel_size}")
        if bias not in BIAS_MODES:
            raise ValueError(f"Ada3D bias must be one of {BIAS_MODES}; got {bias!r}")
        C, Cs, k = channels, guide_channels, kernel_size
        T = k**3
        h_spe, h_spa, h_b = int(C * spectral_ratio), int(Cs * spatial_ratio), int((C + Cs) * bias_ratio)
        if min(h_spe, h_spa, h_b) < 1:
            raise ShapeError(f"Ada3D hidden widths must be >= 1; got {h_spe}, {h_spa}, {h_b} from the ratios")
        self.channels, self.guide_channels, self.kernel_size, self.taps = C, Cs, k, T
        self.bias_mode = bias
        self.strip_bytes = strip_bytes
        self.spectral_generator = nn.Sequential(
            nn.Conv3d(C, h_spe, (3, 1, 1), padding=(1, 0, 0)),
            nn.LeakyReLU(_SLOPE),
            nn.Conv3d(h_spe, T * C, (3, 1, 1), padding=(1, 0, 0)),
        )
        self.spatial_generator = nn.Sequential(
            nn.Conv2d(Cs, h_spa, 3, padding=1),
            nn.LeakyReLU(_SLOPE),
            nn.Conv2d(h_spa, T * C, 3, padding=1),
        )
        self.bias = _AdaptiveBias(C, Cs, h_b)

    @staticmethod
    def parameter_count(channels, guide_channels, kernel_size=3, spectral_ratio=1.0, spatial_ratio=1.0, bias_ratio=0.25) -> int:
        """The formula of the module docstring."""
        C, Cs, T = channels, guide_channels, kernel_size**3
        h_spe, h_spa, h_b = int(C * spectral_ratio), int(Cs * spatial_ratio), int((C + Cs) * bias_ratio)
        spe = 3 * C * h_spe + h_spe + 3 * h_spe * T * C + T * C
        spa = 9 * Cs * h_spa + h_spa + 9 * h_spa * T * C + T * C
        bias = (3 * C + 1) + (9 * Cs + 1) + ((C + Cs) * h_b + h_b) + (h_b * C + C)
        return spe + spa + bias

    def extra_macs(self, bands: int) -> int:
        """Element-wise MACs per output pixel not counted as convolution: T*C*L for the
        correlation plus T*C*L multiplies forming K_spe*K_spa (what a naive form would build)."""
        return 2 * self.taps * self.channels * bands

    def pool(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Image-wide statistics ``(GAP_hw(x) (B,C,L), GAP_hw(y) (B,Cs))``."""
        return x.mean((3, 4)), y.mean((2, 3))

    def spectral_kernel(self, cube_pooled: torch.Tensor) -> torch.Tensor:
        """``(B, C, L)`` pooled cube -> normalised spectral taps ``(B, C, T, L)``."""
        B, C, L = cube_pooled.shape
        raw = self.spectral_generator(cube_pooled[..., None, None]).view(B, C, self.taps, L)
        return normalise_taps(raw, 2, self.kernel_size)

    def spatial_kernel(self, y: torch.Tensor) -> torch.Tensor:
        """``(B, Cs, H, W)`` guide -> normalised spatial taps ``(B, C, T, H, W)``."""
        B, _, H, W = y.shape
        raw = self.spatial_generator(y).view(B, self.channels, self.taps, H, W)
        return normalise_taps(raw, 2, self.kernel_size)

    def _check(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if x.ndim != 5 or y.ndim != 4:
            raise ShapeError(f"Ada3D expects x (B,C,L,H,W) and y (B,Cs,H,W); got {tuple(x.shape)}, {tuple(y.shape)}")
        if x.shape[1] != self.channels or y.shape[1] != self.guide_channels:
            raise ShapeError(
                f"Ada3D was built for {self.channels} cube channels and {self.guide_channels} guide channels; "
                f"got x with {x.shape[1]} and y with {y.shape[1]}"
            )
        if x.shape[0] != y.shape[0] or x.shape[-2:] != y.shape[-2:]:
            raise ShapeError(f"Ada3D: x {tuple(x.shape)} and y {tuple(y.shape)} must share batch, height and width")

    def _centred_spatial_taps(self, hidden: torch.Tensor, pad_rows: int = 1) -> torch.Tensor:
        """Second spatial-generator conv with the tap mean folded into its weights:
        ``raw - mean_t(raw)`` computed as one conv (the mean over taps is linear). -> (B, C, T, h, W)."""
        conv = self.spatial_generator[2]
        C, T = self.channels, self.taps
        weight = conv.weight.view(C, T, *conv.weight.shape[1:])
        weight = (weight - weight.mean(1, keepdim=True)).view_as(conv.weight)
        bias = conv.bias.view(C, T)
        bias = (bias - bias.mean(1, keepdim=True)).reshape(-1)
        centred = F.conv2d(hidden, weight, bias, padding=(pad_rows, 1))
        return centred.view(hidden.shape[0], C, T, *centred.shape[-2:])

    def _tap_scale(self, centred: torch.Tensor) -> torch.Tensor:
        """``gain / k / (std_t + 1e-10)`` per pixel, (B, C, h, W): the normalisation's scale, which does
        not depend on the tap or the band and so multiplies the correlation once, after the tap sum."""
        if torch.is_grad_enabled() and centred.requires_grad:
            sumsq = centred.square().sum(2)
        else:  # a reduction over the strided tap axis is slow on CPU; 27 contiguous accumulations are not
            sumsq = torch.zeros_like(centred[:, :, 0])
            for t in range(self.taps):
                sumsq.addcmul_(centred[:, :, t], centred[:, :, t])
        std = (sumsq / (self.taps - 1)).clamp_min(1e-20).sqrt()
        return (_LEAKY_GAIN / self.kernel_size) / (std + _STD_EPS)

    def forward(
        self, x: torch.Tensor, y: torch.Tensor, pooled: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """``x`` (B, C, L, H, W), ``y`` (B, Cs, H, W) -> (B, C, L, H, W)."""
        self._check(x, y)
        cube_pooled, guide_pooled = self.pool(x, y) if pooled is None else pooled
        spectral = self.spectral_kernel(cube_pooled)
        spe_bias, channel_bias = self.bias.global_terms(cube_pooled, guide_pooled, self.bias_mode)
        spatial_bias = self.bias.spatial_term(y, self.bias_mode)  # (B,1,H,W): one channel, cheap
        B, C, L, H, W = x.shape
        needs_grad = torch.is_grad_enabled() and (
            x.requires_grad or y.requires_grad or any(p.requires_grad for p in self.parameters())
        )
        row_bytes = B * C * self.taps * W * x.element_size()
        rows = H if self.strip_bytes <= 0 else max(1, self.strip_bytes // max(row_bytes, 1))
        if needs_grad or rows >= H:
            hidden = self.spatial_generator[1](self.spatial_generator[0](y))
            centred = self._centred_spatial_taps(hidden)
            bias = spe_bias[..., None, None] * spatial_bias[:, :, None] * channel_bias[..., None, None, None]
            return adaptive_conv3d(x, spectral, centred) * self._tap_scale(centred)[:, :, None] + bias
        return self._forward_strips(x, y, spectral, spe_bias, spatial_bias, channel_bias, rows)

    def _forward_strips(self, x, y, spectral, spe_bias, spatial_bias, channel_bias, rows) -> torch.Tensor:
        """No-autograd path: one strip of ``rows`` rows at a time (spatial kernel of one strip only)."""
        B, C, L, H, W = x.shape
        p = self.kernel_size // 2
        gen0, act, _ = self.spatial_generator
        out = torch.empty_like(x)
        fused = fused_strip_kernel() if x.numel() >= _FUSE_MIN_VOXELS else None
        # the generator's two 3x3 convs need 2 guide rows of context; hidden rows outside the
        # image must be zero (the second conv's zero padding), not conv0 of zero-padded input.
        for r0 in range(0, H, rows):
            r1 = min(H, r0 + rows)
            lo, hi = max(0, r0 - 2), min(H, r1 + 2)
            y_strip = F.pad(y[:, :, lo:hi], (0, 0, lo - (r0 - 2), (r1 + 2) - hi))
            hidden = act(F.conv2d(y_strip, gen0.weight, gen0.bias, padding=(0, 1)))  # rows r0-1 .. r1
            if r0 == 0:
                hidden[:, :, 0] = 0
            if r1 == H:
                hidden[:, :, -1] = 0
            centred = self._centred_spatial_taps(hidden, pad_rows=0)
            xlo, xhi = max(0, r0 - p), min(H, r1 + p)
            x_strip = F.pad(x[:, :, :, xlo:xhi], (p, p, xlo - (r0 - p), (r1 + p) - xhi, p, p))
            global_bias = spe_bias[..., None, None] * channel_bias[..., None, None, None]
            if fused is not None:
                out[:, :, :, r0:r1] = fused(x_strip, spectral, centred, global_bias, spatial_bias[:, :, None, r0:r1])
                continue
            strip = out[:, :, :, r0:r1].zero_()
            _correlate(x_strip, spectral, centred, out=strip).mul_(self._tap_scale(centred)[:, :, None])
            strip.addcmul_(global_bias, spatial_bias[:, :, None, r0:r1])
        return out


class _AdaptiveBias(nn.Module):
    """Adaptive bias: spectral (B,1,L) x spatial (B,1,H,W) x channel (B,C) factors."""

    def __init__(self, channels: int, guide_channels: int, hidden: int):
        super().__init__()
        self.spectral = nn.Conv3d(channels, 1, (3, 1, 1), padding=(1, 0, 0))
        self.spatial = nn.Conv2d(guide_channels, 1, 3, padding=1)
        self.channel = nn.Sequential(
            nn.Conv3d(channels + guide_channels, hidden, 1), nn.LeakyReLU(_SLOPE), nn.Conv3d(hidden, channels, 1)
        )

    def global_terms(self, cube_pooled: torch.Tensor, guide_pooled: torch.Tensor, mode: str):
        """Spectral factor (B, 1, L) and channel factor (B, C) from the pooled statistics."""
        spe = self.spectral(cube_pooled[..., None, None])[:, :, :, 0, 0]
        both = torch.cat([cube_pooled.mean(2), guide_pooled], 1)[..., None, None, None]
        chan = self.channel(both)[:, :, 0, 0, 0]
        if mode == "bounded":
            spe, chan = torch.tanh(spe), torch.tanh(chan)
        return spe, chan

    def spatial_term(self, y: torch.Tensor, mode: str) -> torch.Tensor:
        """Spatial factor (B, 1, H, W)."""
        s = self.spatial(y)
        return torch.tanh(s) if mode == "bounded" else s
