"""Training checkpoints: atomic writes, safe reads, and the random-number-generator states.

A checkpoint is a ``torch.save`` dict holding only tensors, numbers, strings, lists and
dicts, so it is read back with ``weights_only=True`` (no pickled code). It is written to a
temporary file in the destination folder and renamed over the old one (``os.replace``), so
a run killed at any moment leaves either the previous complete checkpoint or the new one.
"""
from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import DataFormatError

CHECKPOINT_FORMAT = "pansharpen-train-checkpoint/1"


def atomic_torch_save(obj: Any, path: "str | os.PathLike") -> Path:
    """``torch.save(obj)`` to ``path`` through a temp file in the same folder + ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
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


def capture_rng_state() -> dict[str, Any]:
    """States of Python's, numpy's and torch's global generators (CUDA too when present)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    version, internal, gauss = random.getstate()
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
