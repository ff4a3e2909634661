"""Wald-protocol degradation (reduced-resolution simulation), as ``resize_images.m`` of the reference.

``MS_LR = decimate(MTF_sensor(MS))`` and ``PAN_LR = imresize(PAN, 1/ratio)`` (bicubic with
antialiasing, the 2020 toolbox default); metrics-reference section 3.3. The decimation phase is
MATLAB's ``imresize(., 1/ratio, 'nearest')``: 0-based offset ``ratio // 2`` (2, 6, 10, ... for
ratio 4), the phase at which :func:`~pansharpen.protocol.interp.interp23tap` puts LR samples back.
"""
from __future__ import annotations

import numpy as np

from .._arrays import check_finite, is_torch
from ..errors import ShapeError, ValueRangeError
from .mtf import _check_ratio, _work_array, mtf_filter, mtf_filter_pan
from .resize import imresize
from .sensors import Sensor, get_sensor

__all__ = ["decimate", "decimation_offset", "wald_degrade"]


def decimation_offset(ratio: int) -> int:
    """0-based index of the first pixel kept by ``imresize(., 1/ratio, 'nearest')``.

    MATLAB maps output pixel ``x`` (1-based) to ``u = x*ratio + (1 - ratio)/2`` and keeps input
    ``floor(u + 1/2)`` (the box kernel is ``-1/2 <= d < 1/2``): ``ratio // 2`` for every integer ratio.
    """
    r = _check_ratio(ratio)
    u = 1 * r + 0.5 * (1 - r)
    return int(np.floor(u + 0.5)) - 1


def decimate(image, ratio: int):
    """Keep one pixel in ``ratio`` along rows and columns, like ``imresize(I, 1/ratio, 'nearest')``.

    Args:
        image: ``(H, W)``, ``(C, H, W)`` or ``(N, C, H, W)``, numpy or torch.
        ratio: positive integer.

    Returns:
        ``(..., ceil(H/ratio), ceil(W/ratio))``: pixels ``offset, offset + ratio, ...`` with
        ``offset = ratio // 2``, same kind and floating dtype. Sizes that are not multiples of
        ``ratio`` follow MATLAB (the last pixel may come from the mirrored border).
    """
    r = _check_ratio(ratio)
    x, finish = _work_array(image, "image")  # checks the shape first
    h, w = x.shape[-2:]
    if h % r or w % r:
        return imresize(image, 1.0 / r, "nearest")
    off = decimation_offset(r)
    out = x[..., off::r, off::r]
    return finish(out.contiguous() if is_torch(out) else np.ascontiguousarray(out))


def _sizes_ok(ms_shape, pan_shape, nbands: int, ratio: int) -> None:
    h, w = ms_shape[-2:]
    if tuple(pan_shape[-2:]) != (h * ratio, w * ratio):
        raise ShapeError(
            f"pan must be ratio x the MS size: ms is {tuple(ms_shape)}, so with ratio {ratio} pan must be "
            f"{h * ratio} x {w * ratio}; got {tuple(pan_shape)}. Pass the product at its native scales "
            "(MS at its own resolution, not upsampled)."
        )
    if h % ratio or w % ratio:
        raise ShapeError(
            f"MS size {h} x {w} is not a multiple of ratio {ratio}; crop it to "
            f"{h - h % ratio} x {w - w % ratio} (e.g. ms[..., :{h - h % ratio}, :{w - w % ratio}]) and the PAN "
            f"to {(h - h % ratio) * ratio} x {(w - w % ratio) * ratio}"
        )
    if len(ms_shape) == 4 and len(pan_shape) == 4 and ms_shape[0] != pan_shape[0]:
        raise ShapeError(f"ms and pan batch sizes differ ({ms_shape[0]} vs {pan_shape[0]})")
    if ms_shape[-3] != nbands:
        raise ShapeError(
            f"ms has {ms_shape[-3]} band(s) but the sensor has {nbands}; "
            "pass the matching sensor, Sensor.with_bands(...), or generic_sensor(gains)"
        )


def wald_degrade(ms, pan, sensor, ratio: int = 4, pan_mode: str = "imresize"):
    """Simulate the reduced-resolution pair of Wald's protocol (``resize_images.m``).

    Both images are degraded by ``ratio`` from their native scales; the original MS becomes
    the reference of the simulated pair.

    Args:
        ms: full-resolution MS (the future reference) at its own resolution, ``(C, h, w)`` or
            ``(N, C, h, w)``, numpy or torch, digital numbers or normalised, finite; ``h`` and
            ``w`` multiples of ``ratio``.
        pan: the PAN of the same product, ``(ratio*h, ratio*w)``, ``(1, ratio*h, ratio*w)`` or
            ``(N, 1, ratio*h, ratio*w)``.
        sensor: a :class:`Sensor` or a sensor name (``"WV3"``); gives the per-band MTF gains.
        ratio: resolution ratio.
        pan_mode: ``"imresize"`` (reference default: bicubic, antialiased ``imresize(P, 1/ratio)``)
            or ``"mtf"`` (PAN MTF filter, then the same decimation as the MS).

    Returns:
        ``(ms_lr, pan_lr)``: ``(..., C, h/ratio, w/ratio)`` and ``(..., 1, h, w)`` (the PAN's own
        layout), in the kinds and floating dtypes given.
    """
    r = _check_ratio(ratio)
    if pan_mode not in ("imresize", "mtf"):
        raise ValueRangeError(f"pan_mode must be 'imresize' or 'mtf'; got {pan_mode!r}")
    ms_shape, pan_shape = tuple(ms.shape), tuple(pan.shape)
    if len(ms_shape) not in (3, 4):
        raise ShapeError(f"ms must be (C, H, W) or (N, C, H, W); got shape {ms_shape}")
    if len(pan_shape) not in (2, 3, 4) or (len(pan_shape) >= 3 and pan_shape[-3] != 1):
        raise ShapeError(f"pan must be (H, W), (1, H, W) or (N, 1, H, W); got shape {pan_shape}")
    sensor = sensor if isinstance(sensor, Sensor) else get_sensor(sensor)
    _sizes_ok(ms_shape, pan_shape, sensor.nbands, r)
    check_finite(ms, "ms")
    check_finite(pan, "pan")

    ms_lr = decimate(mtf_filter(ms, sensor, r), r)
    if pan_mode == "imresize":
        pan_lr = imresize(pan, 1.0 / r, "bicubic", antialias=True)
    else:
        pan_lr = decimate(mtf_filter_pan(pan, sensor, r), r)
    return ms_lr, pan_lr
