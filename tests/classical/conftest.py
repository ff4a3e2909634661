"""Synthetic MS/PAN pairs for the classical-method tests (smooth, positive, PAN correlated with MS)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter


def _make_pair(bands: int = 4, size: int = 24, ratio: int = 4, seed: int = 0):
    """``(ms (C, h, h), pan (1, H, H), pan_true_ms (C, H, H))`` in digital-number-like ranges.

    A high-resolution MS is drawn (smooth random fields + edges), the PAN is a weighted sum of
    its bands plus a little noise, and the LR MS is its block average (so the PAN holds detail
    the MS lacks).
    """
    rng = np.random.default_rng(seed)
    hr = size * ratio
    fields = []
    for _ in range(bands + 2):
        f = gaussian_filter(rng.normal(size=(hr, hr)), sigma=ratio * 1.5)
        fields.append(f / f.std())
    yy, xx = np.mgrid[0:hr, 0:hr]
    edges = ((xx // (hr // 4) + yy // (hr // 3)) % 2).astype(float)
    mix = rng.uniform(0.2, 1.0, size=(bands, 3))
    hr_ms = np.stack(
        [300 + 60 * (m[0] * fields[0] + m[1] * fields[1]) + 15 * fields[k + 2] + 80 * m[2] * edges for k, m in enumerate(mix)]
    )
    hr_ms = np.clip(hr_ms, 1, None)
    weights = rng.uniform(0.5, 1.5, size=bands)
    pan = (weights @ hr_ms.reshape(bands, -1)).reshape(hr, hr) / weights.sum() * 1.3 + 20
    pan = pan + rng.normal(0, 2, size=pan.shape)
    ms = hr_ms.reshape(bands, size, ratio, size, ratio).mean(axis=(2, 4))
    return ms, pan[None], hr_ms


@pytest.fixture
def make_pair():
    """The pair factory ``make_pair(bands=4, size=24, ratio=4, seed=0)``."""
    return _make_pair


@pytest.fixture
def pair():
    return _make_pair()
