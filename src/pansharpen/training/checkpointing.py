"""Training checkpoints: the random-number-generator states (bit-exact resume); the file I/O is
:mod:`pansharpen.io.checkpoints`.

A checkpoint is a ``torch.save`` dict holding only tensors, numbers, strings, lists and
dicts, so it is read back with ``weights_only=True`` (no pickled code). It is written to a
temporary file in the destination folder and renamed over the old one (``os.replace``), so
a run killed at any moment leaves either the previous complete checkpoint or the new one.
"""
from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from ..io.checkpoints import CHECKPOINT_FORMAT, atomic_torch_save, load_checkpoint  # noqa: F401  (re-exported)


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
