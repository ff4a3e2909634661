"""Registry, CLI listing, numpy/torch/batch handling, tiled estimate/apply and a real-data check."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pansharpen.classical import ClassicalMethod, fuse_classical, get_method, list_methods
from pansharpen.errors import ModelError

NAMES = [
    "exp", "bt-h", "gs", "gsa", "c-gsa", "bdsd", "bdsd-pc", "pracs", "awlp", "mtf-glp",
    "mtf-glp-hpm", "mtf-glp-hpm-h", "mtf-glp-fs", "mtf-glp-cbd", "mf", "brovey",
]  # fmt: skip  (the names of issue 6's interface)


def test_registry_lists_exactly_the_interface_names():
    assert sorted(list_methods()) == sorted(NAMES)
    for name in NAMES:
        method = get_method(name)
        assert isinstance(method, ClassicalMethod) and method.name == name
        assert method.reference and method.summary


def test_lookup_is_case_and_underscore_tolerant_and_unknown_names_fail():
    assert get_method("MTF_GLP_HPM") is get_method("mtf-glp-hpm")
    with pytest.raises(ModelError, match="unknown classical method 'ihs'.*gsa"):
        get_method("ihs")


def test_methods_command_lists_every_name(capsys):
    from pansharpen.cli import main

    assert main(["methods"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list_methods()


def test_fuse_classical_numpy_torch_and_batch(pair):
    ms, pan, _ = pair
    single = fuse_classical("gsa", ms, pan, "QB", 4)
    assert isinstance(single, np.ndarray) and single.shape == (4, 96, 96)
    as_torch = fuse_classical("gsa", torch.from_numpy(ms), torch.from_numpy(pan), "QB", 4)
    assert isinstance(as_torch, torch.Tensor) and as_torch.dtype == torch.float64
    np.testing.assert_allclose(as_torch.numpy(), single, rtol=1e-12)
    batch = fuse_classical("gsa", np.stack([ms, ms[:, ::-1].copy()]), np.stack([pan, pan[:, ::-1].copy()]), "QB", 4)
    assert batch.shape == (2, 4, 96, 96)
    np.testing.assert_allclose(batch[0], single, rtol=1e-12)  # statistics per image of the batch
    # uint16 digital numbers are accepted and give float64
    dn = fuse_classical("mtf-glp", ms.astype(np.uint16), pan.astype(np.uint16), "QB", 4)
    assert dn.dtype == np.float64


def test_halo_is_a_multiple_of_the_ratio():
    for name in NAMES:
        for ratio in (2, 4, 8):
            halo = get_method(name).halo_for(ratio)
            assert halo % ratio == 0
            if name != "brovey":  # every other method upsamples with interp23tap
                assert halo >= 11 * (ratio - 1)


@pytest.mark.parametrize("name", NAMES)
def test_tiles_with_scene_params_equal_the_whole_image(make_pair, name):
    """Item 4 of issue 6: estimate once on the scene, apply per haloed tile -> same pixels."""
    ratio, size = 4, 64
    ms, pan, _ = make_pair(bands=4, size=size, ratio=ratio, seed=11)
    method = get_method(name)
    options = {"block": 64} if name == "bdsd" else {}
    params = method.estimate(ms, pan, "QB", ratio, **options)
    whole = np.asarray(method.apply(ms, pan, params))
    np.testing.assert_allclose(whole, method(ms, pan, "QB", ratio, **options), rtol=1e-12, atol=1e-9)

    halo = method.halo_for(ratio)
    tile = 32
    H = ratio * size
    inner = range(halo, H - halo - tile + 1, tile)  # tiles whose haloed window lies inside the scene
    assert len(inner) >= 2
    for r0 in inner:
        for c0 in inner:
            wr, wc = r0 - halo, c0 - halo
            n = tile + 2 * halo
            ms_t = ms[:, wr // ratio : (wr + n) // ratio, wc // ratio : (wc + n) // ratio]
            pan_t = pan[:, wr : wr + n, wc : wc + n]
            out = np.asarray(method.apply(ms_t, pan_t, params, offset=(wr, wc)))
            np.testing.assert_allclose(
                out[:, halo : halo + tile, halo : halo + tile],
                whole[:, r0 : r0 + tile, c0 : c0 + tile],
                rtol=1e-10,
                atol=1e-8,
                err_msg=f"{name}: tile at ({r0}, {c0}) differs from the whole-image result",
            )


def _wv3_reduced_pair(size: int = 128):
    pytest.importorskip("dgsamples", reason="the dgsamples package (WorldView-3 sample product) is not installed")
    import rasterio
    from rasterio.windows import Window

    from pansharpen.io.samples import sample_product
    from pansharpen.protocol.mtf import mtf_filter
    from pansharpen.protocol.resize import imresize
    from pansharpen.protocol.wald import decimate

    pan_path, ms_path = sample_product("WV3")
    r0 = c0 = (835 - size) // 2  # the centre of the Longmont chip (urban and vegetation)
    with rasterio.open(ms_path) as src:
        gt = src.read(window=Window(c0, r0, size, size)).astype(np.float64)
    with rasterio.open(pan_path) as src:
        pan = src.read(1, window=Window(4 * c0, 4 * r0, 4 * size, 4 * size)).astype(np.float64)[None]
    ms_lr = np.asarray(decimate(mtf_filter(gt, _sensor(), 4), 4))
    pan_lr = np.asarray(imresize(pan, 0.25))
    return gt, ms_lr, pan_lr


def _sensor():
    from pansharpen.protocol import get_sensor

    return get_sensor("WV3")


def _ergas(gt, fused, ratio=4):
    mse = ((gt - fused) ** 2).reshape(gt.shape[0], -1).mean(axis=1)
    mu = gt.reshape(gt.shape[0], -1).mean(axis=1)
    return 100 / ratio * np.sqrt(np.mean(mse / mu**2))


@pytest.mark.parametrize("name", ["gsa", "bdsd-pc", "mtf-glp-hpm", "mtf-glp-fs", "awlp"])
def test_real_wv3_reduced_resolution_beats_exp(name):
    from pansharpen.metrics.reduced import q2n

    gt, ms_lr, pan_lr = _wv3_reduced_pair()
    exp = np.asarray(fuse_classical("exp", ms_lr, pan_lr, "WV3", 4))
    fused = np.asarray(fuse_classical(name, ms_lr, pan_lr, "WV3", 4))
    q_exp, q_fus = float(np.ravel(q2n(gt, exp))[0]), float(np.ravel(q2n(gt, fused))[0])
    assert q_fus > q_exp + 0.02, (name, q_fus, q_exp)
    assert _ergas(gt, fused) < 0.9 * _ergas(gt, exp)


def test_methods_that_do_not_read_the_scene_have_the_same_params_on_any_scene(make_pair):
    """``reads_scene=False`` lets fuse_scene estimate on a one-pixel pair instead of reading the PAN
    (fusion.scene._one_pixel_scene): the params of such a method must not depend on the data."""
    from pansharpen.fusion.scene import _one_pixel_scene

    quiet = [name for name in list_methods() if not get_method(name).reads_scene]
    assert {"exp", "mf", "mtf-glp-hpm"} <= set(quiet)
    ms_a, pan_a, _ = make_pair(bands=4, size=16, seed=1)
    ms_b, pan_b, _ = make_pair(bands=4, size=24, seed=2)
    one_ms, one_pan = _one_pixel_scene((np.array([310.0, 290.0, 305.0, 300.0]), 400.0), 4)
    for name in quiet:
        method = get_method(name)
        got = [method.estimate(ms, pan, "QB", 4) for ms, pan in ((ms_a, pan_a), (ms_b, pan_b), (one_ms, one_pan))]
        for params in got[1:]:
            assert params.keys() == got[0].keys(), name
            for key in params:
                assert np.array_equal(np.asarray(params[key], dtype=object), np.asarray(got[0][key], dtype=object)), (name, key)
