"""What a product's own metadata says about it: the mission, the bit depth, the band ids.

Only raw facts, as the product writes them (``"WV03"``, ``"PHR 1A"``, ``"LANDSAT_8"``): which
catalogue sensor that is, is decided above this layer
(:func:`pansharpen.protocol.policy.resolve_sensor`). Read, for a raster, in this order:

* Maxar ``.IMD`` beside it (same stem, any case): ``satId``, the ``BAND_*`` groups;
* Maxar ``.XML`` beside it (same stem): ``IMD/IMAGE/SATID``, the ``IMD/BAND_*`` elements;
* Airbus DIMAP v2 ``DIM_*.XML`` in its folder (Pleiades, Pleiades Neo, SPOT-6/7):
  ``Dataset_Sources/Source_Identification/Strip_Source/MISSION`` + ``MISSION_INDEX``,
  ``Raster_Data/Raster_Encoding/NBITS``, the ``BAND_ID`` of each band's radiometry;
* Landsat ``*_MTL.txt`` in its folder: ``SPACECRAFT_ID``, ``SENSOR_ID``, the bit depth from
  ``QUANTIZE_CAL_MAX_BAND_*`` (255 -> 8 bits, 65535 -> 16 bits);
* the GeoTIFF's own tags: ``SENSOR`` / ``SATELLITE`` / ``SPACECRAFT_ID`` / ``MISSION`` /
  ``TIFFTAG_IMAGEDESCRIPTION`` for the mission, ``NBITS`` (image structure) for the bit depth,
  and the band descriptions.

>>> facts = product_metadata("ms.tif")            # doctest: +SKIP
>>> facts.mission, facts.bits, facts.source        # doctest: +SKIP
('PHR 1A', 12, 'DIM_PHR1A_MS_001.XML')
"""
from __future__ import annotations

import math
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from pathlib import Path

import rasterio

__all__ = ["ProductMetadata", "product_metadata", "imd_path", "read_imd", "read_maxar_xml", "read_dimap",
           "read_mtl", "raster_tags"]

#: GeoTIFF tags that may name the satellite, in the order they are trusted.
MISSION_TAGS = ("SENSOR", "SATELLITE", "SPACECRAFT_ID", "MISSION", "PLATFORM", "TIFFTAG_IMAGEDESCRIPTION")


@dataclass(frozen=True)
class ProductMetadata:
    """Facts read from one metadata file (or the raster's own tags).

    Attributes:
        mission: the satellite as the product names it (``"WV03"``, ``"PHR 1A"``, ``"SPOT 7"``,
            ``"LANDSAT_8"``, ``"WorldView-3"``), or None.
        source: the file the facts come from (a name, for messages).
        instrument: the instrument where written (``"OLI_TIRS"``, ``"ETM"``, ``"PHR"``).
        bits: significant bits of the digital numbers where the product states them.
        band_ids: the bands in file order where the metadata lists them (``("C", "B", ...)``,
            ``("B0", "B1", ...)``, or GeoTIFF band descriptions such as ``"B2_Blue"``).
    """

    mission: str | None
    source: str
    instrument: str | None = None
    bits: int | None = None
    band_ids: tuple[str, ...] = ()


# ------------------------------------------------------------------------------------ Maxar
def _beside(raster_path: Path, suffix: str) -> Path | None:
    """A file with the raster's stem and ``suffix``, both compared case-insensitively."""
    path = Path(raster_path)
    stem, want = path.stem.lower(), suffix.lower()
    try:
        entries = sorted(path.parent.iterdir())
    except OSError:
        return None
    for candidate in entries:
        if candidate.is_file() and candidate.stem.lower() == stem and candidate.suffix.lower() == want:
            return candidate
    return None


def imd_path(raster_path: "str | Path") -> Path | None:
    """The Maxar ``.IMD`` file beside a raster (same stem, any case), or None."""
    return _beside(Path(raster_path), ".imd")


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


def _imd_facts(path: Path) -> ProductMetadata:
    # bitsPerPixel is the storage width (16 for 11-bit WorldView data), not the significant bits
    values = read_imd(path)
    ids = tuple(b[len("BAND_"):] for b in values["bands"].split(",") if b)
    return ProductMetadata(values.get("satId") or None, path.name, band_ids=ids)


def _xml_root(path: Path) -> ET.Element | None:
    try:
        return ET.parse(path).getroot()
    except (ET.ParseError, OSError):
        return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find_text(root: ET.Element, *names: str) -> str | None:
    """Text of the first element whose path ends with ``names`` (namespaces ignored)."""
    for elem in root.iter():
        if _local(elem.tag) != names[-1] or elem.text is None:
            continue
        if len(names) == 1 or _ends_with(root, elem, names):
            return elem.text.strip()
    return None


def _ends_with(root: ET.Element, elem: ET.Element, names: tuple[str, ...]) -> bool:
    parents = {child: parent for parent in root.iter() for child in parent}
    node = elem
    for name in reversed(names):
        if node is None or _local(node.tag) != name:
            return False
        node = parents.get(node)
    return True


def read_maxar_xml(path: "str | Path") -> ProductMetadata | None:
    """Facts of a Maxar product ``.XML`` (root ``isd``, ``IMD/IMAGE/SATID``), or None if it is not one."""
    path = Path(path)
    root = _xml_root(path)
    if root is None or _local(root.tag).lower() != "isd":
        return None
    sat = _find_text(root, "IMAGE", "SATID")
    imd = next((e for e in root.iter() if _local(e.tag) == "IMD"), None)
    ids = tuple(_local(e.tag)[len("BAND_"):] for e in (imd if imd is not None else ()) if _local(e.tag).startswith("BAND_"))
    return ProductMetadata(sat, path.name, band_ids=ids)


