"""Unsupervised full-resolution loss (after Z-PNN, Ciotola et al. TGRS 2022, and lambda-PNN, TGRS 2023).

Written from the papers' descriptions. No ground truth: the fused patch ``F`` (PAN grid) is
judged against the MS and the PAN of the product itself.

* **Spectral consistency** -- the fused image, degraded the way the sensor made the MS, must
  give the MS back (:func:`pansharpen.metrics.reprojection.reproject`: sensor MTF filter, then
  decimation by R at the Wald phase)::

      L_spec = mean_{b, i} |reproject(F)_b(i) - MS_b(i)| / mean_{b, i} |MS_b(i)|

  over the MS pixels at least ``border`` MS pixels from the patch edge (the 41-tap MTF kernel
  sees the replicated border there). Relative L1, so the weight does not depend on the DN scale.

* **Spatial consistency** -- each fused band must follow the PAN's local detail: with
  ``rho_b(w)`` the correlation coefficient of ``F_b`` and ``P`` over the ``s x s`` window ``w``
  (``s = 2 ceil(R/2)``, the D_rho window; both images standardised per patch, smoothed by
  ``CORRELATION_EPS`` = 1e-8 relative to the patch variances)::

      L_spat = mean_{b, w} max(0, rho*_b(w) - rho_b(w))

  The target ``rho*`` is either 1 (``target="one"``: every window as correlated as possible, as
  D_rho measures) or, by default (``target="ms"``), the correlation the same band has with the
  PAN at the MS scale: ``rho*_b = rho(MSexp_b, P~)`` with ``MSexp`` the MS interpolated to the PAN
  grid (interp23tap) and ``P~`` the PAN reduced to the MS scale and interpolated back
  (:func:`pansharpen.metrics.full.pan_degraded`). Where the MS band and the PAN disagree at low
  resolution (vegetation in the blue band, water in the NIR) the loss then does not force the
  fused band to copy the PAN; once a window reaches its target it costs nothing. This is the
  role of Z-PNN's correlation threshold. ``target="match"`` penalises both sides,
  ``|rho*_b(w) - rho_b(w)|``: a fused band must not follow the PAN *more* than the MS band does at
  its scale either (the window-level form of the D_s idea: the band-PAN relation is the same at
  both scales).

* **QNR spatial consistency** (optional, ``qnr_weight``; after the QNR-loss networks, e.g. Luo et
  al., IEEE JSTARS 13, 2020): the differentiable D_s of the QNR protocol (Alparone et al. 2008,
  toolbox 1.0's ``D_s.m``), on distinct ``QNR_BLOCK`` x ``QNR_BLOCK`` blocks of the patch::

      L_qnr = mean_{b, k} |Q(F_b, P)(k) - Q(MSexp_b, P~)(k)|

  with ``Q`` the universal image quality index (Wang & Bovik 2002) of block ``k``: the fused band
  must relate to the PAN as the MS band relates to the PAN seen through the MS resolution. Unlike
  the local correlation, ``Q`` also compares the block means and contrasts, and the term is
  two-sided.

* **Cross-scale consistency** (optional, ``scale_weight``; the reduced-resolution supervision of
  Wald's protocol, used per product as in the cross-scale training of e.g. Vivone et al.'s
  "full-resolution + reduced-resolution" losses): the product itself, Wald-degraded by ``R``
  (:func:`pansharpen.protocol.wald.wald_degrade`: MS through the sensor's MTF and decimated, PAN
  bicubic-resized), is fused by the network, and the result must give back the product's MS::

      L_scale = mean_{b, i} |N(MS_R, P_R)_b(i) - MS_b(i)| / mean_{b, i} |MS_b(i)|

  over the inner MS pixels of each patch (``border`` left out). The only term with a ground
  truth; it assumes that the fusion rule transfers across one step of scale (the assumption the
  FR terms avoid), so it anchors the amount of detail the FR terms then adjust.

* **Total** ``L = spectral_weight * L_spec + spatial_weight * L_spat + qnr_weight * L_qnr
  + scale_weight * L_scale`` (defaults 1, :data:`SPATIAL_WEIGHT`, :data:`QNR_WEIGHT` and
  :data:`SCALE_WEIGHT`; all four are exposed on the command line as ``--spectral-weight``,
  ``--spatial-weight``, ``--qnr-weight`` and ``--scale-weight``).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ShapeError, ValueRangeError
from ..metrics.full import band_guide_blocks, pan_degraded
from ..metrics.reprojection import correlation_window, local_correlation, reproject
from .adapt_defaults import QNR_WEIGHT, SCALE_WEIGHT, SPATIAL_WEIGHT, SPECTRAL_WEIGHT

__all__ = [
    "QNR_BLOCK",
    "QNR_WEIGHT",
    "SCALE_WEIGHT",
    "SPATIAL_WEIGHT",
    "SPECTRAL_WEIGHT",
    "TARGETS",
    "FullResolutionLoss",
    "block_quality",
    "correlation_target",
    "qnr_target",
]

#: side of the QNR blocks in PAN pixels (D_s's default block)
QNR_BLOCK = 32
#: spatial targets: per-window MS/PAN correlation at the MS scale (reach it: "ms"; match it from both
#: sides: "match"), or 1
TARGETS = ("ms", "match", "one")
#: smoothing of the local correlation, relative to the per-patch (unit) variances
CORRELATION_EPS = 1e-8


def _standardise(x: torch.Tensor) -> torch.Tensor:
    """Per image and band: zero mean, unit standard deviation over the patch (flat patches kept flat)."""
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    return x / (x.pow(2).mean(dim=(-2, -1), keepdim=True).sqrt() + 1e-12)


def correlation_target(ms_exp: np.ndarray, pan: np.ndarray, ratio: int, window: int | None = None) -> np.ndarray:
    """``rho(MSexp_b, P~)`` over every window: the spatial target of ``target="ms"``.

    Args:
        ms_exp: ``(N, C, H, W)`` MS interpolated to the PAN grid (any scale).
        pan: ``(N, 1, H, W)`` PAN, H and W multiples of ``ratio``.

    Returns:
        float32 ``(N, C, H - s + 1, W - s + 1)`` in [-1, 1] (``s`` the D_rho window).
    """
    side = correlation_window(ratio) if window is None else window
    low = np.stack([pan_degraded(p[None].astype(np.float64), ratio)[0] for p in pan])
    x = _standardise(torch.from_numpy(np.ascontiguousarray(ms_exp, dtype=np.float64)))
    y = _standardise(torch.from_numpy(low))
    return local_correlation(x, y, side, eps=CORRELATION_EPS).to(torch.float32).numpy()


def qnr_target(ms_exp: np.ndarray, pan: np.ndarray, ratio: int, block: int = QNR_BLOCK) -> np.ndarray:
    """``Q(MSexp_b, P~)`` per distinct block: the target of the QNR term.

    Args:
        ms_exp: ``(N, C, H, W)`` MS interpolated to the PAN grid; ``pan``: ``(N, 1, H, W)``; H and W
            multiples of ``block`` and of ``ratio``.

    Returns:
        float32 ``(N, C, H / block, W / block)`` in [-1, 1] (:func:`pansharpen.metrics.full.band_guide_blocks`).
    """
    n, c, h, w = ms_exp.shape
    if h % block or w % block:
        raise ShapeError(f"patches of {h}x{w} PAN pixels are not whole {block}-pixel QNR blocks; "
                         f"use patches of a multiple of {block} PAN pixels")
    out = np.empty((n, c, h // block, w // block), np.float32)
    for i in range(n):
        low = pan_degraded(pan[i][None].astype(np.float64), ratio)[0, 0]
        q = band_guide_blocks(np.asarray(ms_exp[i], np.float64), low, block)
        out[i] = np.nan_to_num(q, nan=1.0).reshape(c, h // block, w // block)
    return out


def block_quality(x: torch.Tensor, guide: torch.Tensor, block: int = QNR_BLOCK, eps: float = 1e-12) -> torch.Tensor:
    """``Q(x_b, guide)`` on distinct ``block`` x ``block`` blocks, differentiable (torch).

    ``x (N, C, H, W)``, ``guide (N, 1, H, W)`` -> ``(N, C, H / block, W / block)``; the universal
    image quality index ``4 cov mean_x mean_g / ((var_x + var_g)(mean_x^2 + mean_g^2))`` (the sample
    normalisation cancels), equal to :func:`pansharpen.metrics.full.band_guide_blocks` (tested).
    """
    pool = lambda t: F.avg_pool2d(t, block)  # noqa: E731
    mx, mg = pool(x), pool(guide)
    vx, vg = pool(x * x) - mx * mx, pool(guide * guide) - mg * mg
    cov = pool(x * guide) - mx * mg
    return 4 * cov * mx * mg / ((vx + vg) * (mx * mx + mg * mg) + eps)


class FullResolutionLoss(nn.Module):
    """``L = spectral_weight * L_spec + spatial_weight * L_spat + qnr_weight * L_qnr + scale_weight * L_scale``
    (module docstring).

    Args:
        sensor: sensor name, :class:`~pansharpen.protocol.sensors.Sensor` or one MTF gain per band.
        ratio: PAN/MS ratio.
        spectral_weight, spatial_weight: the two weights (>= 0, not both 0).
        border: MS pixels left out of the spectral term at each patch edge (default
            ``ceil(20 / ratio)``: the half-width of the 41-tap MTF kernel).
        window: local-correlation window (default ``2 ceil(ratio / 2)``).
        two_sided: penalise ``|target - rho|`` instead of ``max(0, target - rho)`` (``target="match"``).

    ``forward(fused, ms, pan, target)``: ``fused (N, C, H, W)``, ``ms (N, C, H/R, W/R)``,
    ``pan (N, 1, H, W)`` on one scale (e.g. DN / normaliser), ``target`` a tensor from
    :func:`correlation_target` or a number (1.0 for ``target="one"``); ``qnr_target`` from
    :func:`qnr_target` when ``qnr_weight > 0``; ``coarse = (N(MS_R, P_R), MS)`` when ``scale_weight > 0``, cropped to the pixels to score. Returns
    ``(total, {"spectral": float, "spatial": float})``; ``total`` is differentiable in ``fused``.
    """

    def __init__(self, sensor, ratio: int = 4, spectral_weight: float = SPECTRAL_WEIGHT,
                 spatial_weight: float = SPATIAL_WEIGHT, border: int | None = None, window: int | None = None,
                 two_sided: bool = False, qnr_weight: float = QNR_WEIGHT, qnr_block: int = QNR_BLOCK,
                 scale_weight: float = SCALE_WEIGHT):
        super().__init__()
        self.two_sided = bool(two_sided)
        weights = {"spectral_weight": spectral_weight, "spatial_weight": spatial_weight,
                   "qnr_weight": qnr_weight, "scale_weight": scale_weight}
        for name, value in weights.items():
            if not (math.isfinite(value) and value >= 0):
                raise ValueRangeError(f"{name} must be a finite number >= 0; got {value}")
        if not any(weights.values()):
            raise ValueRangeError("every loss weight is 0: nothing to learn; give one > 0")
        self.qnr_weight, self.qnr_block = float(qnr_weight), int(qnr_block)
        self.scale_weight = float(scale_weight)
        self.sensor = sensor
        self.ratio = int(ratio)
        self.spectral_weight = float(spectral_weight)
        self.spatial_weight = float(spatial_weight)
        self.border = math.ceil(20 / self.ratio) if border is None else int(border)
        self.window = correlation_window(self.ratio) if window is None else int(window)

    def spectral(self, fused: torch.Tensor, ms: torch.Tensor) -> torch.Tensor:
        low = reproject(fused, self.sensor, self.ratio)
        if low.shape != ms.shape:
            raise ShapeError(f"fused {tuple(fused.shape)} reprojects to {tuple(low.shape)}, but ms is {tuple(ms.shape)}")
        k = self.border
        if min(ms.shape[-2:]) <= 2 * k:
            raise ShapeError(f"patches of {tuple(ms.shape[-2:])} MS pixels leave nothing inside a {k}-pixel border; "
                             f"use patches of at least {2 * k + 4} MS pixels")
        inner = (slice(None), slice(None), slice(k, -k), slice(k, -k)) if k else (Ellipsis,)
        diff = (low[inner] - ms[inner]).abs().mean()
        return diff / ms[inner].abs().mean().clamp_min(1e-12)

    def spatial(self, fused: torch.Tensor, pan: torch.Tensor, target: torch.Tensor | float) -> torch.Tensor:
        rho = local_correlation(_standardise(fused), _standardise(pan), self.window, eps=CORRELATION_EPS)
        return (target - rho).abs().mean() if self.two_sided else torch.relu(target - rho).mean()

    def qnr(self, fused: torch.Tensor, pan: torch.Tensor, qnr_target: torch.Tensor) -> torch.Tensor:
        return (block_quality(fused, pan, self.qnr_block) - qnr_target).abs().mean()

    def scale(self, fused_coarse: torch.Tensor, ms: torch.Tensor, border: int | None = None) -> torch.Tensor:
        """``L_scale``: ``fused_coarse`` (the network on the Wald-degraded patch) against ``ms`` on one
        grid ``(N, C, h, w)``, ``border`` pixels (default the loss's) left out at each edge."""
        if fused_coarse.shape != ms.shape:
            raise ShapeError(f"the fused degraded patch is {tuple(fused_coarse.shape)} but its MS is {tuple(ms.shape)}")
        k = self.border if border is None else int(border)
        if min(ms.shape[-2:]) <= 2 * k:
            raise ShapeError(f"cross-scale patches of {tuple(ms.shape[-2:])} MS pixels leave nothing inside a "
                             f"{k}-pixel border; use larger patches")
        inner = (Ellipsis, slice(k, -k), slice(k, -k)) if k else (Ellipsis,)
        return (fused_coarse[inner] - ms[inner]).abs().mean() / ms[inner].abs().mean().clamp_min(1e-12)

    def forward(self, fused: torch.Tensor, ms: torch.Tensor, pan: torch.Tensor,
                target: torch.Tensor | float = 1.0, qnr_target: torch.Tensor | None = None,
                coarse: tuple[torch.Tensor, torch.Tensor] | None = None,
                ) -> tuple[torch.Tensor, dict[str, float]]:
        spec = self.spectral(fused, ms) if self.spectral_weight else fused.new_zeros(())
        spat = self.spatial(fused, pan, target) if self.spatial_weight else fused.new_zeros(())
        total = self.spectral_weight * spec + self.spatial_weight * spat
        terms = {"spectral": float(spec.detach()), "spatial": float(spat.detach())}
        if self.qnr_weight:
            if qnr_target is None:
                raise ValueRangeError("qnr_weight > 0 needs qnr_target (see qnr_target())")
            qnr = self.qnr(fused, pan, qnr_target)
            total = total + self.qnr_weight * qnr
            terms["qnr"] = float(qnr.detach())
        if self.scale_weight:
            if coarse is None:
                raise ValueRangeError("scale_weight > 0 needs coarse=(fused degraded patch, its MS)")
            sc = self.scale(*coarse, border=0)  # the caller crops its context margin
            total = total + self.scale_weight * sc
            terms["scale"] = float(sc.detach())
        return total, terms

    def describe(self) -> dict[str, float | int]:
        """The loss settings, for the model card."""
        return {"spectral_weight": self.spectral_weight, "spatial_weight": self.spatial_weight,
                "border": self.border, "window": self.window, "two_sided": self.two_sided,
                "qnr_weight": self.qnr_weight, "qnr_block": self.qnr_block, "scale_weight": self.scale_weight}

