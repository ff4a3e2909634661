"""Training losses: hand-computed L1/MSE/ERGAS values."""
from __future__ import annotations

import math

import torch

from pansharpen.training.losses import build_loss, ergas_loss
from pansharpen.training.presets import resolve_preset


def two_band_case():
    # reference bands with means 2 and 4; errors of +1 and -2 everywhere
    ref = torch.stack([torch.full((4, 4), 2.0), torch.full((4, 4), 4.0)])[None]
    fused = ref + torch.stack([torch.full((4, 4), 1.0), torch.full((4, 4), -2.0)])[None]
    return fused, ref


def test_ergas_hand_computed():
    fused, ref = two_band_case()
    # (100/4) * sqrt(((1/2)^2 + (2/4)^2) / 2) = 25 * sqrt(0.25) = 12.5
    assert math.isclose(float(ergas_loss(fused, ref, ratio=4)), 12.5, rel_tol=1e-6)
    # scale invariant: DN and network scale agree
    assert math.isclose(float(ergas_loss(fused / 2047, ref / 2047)), 12.5, rel_tol=1e-5)
    assert float(ergas_loss(ref, ref)) < 1e-3


def test_ergas_is_a_batch_mean_and_differentiable():
    fused, ref = two_band_case()
    batch_f, batch_r = torch.cat([fused, ref]), torch.cat([ref, ref])
    assert math.isclose(float(ergas_loss(batch_f, batch_r)), 12.5 / 2, rel_tol=1e-4)
    x = fused.clone().requires_grad_(True)
    ergas_loss(x, ref).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_preset_losses():
    fused, ref = two_band_case()
    assert math.isclose(float(build_loss(resolve_preset("lightnet"))(fused, ref)), 1.5)  # mean |e| = (1+2)/2
    assert math.isclose(float(build_loss(resolve_preset("lgpconv-net"))(fused, ref)), 2.5)  # mean e^2 = (1+4)/2
    ada = float(build_loss(resolve_preset("ada3d-pan"))(fused, ref))
    assert math.isclose(ada, 1.5 + 3e-5 * 12.5, rel_tol=1e-6)
