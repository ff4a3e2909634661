"""Checks that run before any tile is fused: the option values and the values of the inputs.

Options (:func:`check_fuse_options`): ``tile`` an integer of at least :data:`MIN_TILE` PAN
pixels and a multiple of the ratio (the default 512 is rounded down to one, e.g. 510 at ratio 3);
``workers`` at least 1, and not together with ``scheduler``; ``dtype`` a numeric type.

Input values (:func:`check_input_values`, on the decimated reads the fusion makes anyway):

* **Reflectance or [0, 1] data** -- float rasters whose maximum is below 2
  (:func:`pansharpen.metrics._inputs.looks_normalised`, the rule the quality indices use), or a
  PAN and MS whose 99th percentiles differ by more than 8x -- are **refused**
  (:class:`~pansharpen.errors.ValueRangeError`): the networks and the sensor range clip work in
  digital numbers, and a PAN/MS scale mismatch gives garbage with every method. Convert to DN,
  or pass ``check_range=False`` (``--no-range-check``) to fuse the values as they are.
* **An MS beyond the sensor's range** -- its 99th percentile above ``2**bits - 1`` of the sensor
  (e.g. 16-bit Landsat-8 DN under ``--sensor none``, the toolbox's 11 bits) -- is **refused**: every
  fused value would be clipped to the sensor maximum. Pass the data's bit depth (``--bits``).
* **NaN / inf pixels** are nodata (see :func:`pansharpen.fusion.scene.fuse_scene`): when the
  inputs carry no nodata value, the output records NaN (float output) or 0 (integer output).

Narrowing ``dtype`` (:func:`output_scale`): an integer output type whose maximum is below the
inputs' largest value gets the values scaled linearly from the sensor range (else the bit depth of the
data, e.g. [0, 2047] for 11-bit) into its range, with a warning, and the factor back to digital
numbers recorded as the GeoTIFF band scale (``DN = value * scale``).
"""
from __future__ import annotations

import numpy as np

from ..errors import PanSharpenError, ValueRangeError
from ..metrics._inputs import high_value, looks_normalised, scale_mismatch

__all__ = ["MIN_TILE", "DEFAULT_TILE", "check_fuse_options", "check_input_values", "output_scale"]

#: smallest tile side (PAN pixels): smaller tiles are mostly halo and take orders of magnitude longer
MIN_TILE = 16
#: the default tile side; rounded down to a multiple of the ratio when it is not one
DEFAULT_TILE = 512


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_fuse_options(
    *, tile, ratio: int, workers=None, scheduler=None, dtype=None
) -> int:
    """Validate fusion options before any work; returns the tile side to use.

    Raises :class:`~pansharpen.errors.PanSharpenError` naming the option and a valid value.
    """
    if not _is_int(tile) or tile < MIN_TILE:
        raise PanSharpenError(
            f"--tile must be a whole number of at least {MIN_TILE} PAN pixels; got {tile!r} (the default is {DEFAULT_TILE})"
        )
    if tile % ratio:
        if tile != DEFAULT_TILE:
            raise PanSharpenError(
                f"--tile {tile} is not a multiple of the PAN/MS ratio {ratio}; use {tile - tile % ratio} or "
                f"{tile - tile % ratio + ratio}"
            )
        tile -= tile % ratio
    if workers is not None and (not _is_int(workers) or workers < 1):
        raise PanSharpenError(f"--workers must be a whole number of at least 1; got {workers!r}")
    if workers is not None and scheduler is not None:
        raise PanSharpenError("give either --workers or --scheduler, not both")
    if workers is not None or scheduler is not None:
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise PanSharpenError(
                "--workers/--scheduler run tiles on Dask, which is not installed: pip install 'pansharpen[dask]'"
            ) from None
    if dtype is not None:
        try:
            kind = np.dtype(dtype).kind
        except TypeError:
            kind = None
        if kind not in ("u", "i", "f"):
            raise PanSharpenError(f"unknown or unsupported data type {dtype!r}; use e.g. uint16, int16, float32")
    return int(tile)


def _thin(block: np.ndarray, pixels: int = 250_000) -> np.ndarray:
    """Every k-th row and column so that at most about ``pixels`` remain per band (the checks need scales, not detail)."""
    step = max(1, int(np.ceil(np.sqrt(block.shape[-2] * block.shape[-1] / pixels))))
    return block[..., ::step, ::step]


def _valid_values(block: np.ndarray, nodata) -> np.ndarray:
    bad = ~np.isfinite(block)
    if nodata is not None:
        bad |= block == nodata
    return block[~bad]


