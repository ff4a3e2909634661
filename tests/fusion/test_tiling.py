"""Tiled fusion equals whole-image fusion for every network and every classical method.

Whole image = one tile covering the scene, through the same pipeline (the scene border is
mirrored in both); networks also match their plain forward away from the border.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pansharpen.classical.registry import get_method, list_methods
from pansharpen.models import create, list_models
from pansharpen.fusion.fusers import ClassicalFuser
from pansharpen.fusion.network_fuser import NetworkFuser
from pansharpen.fusion.scene import fuse_arrays
from pansharpen.protocol import get_sensor
from pansharpen.protocol.interp import interp23tap

RANGE = 2047.0


def _scene(bands: int, h: int, w: int, seed: int = 0):
    """A smooth-ish MS (LR) and a PAN correlated with it, in DN."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(200, 1500, (bands, h, w))
    ms = (base + np.roll(base, 1, axis=1) + np.roll(base, 1, axis=2)) / 3
    pan = interp23tap(ms, 4).mean(axis=0, keepdims=True) + rng.normal(0, 30, (1, 4 * h, 4 * w))
    return ms, np.clip(pan, 0, RANGE)


def _network_names():
    # ada3d-pan and ada3d-hisr are 1.7M/2.3M-parameter models (~1.4M MACs per pixel): their tiled
    # exactness with scene statistics is tested at model level in tests/models/test_ada3dnet.py;
    # ada3d-hs (same layers, global pooling) goes through the pipeline here.
    return [n for n in list_models() if n not in ("ada3d-pan", "ada3d-hisr")]


@pytest.mark.parametrize("name", _network_names())
def test_network_tiled_equals_whole(name):
    torch.manual_seed(0)
    model = create(name, bands=4)
    fuser = NetworkFuser(model, form="eager")
    ms, pan = _scene(4, 14, 12)
    whole = fuse_arrays(pan, ms, fuser, tile=4096)
    tiled = fuse_arrays(pan, ms, fuser, tile=24)
    assert np.abs(tiled - whole).max() < 1e-4 * RANGE
    if fuser.card.global_pooling:
        return  # pooled statistics of the mirrored scene differ from the plain forward's
    # away from the scene border (halo) the pipeline equals the plain forward of the network
    with torch.no_grad():
        plain = model(torch.from_numpy(ms[None] / RANGE).float(), torch.from_numpy(pan[None] / RANGE).float())[0]
    plain = plain.double().numpy() * RANGE
    m = fuser.halo
    if 2 * m < pan.shape[1]:
        assert np.abs(whole[:, m:-m, m:-m] - plain[:, m:-m, m:-m]).max() < 1e-4 * RANGE


@pytest.mark.parametrize("name, form", [("lightnet", "fold"), ("lgpconv-net", "trace"), ("pannet", "eager")])
def test_network_sub_tiles_inside_a_block_equal_one_call(name, form):
    """Sub-tiling a block with the receptive-field margin gives the block's one-call output."""
    torch.manual_seed(1)
    model = create(name, bands=4)
    ms, pan = _scene(4, 30, 26)
    one_call = NetworkFuser(model, form=form, subtile=None)
    sub_tiled = NetworkFuser(model, form=form, subtile=16)
    assert sub_tiled.net_halo % 4 == 0 and sub_tiled.net_halo >= sub_tiled.card.receptive_field
    whole = one_call(ms, pan)
    pieces = sub_tiled(ms, pan)
    assert one_call.form == sub_tiled.form == form
    assert pieces.shape == whole.shape
    assert np.abs(pieces - whole).max() < 1e-4 * RANGE
    centre = sub_tiled(ms, pan, margin=12)  # only the centre is computed, and it is the same
    assert np.abs(centre[:, 12:-12, 12:-12] - whole[:, 12:-12, 12:-12]).max() < 1e-4 * RANGE


