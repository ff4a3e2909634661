"""Training checkpoints on disk: the atomic write and the safe read.

A checkpoint is a ``torch.save`` dict holding only tensors, numbers, strings, lists and dicts,
so it is read back with ``weights_only=True`` (no pickled code runs). It is written through
:func:`pansharpen.io.atomic.atomic_path`, so a run killed at any moment leaves either the
previous complete checkpoint or the new one. What goes into one (model, optimiser, random
generator states, configuration) is decided by :mod:`pansharpen.training`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..errors import DataFormatError
from .atomic import atomic_path

CHECKPOINT_FORMAT = "pansharpen-train-checkpoint/1"

__all__ = ["CHECKPOINT_FORMAT", "atomic_torch_save", "load_checkpoint"]


def atomic_torch_save(obj: Any, path: "str | os.PathLike") -> Path:
    """``torch.save(obj)`` to ``path`` through the atomic writer (the folder is created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, overwrite=True) as tmp:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
    return path


def load_checkpoint(path: "str | os.PathLike") -> dict[str, Any]:
    """Read a checkpoint written by :func:`atomic_torch_save`; clear errors when absent or damaged."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"no training checkpoint at {path}; start without --resume to begin a new run")
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DataFormatError(
            f"training checkpoint {path} cannot be read ({exc}); it is damaged: delete it and start again"
        ) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise DataFormatError(f"{path} is not a pansharpen training checkpoint (format {CHECKPOINT_FORMAT})")
    return state