#: how `fuse` lets a user past the range checks (:func:`check_input_values`' default ``override``)
FUSE_OVERRIDE = "pass --no-range-check (check_range=False) to fuse the values as they are"


def check_input_values(pan_small: np.ndarray, ms_small: np.ndarray, pan_info, ms_info, *, check_range: bool = True,
                       max_value: float | None = None, override: str | None = FUSE_OVERRIDE,
                       scale_free: bool = True) -> float:
    """Refuse reflectance/[0, 1] inputs, PAN/MS scale mismatches and an MS beyond the sensor's range;
    returns the largest valid value of both.

    ``pan_small``/``ms_small``: decimated reads ``(1, h, w)``/``(C, h, w)``; ``*_info``:
    :class:`~pansharpen.io.sources.RasterInfo` (dtype, nodata, path). ``max_value``: the sensor's
    ``2**bits - 1``, to which the fused values are clipped (None: no clipping). ``override``: how
    the caller's user may skip the checks, appended to the message (None: no way; the adaptation,
    whose networks normalise by the sensor's maximum, needs digital numbers). ``scale_free``: the
    fusion gives its result in the inputs' scale (the classical methods); ``False`` (a network,
    which divides by its card's normaliser and adds learned biases) refuses [0, 1] inputs even
    with ``check_range=False``: a bundled 4-band LGPConv-Net fused IKONOS DN/2047 into an image
    correlated -0.42 with its DN result, exit 0.
    """
    pan_valid, ms_valid = _valid_values(_thin(pan_small), pan_info.nodata), _valid_values(_thin(ms_small), ms_info.nodata)
    data_max = max(float(v.max()) if v.size else 0.0 for v in (pan_valid, ms_valid))
    normalised = [
        f"{role} {info.path} ({info.dtype}, max {vals.max():.4g})"
        for role, info, vals in (("PAN", pan_info, pan_valid), ("MS", ms_info, ms_valid))
        if vals.size and looks_normalised(np.dtype(info.dtype).kind == "f", vals.max())
    ]
    todo = "convert to digital numbers (e.g. multiply [0, 1] values by the sensor maximum, 2047 for 11-bit WV3)"
    if not check_range:
        if normalised and not scale_free:
            raise ValueRangeError(
                f"{' and '.join(normalised)} look like reflectance or [0, 1] values, and networks take digital numbers "
                "even with --no-range-check (they divide by the sensor maximum and add learned offsets); "
                f"{todo}, or fuse with a classical --method"
            )
        return data_max
    hint = f", or {override}" if override else ""
    if normalised:  # a network cannot take them even with the check off: no override offered
        raise ValueRangeError(
            f"{' and '.join(normalised)} look like reflectance or [0, 1] values, but fusion works on digital numbers; "
            + todo + (hint if scale_free else ", or fuse with a classical --method")
        )
    ms_high = high_value(ms_valid)  # once: a percentile of up to a million values (15 ms on a WV3 MS)
    problem = scale_mismatch({f"PAN {pan_info.path}": high_value(pan_valid), f"MS {ms_info.path}": ms_high})
    if problem:
        raise ValueRangeError(f"{problem}; {todo}{hint}")
    if max_value is not None and ms_high > max_value:
        bits = int(np.ceil(np.log2(ms_high + 1)))
        raise ValueRangeError(
            f"MS {ms_info.path} reaches {ms_high:.6g} (99th percentile), beyond the sensor's range [0, {max_value:.6g}]: "
            f"the fused values would be clipped to {max_value:.6g}; pass the data's bit depth (--bits {bits} or more) "
            "or the right --sensor"
        )
    return data_max


def output_scale(dtype: str, data_max: float, sensor_max: float | None = None) -> float:
    """Factor that maps the data range into an integer ``dtype`` too narrow for it (1.0 when the data fits).

    ``data_max``: the largest input value seen; the range mapped onto ``[0, dtype max]`` is
    ``[0, sensor_max]`` when the sensor is known, else ``[0, 2^b - 1]`` for the smallest bit depth b
    that holds ``data_max`` (11-bit data: 2047), so that one factor serves every scene of a sensor.
    Output values are divided by it; ``value * scale`` gives digital numbers back (GeoTIFF band scale).
    """
    dt = np.dtype(dtype)
    if dt.kind not in "iu" or not data_max or data_max <= np.iinfo(dt).max:
        return 1.0
    if sensor_max is not None and sensor_max >= data_max:
        full = float(sensor_max)
    else:
        full = float(2 ** int(np.ceil(np.log2(data_max + 1))) - 1)
    return full / float(np.iinfo(dt).max)
