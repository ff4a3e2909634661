"""Training losses: L1, MSE and the ERGAS term of Ada3D.

All take ``fused`` and ``reference`` as ``(N, C, H, W)`` tensors on the network scale
(digital numbers / normaliser) and return a scalar tensor.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from .presets import Preset

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def ergas_loss(fused: torch.Tensor, reference: torch.Tensor, ratio: int = 4, eps: float = 1e-12) -> torch.Tensor:
    """Differentiable ERGAS, per image then averaged over the batch.

    ``ERGAS = (100 / ratio) * sqrt( (1/C) * sum_c MSE_c / mean_c(reference)^2 )``
    (Wald 2002; the form used as a loss by Ada3D). Scale-invariant, so the network scale
    gives the same value as digital numbers. ``eps`` guards all-zero bands.
    """
    mse = (fused - reference).pow(2).mean(dim=(-2, -1))  # (N, C)
    mean_sq = reference.mean(dim=(-2, -1)).pow(2)
    return (100.0 / ratio * torch.sqrt((mse / (mean_sq + eps)).mean(dim=1) + eps)).mean()


def build_loss(preset: Preset, ratio: int = 4) -> LossFn:
    """The preset's loss: ``l1`` or ``mse`` (means), plus ``ergas_weight * ERGAS`` if non-zero."""
    base = F.l1_loss if preset.loss == "l1" else F.mse_loss
    weight = preset.ergas_weight
    if not weight:
        return base

    def loss(fused: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        return base(fused, reference) + weight * ergas_loss(fused, reference, ratio)

    return loss
