"""Importers that convert the authors' released checkpoints into our models.

Each architecture module registers an importer with :func:`register_importer` when it is imported
(the registry imports them all on first use: :func:`list_importers` asks it to);
``pansharpen import-weights NAME CHECKPOINT OUT.safetensors`` dispatches on ``NAME``.
An importer receives the checkpoint's flat state dict (``module.`` prefixes already
stripped) and returns a model from :func:`pansharpen.models.create` with the weights
loaded strictly and a card that records the source.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..errors import DataFormatError, ModelError
from .registry import _ensure_registered

Importer = Callable[[dict[str, torch.Tensor]], nn.Module]
_IMPORTERS: dict[str, tuple[Importer, str]] = {}


def register_importer(name: str, description: str):
    """Decorator: register ``importer(state_dict) -> model`` under ``name``."""

    def wrap(fn: Importer) -> Importer:
        _IMPORTERS[name] = (fn, description)
        return fn

    return wrap


def list_importers() -> dict[str, str]:
    """Importer name -> description, for every architecture module (imported here if not yet)."""
    _ensure_registered()
    return {k: v[1] for k, v in sorted(_IMPORTERS.items())}


def read_checkpoint(path: "str | os.PathLike") -> dict[str, torch.Tensor]:
    """Read a ``.pth`` checkpoint safely (``weights_only``) and return a flat state dict.

    Unwraps ``{"state_dict": ...}`` / ``{"model": ...}`` containers and strips the
    ``module.`` prefix that DataParallel/DDP training leaves.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"checkpoint {path} does not exist")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DataFormatError(f"cannot read checkpoint {path}: {exc}. Is it a PyTorch .pth file, complete?") from None
    for key in ("state_dict", "model", "net"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise DataFormatError(f"{path} does not hold a state dict of tensors")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in obj.items()}


def import_checkpoint(name: str, path: "str | os.PathLike") -> nn.Module:
    """Convert the authors' checkpoint at ``path`` with the importer ``name``."""
    importers = list_importers()
    if name not in importers:
        raise ModelError(f"no importer named {name!r}; available: {', '.join(importers)}")
    state = read_checkpoint(path)
    model = _IMPORTERS[name][0](state)
    model.card.training = {**model.card.training, "imported_from": Path(path).name}
    return model.eval()
