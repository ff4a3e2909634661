"""MS grids that do not share PAN pixel corners: fused where the MS really lies, tiles == whole."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from affine import Affine

from pansharpen.fusion.fusers import ClassicalFuser
from pansharpen.fusion.network_fuser import NetworkFuser
from pansharpen.fusion.scene import fuse_sources
from pansharpen.io.grid import PairGrid
from pansharpen.io.sources import ArraySource
from pansharpen.models import create
from pansharpen.protocol.sensors import get_sensor

RATIO, PAN_PX = 4, 0.5


def _bandlimited(shape, cycles, seed):
    """A periodic field with frequencies up to ``cycles`` per side (well under the MS Nyquist)."""
    rng = np.random.default_rng(seed)
    spec = np.zeros(shape, dtype=complex)
    for b in range(shape[0]):
        spec[b, :cycles, :cycles] = rng.normal(size=(cycles, cycles)) + 1j * rng.normal(size=(cycles, cycles))
    return spec


def _sample(spec, rows, cols):
    """The periodic field of ``spec`` (on an H x W grid) at real positions ``rows`` x ``cols``."""
    h, w = spec.shape[-2:]
    er = np.exp(2j * np.pi * np.outer(rows, np.arange(h)) / h)  # (n_rows, H)
    ec = np.exp(2j * np.pi * np.outer(np.arange(w), cols) / w)  # (W, n_cols)
    return np.real(er @ spec @ ec)


def _product(phase, n_ms=24, seed=0):
    """Truth (3, H, W), PAN, and an MS sampled where a grid offset by ``phase`` PAN pixels puts it."""
    h = n_ms * RATIO
    spec = _bandlimited((3, h, h), 4, seed)
    k = np.arange(h, dtype=float)
    truth = 1000 + 200 * np.stack([_sample(s, k, k) for s in spec]) / np.sqrt(h)
    centres = RATIO * np.arange(n_ms) + RATIO // 2  # interp23tap's sample positions
    ms = 1000 + 200 * np.stack([_sample(s, centres + phase[0], centres + phase[1]) for s in spec]) / np.sqrt(h)
    pan = truth.mean(axis=0, keepdims=True)
    pan_t = Affine(PAN_PX, 0, 500000.0, 0, -PAN_PX, 4500000.0)
    ms_t = Affine(PAN_PX * RATIO, 0, 500000.0 + phase[1] * PAN_PX, 0, -PAN_PX * RATIO, 4500000.0 - phase[0] * PAN_PX)
    return truth, ArraySource(pan, transform=pan_t, crs="EPSG:32633", path="pan"), ms, ms_t


def _fuse(pan, ms, ms_t, tile=512):
    fuser = ClassicalFuser("exp", get_sensor("none", nbands=3), RATIO)
    return fuse_sources(pan, ArraySource(ms, transform=ms_t, crs="EPSG:32633", path="ms"), fuser, tile=tile)


@pytest.mark.parametrize("phase", [(-0.5, -0.5), (0.3, -0.45), (1.5, 1.5)])
def test_shifted_grid_fuses_like_the_aligned_one(phase):
    truth, pan, ms, ms_t = _product(phase)
    grid = PairGrid.from_infos(pan.info, ArraySource(ms, transform=ms_t, crs="EPSG:32633").info)
    assert grid.phase == (pytest.approx(phase[0] - round(phase[0])), pytest.approx(phase[1] - round(phase[1])))
    inner = (slice(None), slice(16, -16), slice(16, -16))  # away from the scene border (mirrored there)
    fused = _fuse(pan, ms, ms_t)
    _, _, ms0, ms0_t = _product((0.0, 0.0))
    aligned = _fuse(pan, ms0, ms0_t)
    err, err0 = np.abs(fused - truth)[inner].max(), np.abs(aligned - truth)[inner].max()
    assert err < 2 * err0 + 1e-6  # as close to the truth as the aligned product's
    assert np.abs(fused - aligned)[inner].max() < 2 * err0 + 1e-6
    # the same MS read as if it shared the PAN corners is visibly worse
    whole = Affine(PAN_PX * RATIO, 0, 500000.0 + round(phase[1]) * PAN_PX, 0, -PAN_PX * RATIO,
                   4500000.0 - round(phase[0]) * PAN_PX)
    ignored = _fuse(pan, ms, whole)
    assert np.abs(ignored - truth)[inner].max() > 20 * err


@pytest.mark.parametrize("method", ["exp", "mtf-glp-hpm", "gsa"])
def test_tiled_equals_whole_on_a_shifted_grid(method):
    _, pan, ms, ms_t = _product((0.3, -0.45), n_ms=20, seed=1)
    src = ArraySource(ms, transform=ms_t, crs="EPSG:32633", path="ms")
    whole = fuse_sources(pan, src, ClassicalFuser(method, get_sensor("none", nbands=3), RATIO), tile=512)
    tiled = fuse_sources(pan, src, ClassicalFuser(method, get_sensor("none", nbands=3), RATIO), tile=16)
    np.testing.assert_allclose(tiled, whole, atol=1e-8 * np.abs(whole).max())


@pytest.mark.parametrize("subtile", [None, 16])
def test_network_tiled_equals_whole_on_a_shifted_grid(subtile):
    torch.manual_seed(0)
    _, pan, ms, ms_t = _product((-0.5, 0.25), n_ms=20, seed=2)
    src = ArraySource(ms, transform=ms_t, crs="EPSG:32633", path="ms")
    model = create("dicnn", bands=3)
    whole = fuse_sources(pan, src, NetworkFuser(model, form="eager", subtile=subtile), tile=512)
    tiled = fuse_sources(pan, src, NetworkFuser(model, form="eager", subtile=subtile), tile=24)
    np.testing.assert_allclose(tiled, whole, atol=1e-4 * np.abs(whole).max())
    # the network saw the phase: its lms differs from the aligned grid's
    aligned = fuse_sources(pan, ArraySource(ms, transform=Affine(PAN_PX * RATIO, 0, 500000.0, 0, -PAN_PX * RATIO,
                                                                 4500000.0), crs="EPSG:32633"),
                           NetworkFuser(model, form="eager", subtile=subtile), tile=512)
    assert np.abs(aligned - whole).max() > 1e-3 * np.abs(whole).max()
