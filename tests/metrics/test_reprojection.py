"""Reprojection indices (R-Q2n, R-SAM, R-ERGAS) and D_rho: hand cases, perfect case, invariances."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pansharpen.errors import ShapeError
from pansharpen.metrics import d_rho, reproject, reprojection_indices
from pansharpen.metrics.reprojection import correlation_window, local_correlation
from pansharpen.protocol.mtf import mtf_filter
from pansharpen.protocol.sensors import get_sensor


def _fused(seed=0, bands=4, size=128):
    rng = np.random.default_rng(seed)
    return 200 + 1500 * rng.random((bands, size, size))


def test_reproject_is_mtf_then_wald_decimation():
    f = _fused()
    low = reproject(f, "QB", 4)
    assert low.shape == (4, 32, 32)
    np.testing.assert_array_equal(low, mtf_filter(f, get_sensor("QB"), 4)[:, 2::4, 2::4])


def test_reproject_torch_matches_numpy_and_is_differentiable():
    f = _fused()
    t = torch.from_numpy(f).requires_grad_()
    low = reproject(t, "QB", 4)
    np.testing.assert_allclose(low.detach().numpy(), reproject(f, "QB", 4), rtol=1e-12)
    low.sum().backward()
    assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


def test_perfect_case_fused_that_degrades_into_the_ms():
    f = _fused()
    ms = reproject(f, "QB", 4)
    got = reprojection_indices(f, ms, "QB", 4)
    assert got["R-Q2n"] == pytest.approx(1.0, abs=1e-12)
    assert got["R-SAM"] == 0.0 and got["R-ERGAS"] == 0.0


def test_scaled_fused_hand_computed_ergas_and_zero_sam():
    f = _fused(1)
    ms = reproject(f, "QB", 4)
    a = 0.1
    got = reprojection_indices((1 + a) * f, ms, "QB", 4)
    # reproject is linear: reproject((1+a) F) = (1+a) MS, so MSE_b = a^2 mean(MS_b^2)
    want = 25 * np.sqrt(np.mean([a * a * np.mean(m * m) / np.mean(m) ** 2 for m in ms]))
    assert got["R-ERGAS"] == pytest.approx(want, rel=1e-10)
    assert got["R-SAM"] == pytest.approx(0.0, abs=1e-6)  # same spectral angle everywhere
    assert got["R-Q2n"] < 1.0


def test_reprojection_indices_batch_and_errors():
    f = np.stack([_fused(0), _fused(1)])
    ms = reproject(f, "QB", 4)
    rows = reprojection_indices(f, ms, "QB", 4)
    assert len(rows) == 2 and all(r["R-SAM"] == 0 for r in rows)
    with pytest.raises(ShapeError, match="ratio"):
        reprojection_indices(f[0], ms[0][:, :16], "QB", 4)
    with pytest.raises(ShapeError, match="multiple of the ratio"):
        reproject(f[0][:, :126], "QB", 4)


def test_local_correlation_hand_computed():
    # x = [[1,2,3],[4,5,6]], y = [[1,0,0],[0,0,1]], 2x2 windows: rho = -0.5/sqrt(2.5*0.1875), +0.5/sqrt(...)
    x = torch.tensor([[1.0, 2, 3], [4, 5, 6]], dtype=torch.float64)[None, None]
    y = torch.tensor([[1.0, 0, 0], [0, 0, 1]], dtype=torch.float64)[None, None]
    rho = local_correlation(x, y, 2)[0, 0, 0]
    r = 0.5 / np.sqrt(2.5 * 0.1875)
    np.testing.assert_allclose(rho.numpy(), [-r, r], rtol=1e-12)
    assert d_rho(x[0].numpy(), y[0, 0].numpy(), window=2) == pytest.approx(1.0, abs=1e-12)


def test_local_correlation_flat_windows():
    flat = torch.full((1, 1, 4, 4), 7.0, dtype=torch.float64)
    ramp = torch.arange(16, dtype=torch.float64).reshape(1, 1, 4, 4)
    assert torch.all(local_correlation(flat, flat * 3, 2) == 1)  # flat in both: nothing to disagree on
    assert torch.all(local_correlation(ramp, flat, 2) == 0)  # flat in one only
    assert torch.all(local_correlation(flat, ramp, 2) == 0)


def test_d_rho_invariances_and_range():
    rng = np.random.default_rng(3)
    pan = 300 + 1000 * rng.random((64, 64))
    fused = np.stack([2 * pan + 5, 0.5 * pan + 100])  # affine copies of the PAN: rho = 1
    assert d_rho(fused, pan) == pytest.approx(0.0, abs=1e-9)
    assert d_rho(-fused, pan) == pytest.approx(2.0, abs=1e-9)  # anti-correlated: the maximum
    noisy = np.stack([pan + 300 * rng.random((64, 64)) for _ in range(3)])
    value = d_rho(noisy, pan)
    assert 0 < value < 1
    # per-band positive scale and offset of either image leave it unchanged
    scaled = noisy * np.array([3.0, 0.2, 7.0])[:, None, None] + 11
    assert d_rho(scaled, 0.5 * pan + 2, 4) == pytest.approx(value, rel=1e-9)
    assert correlation_window(4) == 4 and correlation_window(3) == 4 and correlation_window(2) == 2


def test_d_rho_batch_and_window_error():
    pan = np.random.default_rng(0).random((2, 1, 16, 16))
    fused = np.concatenate([pan, pan], axis=1) * 10
    got = d_rho(fused, pan, 4)
    assert got.shape == (2,) and np.allclose(got, 0, atol=1e-9)
    with pytest.raises(ShapeError):
        d_rho(fused, pan, window=1)
