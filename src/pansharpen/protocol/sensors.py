"""Sensor table: band names, bit depth, MTF gains at Nyquist and default RGB bands.

MTF gains at the MS Nyquist frequency are those of the reference MATLAB toolbox
(Vivone et al. 2020, ``genMTF.m`` for MS bands, ``MTF_PAN.m`` for PAN); see
``metrics-reference.md`` section 1.7. Unknown sensors fall back to the toolbox's
``otherwise`` branch: 0.3 for every MS band and 0.15 for PAN.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

from ..errors import SensorError

#: Defaults of the reference toolbox for sensors it does not know.
DEFAULT_MS_GNYQ = 0.3
DEFAULT_PAN_GNYQ = 0.15

_WV_BANDS = ("Coastal", "Blue", "Green", "Yellow", "Red", "RedEdge", "NIR1", "NIR2")
_BGRN = ("Blue", "Green", "Red", "NIR")


@dataclass(frozen=True)
class Sensor:
    """One sensor's constants.

    Attributes:
        name: canonical name (``"WV3"``, ``"QB"``, ...).
        bands: MS band names in file order.
        bits: radiometric resolution; the DN range is ``0 .. 2**bits - 1``.
        ms_gnyq: MTF gain at the MS Nyquist frequency, one per band (0 < g < 1).
        pan_gnyq: MTF gain of the PAN at the MS Nyquist frequency.
        rgb: 0-based indices of the red, green and blue bands for quick-looks.
        ratio: PAN/MS resolution ratio of the sensor (4 for all built-ins).
    """

    name: str
    bands: tuple[str, ...]
    bits: int
    ms_gnyq: tuple[float, ...]
    pan_gnyq: float
    rgb: tuple[int, int, int]
    ratio: int = 4
    aliases: tuple[str, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.ms_gnyq) != len(self.bands):
            raise SensorError(
                f"sensor {self.name}: {len(self.ms_gnyq)} MTF gains for {len(self.bands)} bands; give one gain per band"
            )
        for g in (*self.ms_gnyq, self.pan_gnyq):
            if not 0.0 < g < 1.0:
                raise SensorError(f"sensor {self.name}: MTF gain {g} is outside (0, 1)")
        if any(not 0 <= i < len(self.bands) for i in self.rgb):
            raise SensorError(f"sensor {self.name}: RGB indices {self.rgb} outside 0..{len(self.bands) - 1}")
        if not 1 <= self.bits <= 32:
            raise SensorError(f"sensor {self.name}: bit depth {self.bits} is not in 1..32")

    @property
    def nbands(self) -> int:
        return len(self.bands)

    @property
    def max_value(self) -> int:
        """Largest digital number, ``2**bits - 1`` (2047 for 11-bit, 1023 for GF2): the network normaliser."""
        return 2**self.bits - 1

    def with_bands(self, indices: Sequence[int]) -> "Sensor":
        """The same sensor restricted to a subset of bands (in the given order)."""
        idx = list(indices)
        rgb = tuple(idx.index(i) if i in idx else 0 for i in self.rgb)
        return replace(
            self,
            bands=tuple(self.bands[i] for i in idx),
            ms_gnyq=tuple(self.ms_gnyq[i] for i in idx),
            rgb=rgb if len(set(rgb)) == 3 or len(idx) < 3 else tuple(range(3)),
        )


_SENSORS: dict[str, Sensor] = {}


def _register(sensor: Sensor) -> None:
    for key in (sensor.name, *sensor.aliases):
        _SENSORS[_norm(key)] = sensor


def _norm(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


_register(Sensor("QB", _BGRN, 11, (0.34, 0.32, 0.30, 0.22), 0.15, (2, 1, 0), aliases=("QuickBird",)))
_register(Sensor("IKONOS", _BGRN, 11, (0.26, 0.28, 0.29, 0.28), 0.17, (2, 1, 0)))
_register(Sensor("GeoEye1", _BGRN, 11, (0.23,) * 4, 0.16, (2, 1, 0), aliases=("GE1", "GeoEye")))
_register(Sensor("WV4", _BGRN, 11, (0.23,) * 4, 0.16, (2, 1, 0), aliases=("WorldView4",)))
_register(Sensor("WV2", _WV_BANDS, 11, (0.35,) * 7 + (0.27,), 0.11, (4, 2, 1), aliases=("WorldView2",)))
_register(
    Sensor(
        "WV3",
        _WV_BANDS,
        11,
        (0.325, 0.355, 0.360, 0.350, 0.365, 0.360, 0.335, 0.315),
        0.14,
        (4, 2, 1),
        aliases=("WorldView3",),
    )
)
# GF2 is not in genMTF.m / MTF_PAN.m: the toolbox's defaults apply (0.3 MS, 0.15 PAN); 10-bit data.
_register(Sensor("GF2", _BGRN, 10, (DEFAULT_MS_GNYQ,) * 4, DEFAULT_PAN_GNYQ, (2, 1, 0), aliases=("GaoFen2",)))


def sensor_names() -> list[str]:
    """Canonical names of the built-in sensors."""
    return sorted({s.name for s in _SENSORS.values()})


def get_sensor(name: "str | Sensor", nbands: int | None = None) -> Sensor:
    """Look a sensor up by name (case and punctuation ignored: ``wv3``, ``WorldView-3``).

    ``name`` may already be a :class:`Sensor` (returned as is). The name ``"none"``
    (or ``"generic"``) gives the toolbox default sensor with ``nbands`` bands
    (MS gain 0.3, PAN gain 0.15, 11 bits). If ``nbands`` is given for a named sensor
    it must match the sensor's band count.
    """
    if isinstance(name, Sensor):
        sensor = name
    else:
        key = _norm(str(name))
        if key in ("none", "generic", "default", ""):
            if nbands is None:
                raise SensorError("the generic sensor needs a band count (nbands=...)")
            return generic_sensor((DEFAULT_MS_GNYQ,) * nbands, DEFAULT_PAN_GNYQ)
        if key not in _SENSORS:
            raise SensorError(
                f"unknown sensor {name!r}; known: {', '.join(sensor_names())}, or 'none' for the toolbox "
                "defaults, or build one with generic_sensor(ms_gnyq, pan_gnyq, bits)"
            )
        sensor = _SENSORS[key]
    if nbands is not None and nbands != sensor.nbands:
        raise SensorError(
            f"sensor {sensor.name} has {sensor.nbands} bands but the data has {nbands}; "
            "pass the right sensor, select bands with Sensor.with_bands, or use sensor 'none'"
        )
    return sensor


def generic_sensor(
    ms_gnyq: Sequence[float],
    pan_gnyq: float = DEFAULT_PAN_GNYQ,
    bits: int = 11,
    bands: Sequence[str] | None = None,
    rgb: Sequence[int] | None = None,
    name: str = "generic",
    ratio: int = 4,
) -> Sensor:
    """A sensor built from user-given MTF gains (one per MS band) and bit depth."""
    gains = tuple(float(g) for g in ms_gnyq)
    n = len(gains)
    if n == 0:
        raise SensorError("a sensor needs at least one MS band gain")
    names = tuple(bands) if bands is not None else tuple(f"B{i + 1}" for i in range(n))
    if rgb is None:
        rgb = (2, 1, 0) if n >= 3 else (0,) * 3
    return Sensor(name, names, int(bits), gains, float(pan_gnyq), tuple(rgb), ratio=int(ratio))
