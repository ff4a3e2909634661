"""The bundled weights, the default-fuser table and the card of a weights file: what can be known
about networks without building one (no torch: ``pansharpen fuse`` with the default choice, whose
table names only classical methods today, starts without it; docs/architecture.md).

``models/weights/``: the bundled ``NAME.safetensors`` files and ``defaults.json``, the one place
that decides what ``pansharpen fuse`` uses when given no model, weights or method.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from safetensors import safe_open

from ..errors import DataFormatError, ModelError
from .cards import CARD_METADATA_KEY, ModelCard

__all__ = ["WEIGHTS_DIR", "DEFAULTS_FILE", "bundled_weights", "default_choices", "read_card"]

WEIGHTS_DIR = Path(__file__).with_name("weights")
#: What ``pansharpen fuse`` uses when given no model, weights or method (see :func:`default_choices`).
DEFAULTS_FILE = WEIGHTS_DIR / "defaults.json"


def bundled_weights() -> dict[str, Path]:
    """Names of bundled weight files (``lgpconv-net-wv3`` ...) -> path."""
    return {p.stem: p for p in sorted(WEIGHTS_DIR.glob("*.safetensors"))}


def default_choices(bands: int) -> list[dict[str, Any]]:
    """The default candidates for ``bands``-band data, best first, from ``models/weights/defaults.json``.

    Each entry has ``"model"`` (a bundled network name) or ``"method"`` (a classical method) and
    ``"why"`` (the measurement that decided it). Entries for ``bands`` come first, then those for
    ``"any"``. The caller takes the first that applies to the product (a network only for its
    card's sensors and ratio), so the file is the one place that decides the default.
    """
    try:
        entries = json.loads(DEFAULTS_FILE.read_text())["defaults"]
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"{DEFAULTS_FILE} is missing or unreadable ({exc}); reinstall pansharpen") from None
    exact = [e for e in entries if e.get("bands") == bands]
    return exact + [e for e in entries if e.get("bands") == "any"]


def read_card(path: "str | os.PathLike") -> ModelCard:
    """The card stored in a safetensors file written by :func:`save`."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
    except FileNotFoundError:
        raise DataFormatError(f"weights file {path} does not exist") from None
    except Exception as exc:  # safetensors raises its own error types
        raise DataFormatError(f"{path} is not a readable safetensors file ({exc}); was it truncated?") from None
    if CARD_METADATA_KEY not in meta:
        raise DataFormatError(
            f"{path} has no pansharpen model card; convert authors' checkpoints with `pansharpen import-weights`"
        )
    return ModelCard.from_json(meta[CARD_METADATA_KEY])
