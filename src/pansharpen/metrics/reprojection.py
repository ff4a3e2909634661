"""Full-resolution indices of the reprojection protocol (Scarpa & Ciotola, Remote Sensing 14(8):1808, 2022).

No reference exists at full resolution, so the fused image ``F`` (PAN grid) is brought back
to the MS scale the way the sensor made the MS, and compared with the MS itself:

* **reprojection** ``F~ = decimate(MTF_sensor(F), R)``: every band filtered with its
  MTF-matched kernel (:func:`pansharpen.protocol.mtf.mtf_filter`, the reference toolbox
  design) and decimated with the Wald-protocol phase ``R // 2``
  (:func:`pansharpen.protocol.wald.decimate`), i.e. exactly the MS degradation of
  ``pansharpen simulate``;
* **R-Q2n** = Q2n(MS, F~), **R-SAM** = SAM(MS, F~) (degrees), **R-ERGAS** = ERGAS(MS, F~, R),
  computed with the project's reference-exact :func:`~pansharpen.metrics.q2n`,
  :func:`~pansharpen.metrics.sam` and :func:`~pansharpen.metrics.ergas` (the MS is the
  reference; Q2n with ``block_size`` blocks at the MS scale and the uint16 cast);
* **D_rho** (spatial consistency): for each band ``b`` and each ``s x s`` window ``w``
  (stride 1, windows wholly inside the image, ``s = 2 ceil(R/2)``, 4 for R = 4), the
  correlation coefficient

      rho_b(w) = cov_w(F_b, P) / (sigma_w(F_b) sigma_w(P)),

  clipped to [-1, 1]; a window flat in both images counts as rho = 1 (nothing to
  disagree on), a window flat in only one as rho = 0. Then

      D_rho = 1/(C |W|) sum_b sum_w (1 - rho_b(w)),

  in [0, 2], 0 when every fused band follows the PAN's local detail exactly.

Differences from the authors' tool, on purpose: the decimation phase is the fixed Wald phase
``R // 2`` (theirs searches, per band, the phase that best correlates the MS with the filtered
PAN), and the MTF kernel is the reference toolbox's un-renormalised one (theirs is renormalised
to unit DC gain; the two differ by ~0.1 % in DC gain). D_rho's windows are "valid" windows
(no padding).

Shapes: ``fused (C, H, W)`` or ``(N, C, H, W)``; ``ms (C, H/R, W/R)`` or ``(N, C, H/R, W/R)``;
``pan (H, W)``, ``(1, H, W)`` or ``(N, 1, H, W)``; numpy or torch; digital numbers for R-Q2n
(uint16 cast; floats with max <= 1 are refused or rescaled with ``max_value``/the sensor).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .._arrays import ArrayLike, torch_module
from ..errors import ShapeError
from ..protocol.mtf import mtf_filter
from ..protocol.wald import decimate
from ._inputs import as_images, ensure_digital_numbers, per_image
from .full import SensorLike, _as_pan, _check_ms, _check_ratio, _sensor_for, _sensor_max
from .reduced import _check_block, _ergas_images, _q2n_image, _sam_images

if TYPE_CHECKING:
    import torch

__all__ = ["reproject", "reprojection_indices", "local_correlation", "d_rho", "correlation_window"]


def correlation_window(ratio: int) -> int:
    """Side of the D_rho window: ``2 ceil(ratio / 2)`` (4 for ratio 4, 2 for ratio 2, 4 for 3)."""
    return 2 * math.ceil(_check_ratio(ratio) / 2)


def reproject(fused, sensor: SensorLike, ratio: int = 4):
    """``decimate(MTF_sensor(fused), ratio)``: the fused image seen at the MS scale.

    Works on numpy arrays and on torch tensors (differentiably, on any device).

    Args:
        fused: ``(C, H, W)`` or ``(N, C, H, W)``, H and W multiples of ``ratio``.
        sensor: sensor name, :class:`~pansharpen.protocol.sensors.Sensor` or one MTF gain per band.

    Returns:
        ``(..., C, H/ratio, W/ratio)``, same kind and floating dtype.
    """
    ratio = _check_ratio(ratio)
    h, w = fused.shape[-2:]
    if h % ratio or w % ratio:
        raise ShapeError(f"fused is {h}x{w}, not a multiple of the ratio {ratio}; crop it to whole MS pixels")
    return decimate(mtf_filter(fused, _sensor_for(sensor, fused.shape[-3]), ratio), ratio)


def reprojection_indices(
    fused: ArrayLike,
    ms: ArrayLike,
    sensor: SensorLike,
    ratio: int = 4,
    *,
    block_size: int = 32,
    max_value: float | None = None,
):
    """R-Q2n, R-SAM and R-ERGAS of ``fused`` against the MS (see the module docstring).

    Args:
        fused: ``(C, H, W)`` or ``(N, C, H, W)`` on the PAN grid, digital numbers.
        ms: the low-resolution MS, ``(C, H/R, W/R)`` or ``(N, ...)``.
        sensor: sensor name, Sensor or one MTF gain per band.
        block_size: Q2n blocks at the MS scale (32; the MS must be at least ``block_size/2 + 1``
            pixels a side, smaller images need a smaller block).
        max_value: rescales float images with max <= 1 (with a warning); default the sensor's max DN.

    Returns:
        ``{"R-Q2n", "R-SAM", "R-ERGAS"}`` for one image, a list for a batch. R-Q2n in [0, 1]
        (1 = the fused image degrades exactly into the MS), R-SAM >= 0 degrees, R-ERGAS >= 0.
    """
    _check_block(block_size)
    ratio = _check_ratio(ratio)
    fus, single = as_images(fused, "fused")
    ms_arr, _ = as_images(ms, "ms")
    _check_ms(ms_arr, fus, ratio)
    sensor = _sensor_for(sensor, fus.shape[1])
    arrays = ensure_digital_numbers({"fused": fus, "ms": ms_arr}, {"fused": fused, "ms": ms},
                                    _sensor_max(sensor, max_value))
    low = reproject(arrays["fused"], sensor, ratio)
    rows = []
    for m, f in zip(arrays["ms"], low):
        rows.append({
            "R-Q2n": _q2n_image(m, f, int(block_size), int(block_size), True),
            "R-SAM": float(_sam_images(m[None], f[None])[0]),
            "R-ERGAS": float(_ergas_images(m[None], f[None], float(ratio))[0]),
        })
    return rows[0] if single else rows


def local_correlation(x: torch.Tensor, y: torch.Tensor, window: int, eps: float = 0.0) -> torch.Tensor:
    """Correlation coefficient of ``x`` and ``y`` over every ``window`` x ``window`` window.

    Args:
        x: ``(N, C, H, W)`` tensor. y: ``(N, C, H, W)`` or ``(N, 1, H, W)`` (broadcast over bands).
        window: window side; windows at stride 1, wholly inside ('valid').
        eps: 0 applies the exact rule of :func:`d_rho` (flat in both -> 1, flat in one -> 0);
            > 0 gives the smooth, differentiable ``cov / sqrt(var_x var_y + eps)`` used by the
            training loss (inputs are then best kept around unit scale).

    Returns:
        ``(N, C, H - window + 1, W - window + 1)`` values in [-1, 1].
    """
    if x.shape[-2] < window or x.shape[-1] < window:
        raise ShapeError(f"local correlation needs images of at least {window}x{window}; got {tuple(x.shape[-2:])}")
    torch = torch_module()
    # centring each image first keeps E[x^2] - E[x]^2 free of cancellation for DN-scale data
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    y = y - y.mean(dim=(-2, -1), keepdim=True)
    y = y.expand_as(x)

    def mean(t):
        return torch.nn.functional.avg_pool2d(t, window, stride=1)

    mx, my = mean(x), mean(y)
    var_x = (mean(x * x) - mx * mx).clamp_min(0)
    var_y = (mean(y * y) - my * my).clamp_min(0)
    cov = mean(x * y) - mx * my
    if eps > 0:
        return (cov / torch.sqrt(var_x * var_y + eps)).clamp(-1.0, 1.0)
    # flat: variance below float rounding of the window's second moment
    tol = 64 * torch.finfo(x.dtype).eps
    flat_x = var_x <= tol * (mean(x * x) + 1e-300)
    flat_y = var_y <= tol * (mean(y * y) + 1e-300)
    denom = torch.sqrt(var_x * var_y)
    rho = torch.where(flat_x | flat_y, torch.zeros_like(cov), cov / torch.where(denom > 0, denom, torch.ones_like(denom)))
    rho = torch.where(flat_x & flat_y, torch.ones_like(rho), rho)
    return rho.clamp(-1.0, 1.0)


def d_rho(fused: ArrayLike, pan: ArrayLike, ratio: int = 4, window: int | None = None):
    """D_rho = mean over bands and windows of ``1 - rho(F_b, P)`` (module docstring; any scale).

    Args:
        fused: ``(C, H, W)`` or ``(N, C, H, W)``.
        pan: ``(H, W)``, ``(1, H, W)`` or ``(N, 1, H, W)`` on the same grid.
        ratio: PAN/MS ratio; sets the default window ``2 ceil(ratio/2)``.
        window: window side (overrides the ratio's).

    Returns:
        D_rho in [0, 2] (0 = perfect local correlation with the PAN): a float or ``N`` values.
        Invariant to a positive scale and an offset of either image, per band.
    """
    fus, single = as_images(fused, "fused")
    pan_arr = _as_pan(pan, fus)
    side = correlation_window(ratio) if window is None else int(window)
    if side < 2:
        raise ShapeError(f"the D_rho window must be at least 2 pixels; got {window}")
    values = []
    torch = torch_module()  # the windowed means run as torch's avg_pool2d
    for f, p in zip(fus, pan_arr):  # one image at a time: bounded working set
        rho = local_correlation(torch.from_numpy(f[None]), torch.from_numpy(p[None]), side)
        values.append(float((1.0 - rho).mean()))
    return per_image(np.array(values), single)
