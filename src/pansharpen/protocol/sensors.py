"""Sensor catalogue: band names, bit depth, MTF gains at Nyquist and default RGB bands.

MTF gains at the MS Nyquist frequency come from the reference MATLAB toolbox (Vivone et al.
2020, ``genMTF.m`` for MS bands, ``MTF_PAN.m`` for PAN; ``metrics-reference.md`` section 1.7)
for QuickBird, IKONOS, GeoEye-1, WorldView-2/-3/-4. For the other sensors of the catalogue
(Pleiades 1A/1B, Pleiades Neo, SPOT-6/7, GaoFen-1/-2, Landsat 7 ETM+, Landsat 8/9 OLI) no
per-sensor gain is published in those sources: they use the toolbox's documented fallback for
unknown sensors, 0.3 for every MS band and 0.15 for PAN, and are marked ``fallback=True``
(``Sensor.mtf_source`` says which applies). docs/fusion.md has the table with the sources;
``pansharpen fuse --mtf-ms/--mtf-pan/--bits`` give a sensor's own values where known.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

from ..errors import SensorError

#: Defaults of the reference toolbox for sensors it does not know.
DEFAULT_MS_GNYQ = 0.3
DEFAULT_PAN_GNYQ = 0.15

_WV_BANDS = ("Coastal", "Blue", "Green", "Yellow", "Red", "RedEdge", "NIR1", "NIR2")
_WV_IDS = ("C", "B", "G", "Y", "R", "RE", "N", "N2")  # the IMD's BAND_C .. BAND_N2 groups
_BGRN = ("Blue", "Green", "Red", "NIR")


@dataclass(frozen=True)
class Sensor:
    """One sensor's constants.

    Attributes:
        name: canonical name (``"WV3"``, ``"QB"``, ``"Pleiades"``, ``"L8"``, ...).
        bands: MS band names in file order.
        bits: radiometric resolution of the product's digital numbers; the DN range is
            ``0 .. 2**bits - 1`` (fused values are clipped to it).
        ms_gnyq: MTF gain at the MS Nyquist frequency, one per band (0 < g < 1).
        pan_gnyq: MTF gain of the PAN at the MS Nyquist frequency.
        rgb: 0-based indices of the red, green and blue bands for quick-looks.
        ratio: PAN/MS resolution ratio of the sensor (4; 2 for Landsat).
        band_ids: the agency's band identifiers in the same order (``B0``.. for Airbus,
            ``B1``.. for Landsat, ``C, B, G``.. for Maxar); default: the band names.
        mtf_source: where the MTF gains come from.
        fallback: True when the gains are the toolbox's generic fallback (no published value).
    """

    name: str
    bands: tuple[str, ...]
    bits: int
    ms_gnyq: tuple[float, ...]
    pan_gnyq: float
    rgb: tuple[int, int, int]
    ratio: int = 4
    aliases: tuple[str, ...] = field(default=(), compare=False, repr=False)
    band_ids: tuple[str, ...] = field(default=(), compare=False, repr=False)
    mtf_source: str = field(default="user-given", compare=False, repr=False)
    fallback: bool = field(default=False, compare=False, repr=False)

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
        if not self.band_ids:
            object.__setattr__(self, "band_ids", tuple(self.bands))
        elif len(self.band_ids) != len(self.bands):
            raise SensorError(f"sensor {self.name}: {len(self.band_ids)} band ids for {len(self.bands)} bands")

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
            band_ids=tuple(self.band_ids[i] for i in idx),
            rgb=rgb if len(set(rgb)) == 3 or len(idx) < 3 else tuple(range(3)),
        )

    def with_band_count(self, nbands: int) -> "Sensor | None":
        """The sensor for a product with ``nbands`` bands it does not name: itself when the count is
        its own; when all its MS gains are equal (the MTF does not depend on the band), the same
        gains for ``nbands`` bands named ``B1..Bn``; otherwise None."""
        if nbands == self.nbands:
            return self
        if len(set(self.ms_gnyq)) != 1 or nbands < 1:
            return None
        names = tuple(f"B{i + 1}" for i in range(nbands))
        rgb = (2, 1, 0) if nbands >= 3 else (0, 0, 0)
        return replace(self, bands=names, band_ids=names, ms_gnyq=(self.ms_gnyq[0],) * nbands, rgb=rgb)

    def with_bits(self, bits: int) -> "Sensor":
        """The same sensor with another bit depth (a product that says it has ``bits`` significant bits)."""
        return replace(self, bits=int(bits))

    def match_bands(self, names: Sequence[str]) -> "Sensor | None":
        """The sensor restricted to the bands a product names, in the product's order, or None.

        Each name (a GeoTIFF band description such as ``"B2_Blue"`` or ``"Red"``, or an agency
        band id such as ``"B3"``) must name exactly one band of the sensor by its name or id,
        compared case-insensitively token by token (``"B2_Blue"`` -> ``{"b2", "blue"}``).
        """
        picked: list[int] = []
        for raw in names:
            tokens = {_norm(t) for t in _split_tokens(str(raw))} | {_norm(str(raw))}
            hits = [i for i in range(self.nbands)
                    if _norm(self.band_ids[i]) in tokens or _norm(self.bands[i]) in tokens]
            if len(hits) != 1 or hits[0] in picked:
                return None
            picked.append(hits[0])
        return self.with_bands(picked) if picked else None


def _split_tokens(text: str) -> list[str]:
    out, word = [], ""
    for ch in text:
        if ch.isalnum():
            word += ch
        elif word:
            out.append(word)
            word = ""
    return out + ([word] if word else [])


_SENSORS: dict[str, Sensor] = {}


def _register(sensor: Sensor) -> None:
    for key in (sensor.name, *sensor.aliases):
        _SENSORS[_norm(key)] = sensor


def _norm(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


# --------------------------------------------------------------------------------------------
# The catalogue. ``mtf_source`` cites where every MTF gain comes from; ``fallback=True`` marks a
# sensor for which no per-sensor gain is published in the sources the project relies on: it
# uses the reference toolbox's documented ``otherwise`` branch (0.3 for every MS band,
# ``MTF_PAN.m``'s 0.15 for PAN), exactly what the toolbox itself applies to that sensor.
# --------------------------------------------------------------------------------------------
_TOOLBOX = "Vivone et al. 2020 toolbox genMTF.m / MTF_PAN.m (metrics-reference 1.7; Vivone et al. 2015 TGRS Table I)"
_FALLBACK = ("not published in the reference toolbox or the sources the project cites: the toolbox's "
             "documented fallback for unknown sensors, 0.3 (MS) / 0.15 (PAN)")
_G, _P = DEFAULT_MS_GNYQ, DEFAULT_PAN_GNYQ

_register(Sensor("QB", _BGRN, 11, (0.34, 0.32, 0.30, 0.22), 0.15, (2, 1, 0), mtf_source=_TOOLBOX,
                 aliases=("QuickBird", "QB02", "QB2", "QuickBird2")))
_register(Sensor("IKONOS", _BGRN, 11, (0.26, 0.28, 0.29, 0.28), 0.17, (2, 1, 0), mtf_source=_TOOLBOX,
                 aliases=("IK02", "IKONOS2", "IK2")))
_register(Sensor("GeoEye1", _BGRN, 11, (0.23,) * 4, 0.16, (2, 1, 0), mtf_source=_TOOLBOX,
                 aliases=("GE1", "GE01", "GeoEye")))
_register(Sensor("WV4", _BGRN, 11, (0.23,) * 4, 0.16, (2, 1, 0), mtf_source=_TOOLBOX + " (case GeoEye1/WV4)",
                 aliases=("WorldView4", "WV04")))
_register(Sensor("WV2", _WV_BANDS, 11, (0.35,) * 7 + (0.27,), 0.11, (4, 2, 1), mtf_source=_TOOLBOX,
                 band_ids=_WV_IDS, aliases=("WorldView2", "WV02")))
_register(
    Sensor(
        "WV3",
        _WV_BANDS,
        11,
        (0.325, 0.355, 0.360, 0.350, 0.365, 0.360, 0.335, 0.315),
        0.14,
        (4, 2, 1),
        mtf_source=_TOOLBOX,
        band_ids=_WV_IDS,
        aliases=("WorldView3", "WV03"),
    )
)
# Airbus: DIMAP v2 band ids B0..B3 = blue, green, red, NIR; 12-bit DN (Pleiades and SPOT-6/7 user guides).
_register(Sensor("Pleiades", _BGRN, 12, (_G,) * 4, _P, (2, 1, 0), mtf_source=_FALLBACK, fallback=True,
                 band_ids=("B0", "B1", "B2", "B3"),
                 aliases=("PHR", "PHR1A", "PHR1B", "Pleiades1A", "Pleiades1B", "Pleiades1")))
_register(Sensor("PleiadesNeo", ("DeepBlue", "Blue", "Green", "Red", "RedEdge", "NIR"), 12, (_G,) * 6, _P,
                 (3, 2, 1), mtf_source=_FALLBACK, fallback=True, band_ids=("DB", "B", "G", "R", "RE", "NIR"),
                 aliases=("PNEO", "PNEO3", "PNEO4", "PleiadesNeo3", "PleiadesNeo4")))
_register(Sensor("SPOT6", _BGRN, 12, (_G,) * 4, _P, (2, 1, 0), mtf_source=_FALLBACK, fallback=True,
                 band_ids=("B0", "B1", "B2", "B3"), aliases=("SPOT-6", "SPOT6NAOMI")))
_register(Sensor("SPOT7", _BGRN, 12, (_G,) * 4, _P, (2, 1, 0), mtf_source=_FALLBACK, fallback=True,
                 band_ids=("B0", "B1", "B2", "B3"), aliases=("SPOT-7",)))
# GaoFen: PMS cameras, 10-bit DN (PanCollection normalises GF2 by 1023; DLPan-Toolbox#17).
_register(Sensor("GF1", _BGRN, 10, (_G,) * 4, _P, (2, 1, 0), mtf_source=_FALLBACK, fallback=True,
                 aliases=("GaoFen1", "GF-1")))
# GF2 is not in genMTF.m / MTF_PAN.m: the toolbox's defaults apply (0.3 MS, 0.15 PAN); 10-bit data.
_register(Sensor("GF2", _BGRN, 10, (_G,) * 4, _P, (2, 1, 0), mtf_source=_FALLBACK + " (as the toolbox applies to GF2)",
                 fallback=True, aliases=("GaoFen2",)))
# Landsat: 15 m PAN / 30 m MS (ratio 2); band ids are the USGS band numbers of the MTL file.
# L1 products: ETM+ 8-bit DN; OLI / OLI-2 scaled to 16 bits (QUANTIZE_CAL_MAX 65535 in the MTL).
_register(Sensor("L7", ("Blue", "Green", "Red", "NIR", "SWIR1", "SWIR2"), 8, (_G,) * 6, _P, (2, 1, 0), ratio=2,
                 mtf_source=_FALLBACK, fallback=True, band_ids=("B1", "B2", "B3", "B4", "B5", "B7"),
                 aliases=("Landsat7", "LE07", "LE7", "ETM", "ETM+", "Landsat7ETM", "Landsat7ETM+")))
_OLI_BANDS = ("Coastal", "Blue", "Green", "Red", "NIR", "SWIR1", "SWIR2")
_OLI_IDS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7")
_register(Sensor("L8", _OLI_BANDS, 16, (_G,) * 7, _P, (3, 2, 1), ratio=2, mtf_source=_FALLBACK, fallback=True,
                 band_ids=_OLI_IDS, aliases=("Landsat8", "LC08", "LC8", "LO08", "Landsat8OLI", "OLI")))
_register(Sensor("L9", _OLI_BANDS, 16, (_G,) * 7, _P, (3, 2, 1), ratio=2, mtf_source=_FALLBACK, fallback=True,
                 band_ids=_OLI_IDS, aliases=("Landsat9", "LC09", "LC9", "LO09", "Landsat9OLI", "OLI2")))


def sensor_names() -> list[str]:
    """Canonical names of the built-in sensors."""
    return sorted({s.name for s in _SENSORS.values()})


def catalogue() -> list[Sensor]:
    """Every built-in sensor once, in name order."""
    return sorted({s.name: s for s in _SENSORS.values()}.values(), key=lambda s: s.name)


def find_sensor(name: str) -> Sensor | None:
    """The catalogue sensor called ``name`` or one of its aliases (case and punctuation ignored), or None."""
    return _SENSORS.get(_norm(str(name)))


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
        fitted = sensor.with_band_count(nbands)  # equal gains fit any band count
        if fitted is not None:
            return fitted
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
