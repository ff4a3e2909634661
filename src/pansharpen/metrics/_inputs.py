"""Input checks shared by the quality indices: shapes, dtypes, finiteness, DN range.

Every index takes channels-first images, ``(C, H, W)`` for one image or ``(N, C, H, W)``
for a batch (a 2-D ``(H, W)`` array is one band), numpy or torch, in digital numbers.
Internally everything is a float64 numpy array of shape ``(N, C, H, W)``.
"""
from __future__ import annotations

import warnings

import numpy as np

from .._arrays import ArrayLike, as_batch, is_torch, torch_module
from ..errors import ShapeError, ValueRangeError
from ..protocol.sensors import Sensor, get_sensor


def is_float_input(x: ArrayLike) -> bool:
    if is_torch(x):
        return x.is_floating_point()
    return np.issubdtype(np.asarray(x).dtype, np.floating)


def as_images(x: ArrayLike, name: str) -> tuple[np.ndarray, bool]:
    """``x`` as a float64 ``(N, C, H, W)`` numpy array; ``single`` tells whether it was one image."""
    if is_torch(x):
        torch = torch_module()
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


#: float images whose largest value is below this look normalised: reflectance or DN / max, range [0, 1.x]
NORMALISED_BELOW = 2.0
#: two images of one product whose high values (99th percentile) differ by more than this factor are on
#: different scales (e.g. an MS in reflectance with a PAN in digital numbers)
SCALE_MISMATCH = 8.0


def looks_normalised(is_float: bool, vmax: float) -> bool:
    """True for float data whose maximum is below :data:`NORMALISED_BELOW` (values in [0, 1.x]).

    Digital numbers of 8- to 16-bit sensors reach hundreds or thousands; a float image whose
    largest value is below 2 is reflectance or DN divided by the sensor maximum. This is the one
    rule shared by the quality indices (:func:`ensure_digital_numbers`) and scene fusion
    (:func:`pansharpen.fusion.checks.check_input_values`).
    """
    return bool(is_float) and float(vmax) < NORMALISED_BELOW


def high_value(x: np.ndarray) -> float:
    """The 99th percentile of the finite values of ``x`` (of every k-th value beyond a million): its scale,
    robust to a few outliers (0 if none)."""
    v = np.asarray(x, dtype=np.float64).ravel()
    v = v[:: max(1, v.size // 1_000_000)]  # a scale, not an exact quantile: at most ~1e6 values
    v = v[np.isfinite(v)]
    return float(np.percentile(np.abs(v), 99)) if v.size else 0.0


def scale_mismatch(highs: dict[str, float]) -> str | None:
    """A sentence naming two images whose :func:`high_value` differ by more than :data:`SCALE_MISMATCH`, or None."""
    named = [(k, v) for k, v in highs.items() if v > 0]
    if len(named) < 2:
        return None
    lo, hi = min(named, key=lambda t: t[1]), max(named, key=lambda t: t[1])
    if hi[1] <= SCALE_MISMATCH * lo[1]:
        return None
    return (
        f"{lo[0]} and {hi[0]} are on different scales (99th percentiles {lo[1]:.4g} and {hi[1]:.4g}, "
        f"{hi[1] / lo[1]:.0f}x apart; one in reflectance or [0, 1], the other in digital numbers?)"
    )


def ensure_digital_numbers(
    arrays: dict[str, np.ndarray], originals: dict[str, ArrayLike], max_value: float | None,
    same_scale: tuple[str, ...] = (),
) -> dict[str, np.ndarray]:
    """Refuse, or rescale with a warning, float images that look normalised to [0, 1].

    The reference Q2n casts to ``uint16`` (metrics-reference section 2.1): on [0, 1] data
    every value becomes 0 or 1 and the index is meaningless. An image is taken as
    normalised when :func:`looks_normalised` (float dtype, maximum below 2). Without
    ``max_value`` that is an error; with it, each such image is multiplied by ``max_value``.
    The input images named in ``same_scale`` (after rescaling; e.g. the MS and the PAN) must then
    agree in scale within :data:`SCALE_MISMATCH` (:class:`ValueRangeError` otherwise); a ``fused``
    image off the first one's scale only gets a warning (it is the image being measured).
    """
    flagged = [
        name for name, arr in arrays.items() if looks_normalised(is_float_input(originals[name]), arr.max())
    ]
    if flagged:
        listed = " and ".join(flagged)
        if max_value is None:
            raise ValueRangeError(
                f"{listed} look normalised to [0, 1] (float, max < {NORMALISED_BELOW:g}), but these indices take "
                "digital numbers: Q2n casts to uint16 like the reference toolbox, which would reduce the image to 0s "
                "and 1s. Multiply by the sensor's maximum (2047 for 11-bit WV3/WV2/QB, 1023 for GF2), or pass "
                "max_value=... or sensor=... to rescale"
            )
        warnings.warn(
            f"{listed} look normalised to [0, 1]; multiplied by max_value={max_value:g} to get digital numbers",
            UserWarning,
            stacklevel=3,
        )
        arrays = {name: (arr * max_value if name in flagged else arr) for name, arr in arrays.items()}
    problem = scale_mismatch({name: high_value(arrays[name]) for name in same_scale if name in arrays})
    if problem:
        raise ValueRangeError(f"{problem}; give all images in digital numbers of the same sensor")
    if "fused" in arrays and len(same_scale) and same_scale[0] in arrays:
        # the fused image is what is measured: a badly scaled one gets bad indices, and a warning says why
        problem = scale_mismatch({"fused": high_value(arrays["fused"]), same_scale[0]: high_value(arrays[same_scale[0]])})
        if problem:
            warnings.warn(f"{problem}; the indices measure that difference", UserWarning, stacklevel=3)
    return arrays


def per_image(values: np.ndarray, single: bool):
    """A float for one image, the numpy array of ``N`` values for a batch."""
    return float(values[0]) if single else np.asarray(values, dtype=np.float64)
