"""Validation during training: reduced-resolution metrics of a model on a held-out set.

The fused patches are clipped to [0, 1] on the network scale (as the authors' test
scripts do), converted back to digital numbers and scored against ``gt`` with the
reference-exact indices of :mod:`pansharpen.metrics.reduced` (Q2n with 32 x 32 blocks, SAM
in degrees, ERGAS); the set's value is the mean over its images, plus the mean L1 on the
network scale. A fused patch whose DN are all <= 1 (a dead network) scores Q2n = 0 instead
of being refused by the uint16 cast check.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..metrics.reduced import ergas, q2n, sam
from ..protocol.scaling import from_network

#: metrics reported for a validation set, and whether higher is better
METRICS = {"Q2n": True, "SAM": False, "ERGAS": False}


@torch.no_grad()
def validate(model: torch.nn.Module, dataset: Dataset, normaliser: float, ratio: int = 4,
             batch_size: int = 16, device: str = "cpu") -> dict[str, float]:
    """Mean Q2n, SAM, ERGAS (digital numbers) and L1 (network scale) of ``model`` on ``dataset``."""
    was_training = model.training
    model.eval()
    scores: dict[str, list[float]] = {name: [] for name in METRICS}
    l1_sum, l1_count = 0.0, 0
    try:
        for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, generator=torch.Generator()):
            gt = batch["gt"].to(device)
            fused = model(batch["ms"].to(device), batch["pan"].to(device), batch["lms"].to(device))
            l1_sum += float((fused - gt).abs().sum())
            l1_count += gt.numel()
            fused_dn = from_network(fused.clamp(0, 1), normaliser)
            gt_dn = from_network(gt, normaliser)
            alive = fused_dn.reshape(len(fused_dn), -1).max(axis=1) > 1.0
            q = np.zeros(len(gt_dn))
            if alive.any():
                q[alive] = q2n(gt_dn[alive], fused_dn[alive])
            scores["Q2n"] += q.tolist()
            scores["SAM"] += np.atleast_1d(sam(gt_dn, fused_dn)).tolist()
            scores["ERGAS"] += np.atleast_1d(ergas(gt_dn, fused_dn, ratio)).tolist()
    finally:
        model.train(was_training)
    summary = {name: float(np.nanmean(values)) for name, values in scores.items()}
    summary["L1"] = l1_sum / max(l1_count, 1)
    return summary


def is_better(candidate: dict[str, float], incumbent: dict[str, float] | None, metric: str = "Q2n") -> bool:
    """Whether ``candidate`` beats ``incumbent`` on ``metric`` (Q2n: higher; SAM, ERGAS, L1: lower)."""
    if incumbent is None:
        return True
    higher = METRICS.get(metric, False)
    a, b = candidate[metric], incumbent[metric]
    return a > b if higher else a < b


def dominates(candidate: dict[str, float], incumbent: dict[str, float]) -> bool:
    """At least as good on every one of Q2n, SAM and ERGAS."""
    return all((candidate[m] >= incumbent[m]) if hi else (candidate[m] <= incumbent[m]) for m, hi in METRICS.items())


Validator = Callable[[torch.nn.Module], dict[str, float]]
