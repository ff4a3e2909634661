"""Sensor metadata next to a product's TIFFs (WorldView/GeoEye/QuickBird ``.IMD`` files).

Only what fusion needs: which sensor took the image, so that the sensor's MTF gains,
band order and bit depth can be looked up in :mod:`pansharpen.protocol.sensors`.
"""
from __future__ import annotations

import re
from pathlib import Path

#: satId values of DigitalGlobe/Maxar IMD files -> our sensor names
SATELLITE_IDS = {
    "WV01": "WV1",
    "WV02": "WV2",
    "WV03": "WV3",
    "WV04": "WV4",
    "GE01": "GeoEye1",
    "QB02": "QB",
    "IK02": "IKONOS",
}


def imd_path(raster_path: "str | Path") -> Path | None:
    """The ``.IMD`` file beside a TIFF (same stem, any case), or None."""
    path = Path(raster_path)
    for suffix in (".IMD", ".imd"):
        candidate = path.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def read_imd(path: "str | Path") -> dict[str, str]:
    """Top-level and band-group ``key = value;`` pairs of an IMD file (values unquoted).

    Band groups are flattened as ``BAND_R.absCalFactor``; ``bands`` lists the band
    group names in file order (``BAND_C, BAND_B, ...``) joined by commas.
    """
    values: dict[str, str] = {}
    bands: list[str] = []
    group: list[str] = []
    for raw in Path(path).read_text(errors="replace").splitlines():
        line = raw.strip().rstrip(";")
        if line.startswith("BEGIN_GROUP"):
            name = line.split("=", 1)[1].strip()
            group.append(name)
            if name.startswith("BAND_"):
                bands.append(name)
            continue
        if line.startswith("END_GROUP"):
            if group:
                group.pop()
            continue
        match = re.match(r"^(\w+)\s*=\s*(.*)$", line)
        if match:
            key, value = match.group(1), match.group(2).strip().strip('"')
            prefix = f"{group[-1]}." if group and group[-1].startswith("BAND_") else ""
            values.setdefault(prefix + key, value)
    values["bands"] = ",".join(bands)
    return values


def detect_sensor(raster_path: "str | Path") -> str | None:
    """Sensor name from the IMD beside ``raster_path`` (``"WV3"`` ...), or None when unknown."""
    imd = imd_path(raster_path)
    if imd is None:
        return None
    sat = read_imd(imd).get("satId", "").upper()
    return SATELLITE_IDS.get(sat)