@pytest.mark.slow
def test_scene_statistics_by_tiles_equal_whole_scene_statistics():
    """Ada3D's image-wide pooling: bounded-memory tiled statistics give the whole-scene result."""
    torch.manual_seed(2)
    model = create("ada3d-hs", bands=4)
    tiles = []
    pooled = model.global_stats
    model.global_stats = lambda ms, pan, tile=None: tiles.append(tile) or pooled(ms, pan, tile=tile)
    ms, pan = _scene(4, 14, 12, seed=3)
    whole_stats = fuse_arrays(pan, ms, NetworkFuser(model, stats_tile=None), tile=24)
    tiled_stats = fuse_arrays(pan, ms, NetworkFuser(model, stats_tile=5), tile=24)
    small_scene = fuse_arrays(pan, ms, NetworkFuser(model, stats_tile=20), tile=24)  # one tile: whole
    assert tiles == [None, 5, None]
    assert np.abs(tiled_stats - whole_stats).max() < 1e-4 * RANGE
    assert np.abs(small_scene - whole_stats).max() < 1e-4 * RANGE


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_stats_tile_must_be_a_positive_integer(bad):
    from pansharpen.errors import ModelError

    with pytest.raises(ModelError, match="stats_tile"):
        NetworkFuser(create("ada3d-hs", bands=4), stats_tile=bad)


def test_sub_tile_must_be_a_multiple_of_the_ratio():
    from pansharpen.errors import ModelError

    with pytest.raises(ModelError, match="multiple of the ratio"):
        NetworkFuser(create("pnn", bands=4), subtile=30)


@pytest.mark.parametrize("name", list_methods())
def test_classical_tiled_equals_whole(name):
    sensor = get_sensor("QB")
    ms, pan = _scene(4, 40, 36, seed=2)
    fuser = ClassicalFuser(name, sensor)
    whole = fuse_arrays(pan, ms, fuser, tile=8192)
    tiled = fuse_arrays(pan, ms, fuser, tile=48)
    assert np.abs(tiled - whole).max() < 1e-4 * RANGE
    # and equals the method on the whole image away from the border
    direct = np.asarray(get_method(name)(ms, pan, sensor, 4))
    m = fuser.halo
    if 2 * m < pan.shape[1]:
        assert np.abs(whole[:, m:-m, m:-m] - direct[:, m:-m, m:-m]).max() < 1e-4 * RANGE


@pytest.mark.parametrize("name", ["gsa", "mtf-glp-fs", "brovey"])
def test_classical_with_the_consistency_projection_tiles_exactly(name):
    """The projection after a classical method: tiles equal one tile, and the method followed by the
    projection on the whole image away from the scene border (its reach is in the halo)."""
    from pansharpen.metrics.reprojection import reproject
    from pansharpen.protocol.consistency import consistency_reach, project_consistent

    sensor = get_sensor("QB")
    ms, pan = _scene(4, 104, 100, seed=3)
    fuser = ClassicalFuser(name, sensor, consistent=True)
    plain = ClassicalFuser(name, sensor)
    assert fuser.halo >= plain.halo + consistency_reach(sensor, 4) and fuser.halo % 4 == 0
    whole = fuse_arrays(pan, ms, fuser, tile=8192)
    tiled = fuse_arrays(pan, ms, fuser, tile=96)
    assert np.abs(tiled - whole).max() < 1e-6 * RANGE
    direct = np.asarray(project_consistent(np.asarray(get_method(name)(ms, pan, sensor, 4)), ms, sensor, 4))
    m = fuser.halo
    assert 2 * m < pan.shape[1] - 40
    assert np.abs(whole[:, m:-m, m:-m] - direct[:, m:-m, m:-m]).max() < 1e-4 * RANGE
    # and it is the consistent image: its reprojection is the MS, the method's is not
    inner = (slice(None), slice(m // 4, -m // 4), slice(m // 4, -m // 4))
    before = np.abs(np.asarray(reproject(fuse_arrays(pan, ms, plain, tile=8192), sensor, 4)) - ms)[inner].max()
    after = np.abs(np.asarray(reproject(whole, sensor, 4)) - ms)[inner].max()
    assert after < 0.75 * before  # nearer consistency (the Tikhonov floor leaves the weak frequencies)
