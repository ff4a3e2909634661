"""Imports every architecture module so that they register themselves (and their importers)."""
from __future__ import annotations

from . import ada3dnet, comparison, lgpnet, lightnet  # noqa: F401
