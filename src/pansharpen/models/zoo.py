"""Imports every architecture module so that they register themselves."""
from __future__ import annotations

import importlib

_MODULES = ("lightnet", "lgpnet", "comparison", "ada3dnet")

for _name in _MODULES:
    try:
        importlib.import_module(f"{__package__}.{_name}")
    except ModuleNotFoundError as exc:  # a module not written yet must not break the others
        if exc.name != f"{__package__}.{_name}":
            raise
