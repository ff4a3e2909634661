"""The DigitalGlobe sample products of the ``dgsamples`` package, found by sensor name.

``dgsamples`` (PyPI) ships a WorldView-3 and a WorldView-2 product chip over Longmont,
Colorado (PAN 0.3 m / 0.5 m, 8-band MS at ratio 4, uint16 11-bit). Its licence restricts
redistribution: read the files where the package is installed, never copy them.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import DataFormatError

#: sensor name -> product folder inside the dgsamples package
PRODUCTS = {"WV3": "wv3_longmont_1k", "WV2": "wv2_longmont_1k"}


def _norm(name: str) -> str:
    return "".join(ch for ch in name.upper() if ch.isalnum()).replace("WORLDVIEW", "WV")


def samples_root() -> Path:
    """Folder of the installed ``dgsamples`` package (found without importing it)."""
    spec = importlib.util.find_spec("dgsamples")
    if spec is None or not spec.submodule_search_locations:
        raise DataFormatError(
            "the sample products need the dgsamples package: pip install dgsamples "
            "(or pip install 'pansharpen[samples]')"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def sample_product(sensor: str = "WV3") -> tuple[Path, Path]:
    """``(pan_path, ms_path)`` of the ``dgsamples`` product of ``sensor`` (``"WV3"`` or ``"WV2"``)."""
    key = _norm(sensor)
    if key not in PRODUCTS:
        raise DataFormatError(f"no sample product for sensor {sensor!r}; available: {', '.join(PRODUCTS)}")
    folder = samples_root() / PRODUCTS[key]

    def one(pattern: str) -> Path:
        found = sorted(p for p in folder.glob(pattern) if p.suffix.upper() in (".TIF", ".TIFF"))
        if len(found) != 1:
            raise DataFormatError(
                f"dgsamples product {folder.name} is incomplete ({len(found)} files match {pattern}); "
                "reinstall it: pip install --force-reinstall dgsamples"
            )
        return found[0]

    return one("*_PAN/*-P2AS-*"), one("*_MUL/*-M2AS-*")


def available_products() -> list[str]:
    """Sensor names whose sample product is installed (empty if dgsamples is absent)."""
    try:
        root = samples_root()
    except DataFormatError:
        return []
    return [name for name, folder in PRODUCTS.items() if (root / folder).is_dir()]
