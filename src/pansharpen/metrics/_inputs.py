"""Input checks shared by the quality indices: shapes, dtypes, finiteness, DN range.

Every index takes channels-first images, ``(C, H, W)`` for one image or ``(N, C, H, W)``
for a batch (a 2-D ``(H, W)`` array is one band), numpy or torch, in digital numbers.
Internally everything is a float64 numpy array of shape ``(N, C, H, W)``.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from .._arrays import ArrayLike, as_batch
from ..errors import ShapeError, ValueRangeError
from ..protocol.sensors import Sensor, get_sensor


def is_float_input(x: ArrayLike) -> bool:
    if isinstance(x, torch.Tensor):
        return x.is_floating_point()
    return np.issubdtype(np.asarray(x).dtype, np.floating)


def as_images(x: ArrayLike, name: str) -> tuple[np.ndarray, bool]:
    """``x`` as a float64 ``(N, C, H, W)`` numpy array; ``single`` tells whether it was one image."""
    if isinstance(x, torch.Tensor):
        if x.is_complex() or x.dtype == torch.bool:
            raise ValueRangeError(f"{name} has dtype {x.dtype}; pass real-valued digital numbers (int or float)")
        arr = x.detach().cpu().to(torch.float64).numpy()
    else:
        arr = np.asarray(x)
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise ValueRangeError(f"{name} has dtype {arr.dtype}; pass real-valued digital numbers (int or float)")
        arr = arr.astype(np.float64, copy=False)
    batch, single = as_batch(arr, name)
    if min(batch.shape) == 0:
        raise ShapeError(f"{name} is empty (shape {tuple(arr.shape)}); pass an image with at least one pixel")
    if not np.isfinite(batch).all():
        raise ValueRangeError(
            f"{name} contains NaN or inf values; mask or fill nodata before computing the indices (e.g. np.nan_to_num)"
        )
    return batch, single


def same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Raise :class:`ShapeError` unless two ``(N, C, H, W)`` arrays have the same shape."""
    if a.shape == b.shape:
        return
    if a.shape[0] != b.shape[0]:
        what = f"batch sizes differ ({a.shape[0]} vs {b.shape[0]})"
    elif a.shape[1] != b.shape[1]:
        what = f"band counts differ ({a.shape[1]} vs {b.shape[1]})"
    else:
        what = f"image sizes differ ({a.shape[2]}x{a.shape[3]} vs {b.shape[2]}x{b.shape[3]})"
    raise ShapeError(
        f"{name_a} {tuple(a.shape)} and {name_b} {tuple(b.shape)}: {what}; both must be (C, H, W) or "
        "(N, C, H, W) with the same bands on the same grid"
    )


def as_pair(reference: ArrayLike, fused: ArrayLike, names=("reference", "fused")):
    """Both images as float64 ``(N, C, H, W)`` arrays of one shape, plus ``single``."""
    ref, single = as_images(reference, names[0])
    fus, _ = as_images(fused, names[1])
    same_shape(ref, fus, *names)
    return ref, fus, single


def resolve_max_value(sensor: "str | Sensor | None", max_value: float | None) -> float | None:
    if max_value is not None:
        if not np.isfinite(max_value) or max_value <= 1.0:
            raise ValueRangeError(f"max_value={max_value} must be the sensor's largest DN (e.g. 2047), above 1")
        return float(max_value)
    if sensor is not None:
        return float(get_sensor(sensor).max_value)
    return None


def ensure_digital_numbers(
    arrays: dict[str, np.ndarray], originals: dict[str, ArrayLike], max_value: float | None
) -> dict[str, np.ndarray]:
    """Refuse, or rescale with a warning, float images that look normalised to [0, 1].

    The reference Q2n casts to ``uint16`` (metrics-reference section 2.1): on [0, 1] data
    every value becomes 0 or 1 and the index is meaningless. An image is taken as
    normalised when its dtype is floating and its maximum is at most 1.0. Without
    ``max_value`` that is an error; with it, each such image is multiplied by ``max_value``.
    """
    flagged = [
        name for name, arr in arrays.items() if is_float_input(originals[name]) and arr.max() <= 1.0
    ]
    if not flagged:
        return arrays
    listed = " and ".join(flagged)
    if max_value is None:
        raise ValueRangeError(
            f"{listed} look normalised to [0, 1] (float, max <= 1.0), but these indices take digital numbers: "
            "Q2n casts to uint16 like the reference toolbox, which would reduce the image to 0s and 1s. "
            "Multiply by the sensor's maximum (2047 for 11-bit WV3/WV2/QB, 1023 for GF2), or pass "
            "max_value=... or sensor=... to rescale"
        )
    warnings.warn(
        f"{listed} look normalised to [0, 1]; multiplied by max_value={max_value:g} to get digital numbers",
        UserWarning,
        stacklevel=3,
    )
    return {name: (arr * max_value if name in flagged else arr) for name, arr in arrays.items()}


def per_image(values: np.ndarray, single: bool):
    """A float for one image, the numpy array of ``N`` values for a batch."""
    return float(values[0]) if single else np.asarray(values, dtype=np.float64)
