"""The one sensor policy of every command: which sensor's MTF gains and bit depth apply to a product.

Precedence (:func:`resolve_sensor`):

1. the option (``--sensor NAME``, or a :class:`~pansharpen.protocol.sensors.Sensor`);
2. the product's metadata (:func:`pansharpen.io.metadata.product_metadata` of the MS, then of
   the PAN: Maxar ``.IMD``/``.XML``, Airbus ``DIM_*.XML``, Landsat ``*_MTL.txt``, GeoTIFF tags),
   or a sensor name recorded in a data file (``recorded``, e.g. a PanCollection attribute);
3. the model card's first sensor (``card.sensors[0]``);
4. otherwise a :class:`~pansharpen.errors.SensorError` that says what to pass.

``--mtf-ms``, ``--mtf-pan`` and ``--bits`` (``mtf_ms``, ``mtf_pan``, ``bits``) override those
fields of the sensor found; with no sensor found they build a generic one (the toolbox's 0.3 /
0.15 gains and 11 bits for what is not given). A bit depth the product's metadata states
(DIMAP ``NBITS``, the MTL's calibrated range, a GeoTIFF ``NBITS`` tag) replaces the catalogue's.

The sensor is fitted to the product's bands: band descriptions or ids the metadata lists select
and order the sensor's bands (``B2_Blue, B3_Green, B4_Red, B5_NIR`` of a Landsat-8 stack,
the BGRN bands of a WorldView-3 product); a sensor whose gains are all equal fits any band count.
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from ..errors import SensorError
from ..io.metadata import ProductMetadata, product_metadata
from .sensors import (
    DEFAULT_MS_GNYQ,
    DEFAULT_PAN_GNYQ,
    Sensor,
    find_sensor,
    generic_sensor,
    get_sensor,
    sensor_names,
)

__all__ = ["resolve_sensor", "fit_sensor"]

_GENERIC = ("none", "generic", "default")


def resolve_sensor(
    option: "str | Sensor | None" = None,
    *,
    pan_path: "str | os.PathLike | None" = None,
    ms_path: "str | os.PathLike | None" = None,
    card=None,
    nbands: int,
    mtf_ms: "float | Sequence[float] | None" = None,
    mtf_pan: float | None = None,
    bits: int | None = None,
    recorded: str | None = None,
    unknown_ok: bool = False,
) -> tuple[Sensor, str]:
    """The sensor of a product and why it was chosen (see the module docstring).

    Args:
        option: a sensor name (catalogue name or alias, case-insensitive; ``"none"`` for the
            toolbox defaults) or a Sensor; None to look further.
        pan_path, ms_path: the product's rasters (their metadata is read).
        card: a model card (anything with a ``sensors`` list and a ``name``), or None.
        nbands: the MS band count the sensor must describe.
        mtf_ms: MTF gain(s) at Nyquist of the MS bands: one value for every band, or one per band.
        mtf_pan: MTF gain of the PAN.
        bits: significant bits of the digital numbers (values are clipped to ``2**bits - 1``).
        recorded: a sensor name recorded in a data file (treated as product metadata).
        unknown_ok: when nothing tells the sensor, return the toolbox defaults (``"none"``) with
            ``why`` starting ``"unknown"`` instead of refusing (``evaluate`` does, and warns).

    Returns:
        ``(sensor, why)``, ``why`` a short phrase such as ``"WV03 in MS.IMD"`` or ``"--sensor L8"``.

    Raises:
        SensorError: the option does not fit the data, or nothing tells the sensor and no
            ``mtf_ms``/``mtf_pan``/``bits`` were given; the message lists what to pass.
    """
    ms_facts = _facts(ms_path)
    facts = [f for f in (ms_facts, _facts(pan_path)) if f is not None]
    ms_ids = ms_facts.band_ids if ms_facts is not None else ()
    notes: list[str] = []
    sensor, why = None, ""
    if option is not None:
        sensor, why = _fit_option(option, nbands, ms_ids), f"--sensor {getattr(option, 'name', option)}"
    if sensor is None and recorded:
        known = find_sensor(recorded) if str(recorded).lower() not in _GENERIC else get_sensor("none", nbands=nbands)
        fitted = fit_sensor(known, nbands, ms_ids) if known is not None else None
        if fitted is not None:
            sensor, why = fitted, f"sensor {recorded!r} recorded in the data file"
        else:
            notes.append(f"the data file records sensor {recorded!r}, which " + (
                "does not have its bands" if known is not None else "is not in the catalogue"))
    if sensor is None:
        for f in facts:
            if not f.mission:
                continue
            known = find_sensor(f.mission)
            if known is None:
                notes.append(f"{f.source} says {f.mission!r}, which is not in the catalogue")
                continue
            fitted = fit_sensor(known, nbands, ms_ids)
            if fitted is None:
                notes.append(f"{f.source} says {known.name}, whose {known.nbands} bands do not match the {nbands} of the MS")
                continue
            sensor, why = fitted, f"{f.mission} in {f.source}"
            break
    if sensor is None and card is not None and getattr(card, "sensors", None):
        known = find_sensor(card.sensors[0])
        fitted = fit_sensor(known, nbands, ms_ids) if known is not None else None
        if fitted is not None:
            sensor, why = fitted, f"model card of {card.name}"
    overrides = mtf_ms is not None or mtf_pan is not None or bits is not None
    if sensor is None and not overrides:
        if not unknown_ok:
            raise SensorError(_refusal(ms_path, nbands, notes))
        return get_sensor("none", nbands=nbands), "unknown: the toolbox defaults (MTF 0.3 MS, 0.15 PAN, 11 bits)"
    if sensor is None:
        sensor, why = generic_sensor((DEFAULT_MS_GNYQ,) * nbands, DEFAULT_PAN_GNYQ, name="custom"), "--mtf-ms/--mtf-pan/--bits"
    else:
        stated = next((f.bits for f in facts if f.bits), None)
        if stated and bits is None and stated != sensor.bits and 1 <= stated <= 32:
            sensor, why = sensor.with_bits(stated), f"{why}; {stated} bits stated by the product"
    if overrides:
        sensor = _override(sensor, nbands, mtf_ms, mtf_pan, bits)
        if "--mtf" not in why:
            why = f"{why}; overridden by " + ", ".join(
                n for n, v in (("--mtf-ms", mtf_ms), ("--mtf-pan", mtf_pan), ("--bits", bits)) if v is not None)
    if sensor.fallback:
        why += " (MTF: the toolbox's fallback 0.3 / 0.15, none published)"
    return sensor, why


def fit_sensor(sensor: Sensor, nbands: int, band_ids: Sequence[str] = ()) -> Sensor | None:
    """``sensor`` fitted to a product's ``nbands`` bands, or None when it cannot describe them.

    The product's band names or ids (``band_ids``, in file order) select the sensor's bands when
    they all match; otherwise the sensor fits when its band count is ``nbands``, or when all its
    MS gains are equal (the bands are then named ``B1..Bn``).
    """
    if len(band_ids) == nbands:
        matched = sensor.match_bands(band_ids)
        if matched is not None:
            return matched
    return sensor.with_band_count(nbands)


# ------------------------------------------------------------------------------------ helpers
def _facts(path) -> ProductMetadata | None:
    return product_metadata(path) if path is not None else None


def _fit_option(option, nbands: int, ms_ids: Sequence[str]) -> Sensor:
    if isinstance(option, Sensor):
        sensor = option
    elif str(option).strip().lower() in _GENERIC:
        return get_sensor("none", nbands=nbands)
    else:
        sensor = get_sensor(option)  # unknown names raise, listing the known ones
    fitted = fit_sensor(sensor, nbands, ms_ids)
    if fitted is None:
        raise SensorError(
            f"sensor {sensor.name} has {sensor.nbands} bands but the data has {nbands} and its band descriptions do "
            f"not name {sensor.name}'s ({', '.join(sensor.bands)}); pass the right sensor, describe the bands "
            "(e.g. Blue, Green, Red, NIR) in the MS file, or give --mtf-ms/--mtf-pan/--bits"
        )
    return fitted


def _override(sensor: Sensor, nbands: int, mtf_ms, mtf_pan, bits) -> Sensor:
    gains = sensor.ms_gnyq
    if mtf_ms is not None:
        values = (float(mtf_ms),) if isinstance(mtf_ms, (int, float)) else tuple(float(g) for g in mtf_ms)
        if len(values) == 1:
            values = values * nbands
        if len(values) != nbands:
            raise SensorError(f"--mtf-ms has {len(values)} gains but the MS has {nbands} bands; give one, or one per band")
        gains = values
    changed = replace(
        sensor,
        ms_gnyq=gains,
        pan_gnyq=float(mtf_pan) if mtf_pan is not None else sensor.pan_gnyq,
        bits=int(bits) if bits is not None else sensor.bits,
        mtf_source="user-given (--mtf-ms/--mtf-pan)" if mtf_ms is not None or mtf_pan is not None else sensor.mtf_source,
        fallback=sensor.fallback and mtf_ms is None and mtf_pan is None,
    )
    return changed


def _refusal(ms_path, nbands: int, notes: list[str]) -> str:
    name = Path(ms_path).name if ms_path is not None else "the product"
    why = "; ".join(dict.fromkeys(notes)) if notes else (
        "no .IMD/.XML, DIM_*.XML or *_MTL.txt beside it and no SENSOR tag in it")
    return (
        f"cannot tell which sensor took {name} ({why}); pass --sensor NAME ({', '.join(sensor_names())}), "
        "or --mtf-ms GAIN[,GAIN...] [--mtf-pan GAIN] [--bits N] for another sensor, or --sensor none for the "
        f"toolbox defaults (MTF gain 0.3 for the {nbands} MS bands, 0.15 PAN, 11 bits)"
    )