# ------------------------------------------------------------------------------------ Airbus
def read_dimap(path: "str | Path") -> ProductMetadata | None:
    """Facts of an Airbus DIMAP v2 ``DIM_*.XML`` (Pleiades, Pleiades Neo, SPOT-6/7), or None.

    Mission: ``Strip_Source/MISSION`` and ``MISSION_INDEX`` joined by a space (``"PHR 1A"``,
    ``"SPOT 7"``); bits: ``Raster_Encoding/NBITS``; band ids: the ``BAND_ID`` values of the
    radiometric band list in document order (``B0, B1, B2, B3``; ``P`` for the PAN).
    """
    path = Path(path)
    root = _xml_root(path)
    if root is None or _local(root.tag) != "DIMAP_Document":
        return None
    mission = _find_text(root, "Strip_Source", "MISSION")
    index = _find_text(root, "Strip_Source", "MISSION_INDEX")
    instrument = _find_text(root, "Strip_Source", "INSTRUMENT")
    nbits = _find_text(root, "Raster_Encoding", "NBITS")
    ids: list[str] = []
    for elem in root.iter():
        if _local(elem.tag) == "BAND_ID" and elem.text and elem.text.strip() not in ids:
            ids.append(elem.text.strip())
    if mission and index:
        mission = f"{mission} {index}"
    return ProductMetadata(mission, path.name, instrument, _int_or_none(nbits), tuple(ids))


def _dimap_beside(raster_path: Path) -> list[Path]:
    try:
        return sorted(p for p in raster_path.parent.iterdir()
                      if p.is_file() and p.name.upper().startswith("DIM_") and p.suffix.lower() == ".xml")
    except OSError:
        return []


# ------------------------------------------------------------------------------------ Landsat
def read_mtl(path: "str | Path") -> ProductMetadata:
    """Facts of a Landsat ``*_MTL.txt``: ``SPACECRAFT_ID``, ``SENSOR_ID`` and the bit depth of the
    calibrated DN (``QUANTIZE_CAL_MAX_BAND_*``: 255 -> 8, 65535 -> 16)."""
    path = Path(path)
    values: dict[str, str] = {}
    for raw in path.read_text(errors="replace").splitlines():
        match = re.match(r"^\s*(\w+)\s*=\s*(.*?)\s*$", raw)
        if match and match.group(1) not in ("GROUP", "END_GROUP"):
            values.setdefault(match.group(1), match.group(2).strip('"'))
    maxima = [_int_or_none(v) for k, v in values.items() if k.startswith("QUANTIZE_CAL_MAX_BAND_")]
    top = max((m for m in maxima if m), default=None)
    bits = math.ceil(math.log2(top + 1)) if top else None
    return ProductMetadata(values.get("SPACECRAFT_ID"), path.name, values.get("SENSOR_ID"), bits)


def _mtl_beside(raster_path: Path) -> list[Path]:
    try:
        return sorted(p for p in raster_path.parent.iterdir() if p.is_file() and p.name.upper().endswith("_MTL.TXT"))
    except OSError:
        return []


# ------------------------------------------------------------------------------------ GeoTIFF
def raster_tags(raster_path: "str | Path") -> ProductMetadata | None:
    """What the raster itself carries: a mission tag, ``NBITS``, band descriptions (None if unreadable)."""
    path = Path(raster_path)
    try:
        with rasterio.open(path) as src:
            tags = src.tags()
            nbits = src.tags(ns="IMAGE_STRUCTURE").get("NBITS")
            if nbits is None:
                nbits = src.tags(1, ns="IMAGE_STRUCTURE").get("NBITS")
            descriptions = tuple(d or "" for d in src.descriptions)
    except Exception:  # noqa: BLE001 - not a raster rasterio can open: no facts
        return None
    mission = next((tags[k].strip() for k in MISSION_TAGS if tags.get(k, "").strip()), None)
    if mission is not None and len(mission) > 80:  # a free-text description, not a name
        mission = None
    ids = descriptions if all(descriptions) else ()
    return ProductMetadata(mission, f"the tags of {path.name}", bits=_int_or_none(nbits), band_ids=ids)


# ------------------------------------------------------------------------------------ all
def product_metadata(raster_path: "str | os.PathLike") -> ProductMetadata | None:
    """The facts about a raster from the first source that names a mission (see the module doc).

    Bits and band ids missing from the sidecar file are completed from the raster's own tags
    (``NBITS``, band descriptions). None when nothing names a mission and the raster carries no
    bit depth or band descriptions either.
    """
    path = Path(raster_path)
    found: list[ProductMetadata] = []
    imd = imd_path(path)
    if imd is not None:
        found.append(_imd_facts(imd))
    xml = _beside(path, ".xml")
    if xml is not None and not xml.name.upper().startswith("DIM_"):
        facts = read_maxar_xml(xml)
        if facts is not None:
            found.append(facts)
    for dim in _dimap_beside(path):
        facts = read_dimap(dim)
        if facts is not None:
            found.append(facts)
    for mtl in _mtl_beside(path):
        found.append(read_mtl(mtl))
    tags = raster_tags(path) if path.is_file() else None
    if tags is not None:
        found.append(tags)
    named = [f for f in found if f.mission]
    best = named[0] if named else (tags if tags is not None and (tags.bits or tags.band_ids) else None)
    if best is None:
        return None
    if tags is not None and best is not tags:
        best = replace(best, bits=best.bits or tags.bits, band_ids=best.band_ids or tags.band_ids)
    return best


def _int_or_none(value) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None

