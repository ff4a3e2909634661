"""pansharpen: pansharpening and remote-sensing image fusion.

Public API (see the README): ``pansharpen.metrics``, ``pansharpen.protocol``,
``pansharpen.models`` (``create``, ``load``, ``list_models``), ``pansharpen.layers``.
"""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import PanSharpenError  # noqa: F401
