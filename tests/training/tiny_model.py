"""A tiny registered network for the training tests: lms + conv3x3([lms, pan]), cheap to train."""
from __future__ import annotations

import torch
from torch import nn

from pansharpen.models import registry
from pansharpen.models.base import FusionModel


class TinyNet(FusionModel):
    """lms + conv3x3([lms, pan]): enough parameters to learn, cheap to train."""

    def __init__(self, bands: int = 4):
        super().__init__()
        self.bands = bands
        self.conv = nn.Conv2d(bands + 1, bands, 3, padding=1)

    def fuse(self, ms, pan, lms):
        return lms + self.conv(torch.cat([lms, pan], 1))


def register_tiny(name: str) -> str:
    """Register :class:`TinyNet` under ``name`` (once) and return the name."""
    if name not in registry._REGISTRY:
        registry.register(name, paper="test stand-in")(lambda bands=4, **kw: TinyNet(bands))
    return name
