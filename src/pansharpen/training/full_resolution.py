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
  role of Z-PNN's correlation threshold.

* **Total** ``L = spectral_weight * L_spec + spatial_weight * L_spat`` (defaults 1 and
  :data:`SPATIAL_WEIGHT`; both are exposed on the command line as ``--spectral-weight`` and
  ``--spatial-weight``).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..errors import ShapeError, ValueRangeError
from ..metrics.full import pan_degraded
from ..metrics.reprojection import correlation_window, local_correlation, reproject

__all__ = ["FullResolutionLoss", "correlation_target", "SPECTRAL_WEIGHT", "SPATIAL_WEIGHT", "TARGETS"]

#: default weight of the spectral term
SPECTRAL_WEIGHT = 1.0
#: default weight of the spatial term (chosen on a dgsamples WV3 crop, see docs/adaptation.md)
SPATIAL_WEIGHT = 1.0
#: spatial targets: per-window MS/PAN correlation at the MS scale, or 1
TARGETS = ("ms", "one")
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


class FullResolutionLoss(nn.Module):
    """``L = spectral_weight * L_spec + spatial_weight * L_spat`` (module docstring).

    Args:
        sensor: sensor name, :class:`~pansharpen.protocol.sensors.Sensor` or one MTF gain per band.
        ratio: PAN/MS ratio.
        spectral_weight, spatial_weight: the two weights (>= 0, not both 0).
        border: MS pixels left out of the spectral term at each patch edge (default
            ``ceil(20 / ratio)``: the half-width of the 41-tap MTF kernel).
        window: local-correlation window (default ``2 ceil(ratio / 2)``).

    ``forward(fused, ms, pan, target)``: ``fused (N, C, H, W)``, ``ms (N, C, H/R, W/R)``,
    ``pan (N, 1, H, W)`` on one scale (e.g. DN / normaliser), ``target`` a tensor from
    :func:`correlation_target` or a number (1.0 for ``target="one"``). Returns
    ``(total, {"spectral": float, "spatial": float})``; ``total`` is differentiable in ``fused``.
    """

    def __init__(self, sensor, ratio: int = 4, spectral_weight: float = SPECTRAL_WEIGHT,
                 spatial_weight: float = SPATIAL_WEIGHT, border: int | None = None, window: int | None = None):
        super().__init__()
        for name, value in (("spectral_weight", spectral_weight), ("spatial_weight", spatial_weight)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueRangeError(f"{name} must be a finite number >= 0; got {value}")
        if spectral_weight == 0 and spatial_weight == 0:
            raise ValueRangeError("spectral_weight and spatial_weight are both 0: nothing to learn; give one > 0")
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

    def spatial(self, fused: torch.Tensor, pan: torch.Tensor, target: "torch.Tensor | float") -> torch.Tensor:
        rho = local_correlation(_standardise(fused), _standardise(pan), self.window, eps=CORRELATION_EPS)
        return torch.relu(target - rho).mean()

    def forward(self, fused: torch.Tensor, ms: torch.Tensor, pan: torch.Tensor,
                target: "torch.Tensor | float" = 1.0) -> tuple[torch.Tensor, dict[str, float]]:
        spec = self.spectral(fused, ms) if self.spectral_weight else fused.new_zeros(())
        spat = self.spatial(fused, pan, target) if self.spatial_weight else fused.new_zeros(())
        total = self.spectral_weight * spec + self.spatial_weight * spat
        return total, {"spectral": float(spec.detach()), "spatial": float(spat.detach())}

    def describe(self) -> dict[str, float | int]:
        """The loss settings, for the model card."""
        return {"spectral_weight": self.spectral_weight, "spatial_weight": self.spatial_weight,
                "border": self.border, "window": self.window}

