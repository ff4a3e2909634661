"""Full-resolution adaptation: patches, held-out scoring, the keep-the-better rule, bad input, interruption."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pansharpen import models
from pansharpen.cli import main
from pansharpen.errors import ModelError, OutputExistsError, ShapeError
from pansharpen.models import read_card
from pansharpen.training import adapt_full
from pansharpen.training.adapt_full import (
    ProductWindows,
    adapt_and_fuse,
    adapt_full_resolution,
    is_improvement,
    select_windows,
    weights_path_for,
)

from .tiny_model import register_tiny

TINY = register_tiny("tiny-adapt-full-test")
FAST = dict(model=TINY, sensor="none", patch=16, patches=6, batch_size=2, eval_size=16, eval_windows=1)


def _smooth(rng, shape, scale):
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(rng.normal(size=shape), scale)


def _write(root, ms, pan, nodata=None, ratio=4, dtype="uint16"):
    import rasterio
    from rasterio.transform import from_origin

    paths = {}
    for name, arr, px in (("pan", pan[None], 1.0), ("ms", ms, float(ratio))):
        paths[name] = root / f"{name}.tif"
        with rasterio.open(paths[name], "w", driver="GTiff", width=arr.shape[2], height=arr.shape[1],
                           count=arr.shape[0], dtype=dtype, crs="EPSG:32613", nodata=nodata,
                           transform=from_origin(500000, 4400000, px, px)) as ds:
            ds.write((np.round(arr) if np.dtype(dtype).kind in "ui" else arr).astype(dtype))
    return paths["pan"], paths["ms"]


def _product(size=64, seed=0):
    rng = np.random.default_rng(seed)
    pan = np.clip(600 + 3000 * _smooth(rng, (4 * size, 4 * size), 3), 1, 2047)
    ms = np.stack([pan.reshape(size, 4, size, 4).mean(axis=(1, 3)) * g for g in (0.6, 0.8, 1.0, 0.9)])
    return np.clip(ms + 20 * rng.normal(size=ms.shape), 1, 2047), pan


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    ms, pan = _product()
    return _write(tmp_path_factory.mktemp("fr"), ms, pan)


def test_adapt_writes_weights_and_a_card(scene, tmp_path, one_thread):
    pan, ms = scene
    out = tmp_path / "a.safetensors"
    res = adapt_full_resolution(pan, ms, out, iterations=3, **FAST)
    assert out.exists() and res.iterations == 3 and res.kept in ("adapted", "start")
    card = read_card(out)
    rec = card.training
    assert rec["product"]["ms"] == "ms.tif" and rec["iterations"] == 3 and rec["kept"] == res.kept
    assert set(rec["indices_before"]) == set(adapt_full.INDEX_NAMES) == set(rec["indices_after"])
    from pansharpen.training.full_resolution import QNR_WEIGHT, SCALE_WEIGHT, SPATIAL_WEIGHT

    assert rec["loss"]["target"] == "ms"
    assert (rec["loss"]["spatial_weight"], rec["loss"]["qnr_weight"], rec["loss"]["scale_weight"]) == (
        SPATIAL_WEIGHT, QNR_WEIGHT, SCALE_WEIGHT)
    assert ("scale" in rec["final_loss"]) == bool(SCALE_WEIGHT) and ("qnr" in rec["final_loss"]) == bool(QNR_WEIGHT)
    # the held-out strip is the bottom of the product and no training patch reaches it
    top, bottom = rec["held_out"]["rows"]
    assert bottom == 64 and top == 64 - 16
    assert all(0 < v <= 1 for v in (res.before["HQNR"], res.after["HQNR"]))
    with pytest.raises(OutputExistsError):
        adapt_full_resolution(pan, ms, out, iterations=1, **FAST)


def test_training_patches_stay_above_the_held_out_strip(scene):
    product = ProductWindows(*scene)
    origins = select_windows(product, (0, 48), 16, 20)
    assert origins and all(r + 16 <= 48 for r, _ in origins)
    assert len(set(origins)) == len(origins)


def test_salient_windows_come_first(tmp_path):
    ms, pan = _product()
    pan[:128, :] = 1000.0  # top half of the PAN flat: no texture
    product = ProductWindows(*_write(tmp_path, ms, pan))
    origins = select_windows(product, (0, 64), 16, 4, salient_fraction=1.0)
    assert all(r >= 32 for r, _ in origins)  # all four from the textured bottom half


def test_patches_avoid_nodata_areas(tmp_path, one_thread):
    ms, pan = _product()
    ms[:, :, :40] = 0  # the left 40 MS columns are nodata (value 0 declared)
    pan[:, :160] = 0
    pan_p, ms_p = _write(tmp_path, ms, pan, nodata=0)
    product = ProductWindows(pan_p, ms_p)
    origins = select_windows(product, (0, 64), 16, 50)
    assert origins and all(c >= 40 for _, c in origins)
    res = adapt_full_resolution(pan_p, ms_p, tmp_path / "w.safetensors", iterations=1, **FAST)
    assert all(c >= 40 for _, c in res.record["held_out"]["windows"])


def test_all_nodata_and_too_small_products_are_refused(tmp_path):
    ms, pan = _product()
    pan_p, ms_p = _write(tmp_path, np.zeros_like(ms), np.zeros_like(pan), nodata=0)
    with pytest.raises(ShapeError, match="nodata"):
        adapt_full_resolution(pan_p, ms_p, tmp_path / "w.safetensors", iterations=1, **FAST)
    small = tmp_path / "small"
    small.mkdir()
    ms, pan = _product(size=24)
    pan_p, ms_p = _write(small, ms, pan)
    with pytest.raises(ShapeError, match="cannot hold one"):
        adapt_full_resolution(pan_p, ms_p, small / "w.safetensors", iterations=1, **FAST)
    assert not (small / "w.safetensors").exists()


def test_band_count_mismatch_is_refused(scene, tmp_path):
    eight = models.create(TINY, bands=8)
    models.save(eight, tmp_path / "eight.safetensors")
    with pytest.raises(ModelError, match="fuses 8 bands but the MS has 4"):
        adapt_full_resolution(*scene, tmp_path / "w.safetensors", weights=tmp_path / "eight.safetensors",
                              iterations=1, **{k: v for k, v in FAST.items() if k != "model"})


def test_network_ratio_must_match_the_product(tmp_path):
    ms, pan = _product()
    pan_p, ms_p = _write(tmp_path, ms, pan[:128, :128], ratio=2)  # a ratio-2 product
    with pytest.raises(ModelError, match="ratio 4 but the product's PAN/MS ratio is 2"):
        adapt_full_resolution(pan_p, ms_p, tmp_path / "w.safetensors", iterations=1, **FAST)


def test_interrupted_adaptation_publishes_nothing_and_rerun_works(scene, tmp_path, one_thread):
    out = tmp_path / "w.safetensors"

    def stop(row):
        if row["iteration"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        adapt_full_resolution(*scene, out, iterations=5, callback=stop, **FAST)
    assert list(tmp_path.iterdir()) == []  # no output, no partial file
    res = adapt_full_resolution(*scene, out, iterations=2, **FAST)
    assert out.exists() and res.iterations == 2


def test_keep_the_better_rule():
    base = {"HQNR": 0.90, "D_rho": 0.50, "R-Q2n": 0.95, "R-ERGAS": 2.0}
    assert is_improvement(base, {**base, "HQNR": 0.91})
    assert is_improvement(base, {**base, "HQNR": 0.91, "D_rho": 0.40, "R-Q2n": 0.96, "R-ERGAS": 1.9})  # better on all
    assert is_improvement(base, {**base, "HQNR": 0.91, "D_rho": 0.5009, "R-Q2n": 0.9491, "R-ERGAS": 2.019})  # slacks
    assert not is_improvement(base, dict(base))  # no gain
    assert not is_improvement(base, {**base, "HQNR": 0.9005, "D_rho": 0.30})  # HQNR gain below MIN_GAIN
    assert not is_improvement(base, {**base, "HQNR": 0.95, "D_rho": 0.52})  # HQNR bought with less detail
    assert not is_improvement(base, {**base, "HQNR": 0.95, "R-Q2n": 0.94})  # ... or with spectral consistency
    assert not is_improvement(base, {**base, "HQNR": 0.95, "R-ERGAS": 2.05})


def test_start_weights_are_written_when_adapting_does_not_help(scene, tmp_path, monkeypatch, one_thread):
    real = adapt_full.score
    calls = []

    def worse_after(model, *args, **kw):
        row = real(model, *args, **kw)
        calls.append(row)
        if len(calls) == 2:  # the adapted weights: make them lose
            row = {**row, "HQNR": calls[0]["HQNR"] - 0.1, "S-Q2n": calls[0]["S-Q2n"] - 0.1}
        return row

    monkeypatch.setattr(adapt_full, "score", worse_after)
    torch.manual_seed(0)
    start = models.create(TINY, bands=4)
    models.save(start, tmp_path / "start.safetensors")
    out = tmp_path / "w.safetensors"
    res = adapt_full_resolution(*scene, out, weights=tmp_path / "start.safetensors", iterations=3, lr=1e-2,
                                **{k: v for k, v in FAST.items() if k != "model"})
    assert res.kept == "start" and read_card(out).training["kept"] == "start"
    got = models.load(out).state_dict()
    for k, v in start.state_dict().items():
        assert torch.equal(got[k], v)


def test_weights_path_for():
    assert weights_path_for("/x/fused.tif").name == "fused.weights.safetensors"


@pytest.mark.slow
def test_cli_adapt_and_fuse_adapt(scene, tmp_path, capsys, one_thread):
    pan, ms = scene
    out = tmp_path / "w.safetensors"
    code = main(["adapt", str(pan), str(ms), str(out), "--model", TINY, "--iterations", "2", "--sensor", "none",
                 "--patch", "16", "--patches", "4", "--eval-size", "16", "--batch-size", "2"])
    text = capsys.readouterr().out
    assert code == 0 and out.exists() and "HQNR" in text and "wrote" in text
    assert main(["adapt", str(pan), str(ms), str(out), "--model", TINY, "--iterations", "1"]) == 2  # exists
    assert "exists" in capsys.readouterr().err
    # band-count mismatch: one line, exit 2
    eight = models.create(TINY, bands=8)
    models.save(eight, tmp_path / "eight.safetensors")
    assert main(["adapt", str(pan), str(ms), str(tmp_path / "x.safetensors"), "--weights",
                 str(tmp_path / "eight.safetensors"), "--iterations", "1", "--sensor", "none"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "8 bands" in err and not (tmp_path / "x.safetensors").exists()


@pytest.mark.slow
def test_adapt_and_fuse_keeps_weights_beside_the_output(scene, tmp_path, monkeypatch, one_thread):
    pan, ms = scene
    real = adapt_full.adapt_full_resolution

    def quick(*args, **kw):  # the command's minutes budget, shortened for the test
        kw.update(minutes=None, iterations=2, **{k: v for k, v in FAST.items() if k not in ("sensor", "model")})
        return real(*args, **kw)

    monkeypatch.setattr(adapt_full, "adapt_full_resolution", quick)
    out = tmp_path / "fused.tif"
    path, res = adapt_and_fuse(pan, ms, out, 0.1, model=TINY, sensor="none")
    assert path == out and out.exists() and weights_path_for(out).exists()
    assert read_card(weights_path_for(out)).training["iterations"] == 2


@pytest.mark.slow
def test_cli_fuse_adapt(scene, tmp_path, monkeypatch, capsys, one_thread):
    pan, ms = scene
    real = adapt_full.adapt_full_resolution

    def quick(*args, **kw):
        kw.update(minutes=None, iterations=1, **{k: v for k, v in FAST.items() if k not in ("sensor", "model")})
        return real(*args, **kw)

    monkeypatch.setattr(adapt_full, "adapt_full_resolution", quick)
    out = tmp_path / "fused.tif"
    code = main(["fuse", str(pan), str(ms), str(out), "--model", TINY, "--adapt", "1", "--sensor", "none", "-q"])
    text = capsys.readouterr().out
    assert code == 0 and out.exists() and weights_path_for(out).exists() and "HQNR" in text
    assert main(["fuse", str(pan), str(ms), str(tmp_path / "x.tif"), "--method", "gsa", "--adapt", "1"]) == 2
    assert "--adapt" in capsys.readouterr().err
    assert main(["fuse", str(pan), str(ms), str(tmp_path / "y.tif"), "--adapt", "1", "--consistent"]) == 2
    assert "--consistent" in capsys.readouterr().err
    assert not (tmp_path / "x.tif").exists() and not (tmp_path / "y.tif").exists()


def test_a_fresh_detail_net_takes_the_sensor_of_the_command_line(scene, tmp_path, capsys, one_thread):
    """--mtf-ms/--mtf-pan/--bits reach the sensor policy, and a fresh detail-net is built with those MS gains."""
    pan, ms = scene
    out = tmp_path / "d.safetensors"
    code = main(["adapt", str(pan), str(ms), str(out), "--model", "detail-net", "--iterations", "1",
                 "--mtf-ms", "0.31,0.27,0.25,0.2", "--mtf-pan", "0.15", "--bits", "11", "--patch", "16",
                 "--patches", "4", "--eval-size", "16", "--batch-size", "2", "--threads", "1"])
    assert code == 0, capsys.readouterr().err
    card = read_card(out)
    assert card.arch == "detail-net" and card.options["mtf_gains"] == [0.31, 0.27, 0.25, 0.2] and card.options["ratio"] == 4
    assert card.training["start"] == "fresh detail-net"
    net = models.load(out)
    assert net.mtf_gains == (0.31, 0.27, 0.25, 0.2)
    assert main(["adapt", str(pan), str(ms), str(tmp_path / "x.safetensors"), "--model", "detail-net",
                 "--mtf-ms", "0.3,2", "--iterations", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--mtf-ms" in err and not (tmp_path / "x.safetensors").exists()


def test_the_qnr_term_trains_and_is_recorded(scene, tmp_path, one_thread):
    pan, ms = scene
    res = adapt_full_resolution(pan, ms, tmp_path / "q.safetensors", iterations=2, qnr_weight=1.0, **FAST)
    assert "qnr" in res.history[-1] and res.record["loss"]["qnr_weight"] == 1.0
    with pytest.raises(ShapeError, match="whole 32-pixel PAN blocks"):
        adapt_full_resolution(pan, ms, tmp_path / "r.safetensors", iterations=1, qnr_weight=1.0,
                              **{**FAST, "patch": 20})
    assert not (tmp_path / "r.safetensors").exists()


@pytest.mark.parametrize("bands, sensor, ratio", [(4, "GE1", 4), (8, "WV3", 4), (3, None, 2)])
def test_the_default_start_is_a_fresh_detail_net_with_the_products_sensor(bands, sensor, ratio):
    """No bundled network is fuse's default for these products (classical defaults): a fresh
    detail-net, built with the sensor's MS MTF gains and the product's ratio, starts the adaptation."""
    from pansharpen.protocol.sensors import generic_sensor, get_sensor

    sens = get_sensor(sensor) if sensor else generic_sensor((0.3,) * bands, 0.15, 11)
    net, origin = adapt_full.starting_model(None, None, bands, sens, ratio)
    assert origin == "fresh detail-net" and net.card.arch == "detail-net"
    assert net.mtf_gains == tuple(sens.ms_gnyq) and net.ratio == ratio and net.bands == bands


def test_coarse_patches_are_the_wald_degraded_product_under_each_patch(tmp_path):
    """Each cross-scale patch, degraded from its own window (with context), equals the whole product
    degraded once (the plain computation) under that window; its ground truth is the product's MS."""
    import rasterio

    from pansharpen.protocol.interp import interp23tap
    from pansharpen.protocol.sensors import generic_sensor
    from pansharpen.protocol.wald import wald_degrade

    pan_p, ms_p = _write(tmp_path, *_product(size=96))
    product = ProductWindows(pan_p, ms_p)
    sensor = generic_sensor((0.3,) * 4, 0.15, 11)
    with rasterio.open(ms_p) as ds:
        ms = ds.read().astype(np.float64)
    with rasterio.open(pan_p) as ds:
        pan = ds.read().astype(np.float64)
    ms_lr, pan_lr = wald_degrade(ms, pan, sensor, 4)
    lms = interp23tap(np.asarray(ms_lr)[None], 4)[0]
    # the window, its margin (16) and the MTF kernel's reach (20) lie inside the 96-pixel product
    r0, c0, size = 40, 36, 8
    cp = adapt_full.cut_coarse_patches(product, [(r0, c0)], size, 1.0, sensor)
    m = cp.margin
    assert m == adapt_full.scale_margin(4, size) == 16
    rows, cols = slice(r0 - m, r0 + size + m), slice(c0 - m, c0 + size + m)
    np.testing.assert_allclose(cp.pan[0].numpy(), pan_lr[:, rows, cols], rtol=2e-7, atol=1e-3)
    np.testing.assert_allclose(cp.ms[0].numpy(), ms_lr[:, (r0 - m) // 4: (r0 + size + m) // 4,
                                                        (c0 - m) // 4: (c0 + size + m) // 4], rtol=2e-7, atol=1e-3)
    # the interpolation saw only a margin of the degraded MS: equal away from its border
    np.testing.assert_allclose(cp.lms[0, :, 8:-8, 8:-8].numpy(), lms[:, r0 - m + 8: r0 + size + m - 8,
                                                                      c0 - m + 8: c0 + size + m - 8], rtol=2e-7, atol=1e-3)
    np.testing.assert_array_equal(cp.gt[0].numpy(), ms[:, r0: r0 + size, c0: c0 + size].astype(np.float32))


def test_the_cross_scale_term_trains_and_is_recorded(scene, tmp_path, one_thread):
    pan, ms = scene
    res = adapt_full_resolution(pan, ms, tmp_path / "s.safetensors", iterations=2, scale_weight=1.0, **FAST)
    assert res.history[-1]["scale"] > 0 and res.record["loss"]["scale_weight"] == 1.0
    assert res.trained_state is not None
    assert adapt_full.scale_margin(3, 32) == 17 and adapt_full.scale_margin(4, 18) == 17
    with pytest.raises(ShapeError, match="use an even --patch"):
        adapt_full_resolution(pan, ms, tmp_path / "r.safetensors", iterations=1, scale_weight=1.0,
                              **{**FAST, "patch": 17})
    with pytest.raises(ShapeError, match="use an even --eval-size"):  # the held-out S-Q2n needs it, whatever the loss
        adapt_full_resolution(pan, ms, tmp_path / "r.safetensors", iterations=1, **{**FAST, "eval_size": 17})
    assert not (tmp_path / "r.safetensors").exists()


def _anticorrelated_product(size=64, seed=4):
    """Like :func:`_product`, but the last band falls where the PAN rises (red under vegetation
    with a NIR-heavy PAN): MTF-GLP-HPM injects the PAN's detail with the wrong sign there."""
    ms, pan = _product(size, seed)
    low = pan.reshape(size, 4, size, 4).mean(axis=(1, 3))
    ms[3] = np.clip(2400 - 0.8 * low, 1, 2047)
    return ms, pan


@pytest.mark.parametrize("injection", ["auto", "fs", "hpm", "hpm-h"])
def test_a_fresh_detail_net_starts_at_the_injection_asked_for(tmp_path, one_thread, injection):
    pan, ms = _write(tmp_path, *_anticorrelated_product())
    opts = {**FAST, "model": "detail-net", "eval_size": 16, "patch": 16}
    res = adapt_full_resolution(pan, ms, tmp_path / "i.safetensors", iterations=1, injection=injection, **opts)
    rec = res.record["start_injection"]
    alpha, beta = res.start_state["alpha"], res.start_state["beta"]
    haze = res.start_state["haze"]
    if rec["injection"] == "fs":
        assert torch.equal(alpha, torch.zeros(4)) and np.allclose(beta.numpy(), rec["gains"], atol=1e-6)
        assert rec["gains"][3] < 0 < min(rec["gains"][:3])  # the regression sees the sign of each band
        assert torch.equal(haze, torch.zeros(4))
    else:
        assert torch.equal(alpha, torch.ones(4)) and torch.equal(beta, torch.zeros(4))
        if rec["injection"] == "hpm-h":  # the dark objects of the training patches, on the network scale
            assert np.allclose(haze.numpy(), rec["haze"], atol=1e-6) and float(haze.min()) > 0
            assert float(res.start_state["pan_haze"]) == pytest.approx(rec["pan_haze"], abs=1e-6)
        else:
            assert torch.equal(haze, torch.zeros(4))
    if injection == "auto":  # scored on training windows, the best HQNR wins: here MTF-GLP-FS
        scores = rec["HQNR_training_windows"]
        assert set(scores) == set(adapt_full.AUTO_CHOICES) and rec["injection"] == max(scores, key=scores.get) == "fs"
        assert all(r + rec["size"] <= res.record["held_out"]["rows"][0] for r, _ in rec["windows"])
    else:
        assert rec["injection"] == injection
    assert read_card(tmp_path / "i.safetensors").training["start_injection"]["injection"] == rec["injection"]


def test_injection_is_checked_first_and_other_starts_ignore_it(scene, tmp_path, one_thread):
    pan, ms = scene
    with pytest.raises(adapt_full.ValueRangeError, match="injection"):
        adapt_full_resolution(pan, ms, tmp_path / "x.safetensors", iterations=1, injection="gs", **FAST)
    assert not (tmp_path / "x.safetensors").exists()
    res = adapt_full_resolution(pan, ms, tmp_path / "t.safetensors", iterations=1, injection="fs", **FAST)
    assert "start_injection" not in res.record  # the tiny test network is not a detail-net


@pytest.mark.parametrize("seed", [3, 5])
def test_the_hpm_h_start_is_the_classical_mtf_glp_hpm_h_method(seed):
    """With its haze estimated on the whole image, the network's start is ``pansharpen`` MTF-GLP-HPM-H
    (the same dark objects, intensity regression, cap and low-pass as the classical method)."""
    from pansharpen.classical.registry import fuse_classical
    from pansharpen.protocol.interp import interp23tap
    from pansharpen.protocol.sensors import generic_sensor

    GAINS = (0.34, 0.32, 0.30, 0.22)
    sensor = generic_sensor(GAINS, 0.15, 11, name="test")
    rng = np.random.default_rng(seed)
    pan = 300 + 800 * rng.random((1, 128, 128))
    low = pan[0].reshape(32, 4, 32, 4).mean(axis=(1, 3))
    ms = np.stack([0.5 * low + 100 + 50 * rng.random((32, 32)) for _ in range(3)] + [900 - 0.4 * low])
    classical = np.asarray(fuse_classical("mtf-glp-hpm-h", ms, pan, sensor, 4))
    net = models.create("detail-net", bands=4, mtf_gains=list(GAINS)).double()
    t = lambda a: torch.from_numpy(a[None] / 2047.0)  # noqa: E731
    lms = interp23tap(t(ms), 4)
    haze, pan_haze = adapt_full.haze_estimate(net, t(ms), t(pan))
    np.testing.assert_allclose(haze.numpy() * 2047.0, ms.reshape(4, -1).min(axis=1), rtol=1e-12)
    net.start_haze(haze, pan_haze)
    with torch.no_grad():
        out = net(t(ms), t(pan), lms).numpy()[0] * 2047.0
    hpm = np.asarray(fuse_classical("mtf-glp-hpm", ms, pan, sensor, 4))
    assert np.abs(classical - hpm).max() > 1.0  # the haze matters on this image
    np.testing.assert_allclose(out, classical, rtol=0, atol=1e-7)


def test_auto_injection_scores_training_windows_of_any_size(scene, tmp_path, one_thread):
    """A training area of odd height (31 MS rows here, below --eval-size) gives odd scoring windows at
    ratio 4: the start choice needs HQNR only, not the Wald-degraded S-indices (a PAirMax product hit this)."""
    pan, ms = scene
    opts = {**FAST, "model": "detail-net", "eval_size": 32, "patch": 16, "held_out": 0.515}
    res = adapt_full_resolution(pan, ms, tmp_path / "o.safetensors", iterations=1, injection="auto", **opts)
    rec = res.record["start_injection"]
    assert rec["size"] == 31 and res.record["held_out"]["rows"][0] == 31
    assert set(rec["HQNR_training_windows"]) == set(adapt_full.AUTO_CHOICES)


def test_a_product_beyond_the_sensors_bits_is_refused_as_fuse_refuses_it(tmp_path):
    """16-bit-like DN under the toolbox defaults (11 bits): every fused value would be clipped to 2047
    (the adaptation once scored HQNR 0 and wrote its weights, exit 0)."""
    ms, pan = _product()
    pan_p, ms_p = _write(tmp_path, 20 * ms, 20 * pan)
    with pytest.raises(adapt_full.ValueRangeError, match=r"\[0, 2047\].*--bits 15"):
        adapt_full_resolution(pan_p, ms_p, tmp_path / "w.safetensors", iterations=1, **FAST)
    assert not (tmp_path / "w.safetensors").exists()
    res = adapt_full_resolution(pan_p, ms_p, tmp_path / "w.safetensors", iterations=1, bits=16, **FAST)
    assert res.before["HQNR"] > 0.2  # clipped to 2047 it was 0 (D_lambda_K 1)


def test_reflectance_is_refused_without_a_way_past(tmp_path, capsys, one_thread):
    """[0, 1] values are refused as `fuse` refuses them, but the message names no override: the
    networks normalise by the sensor's maximum (a fresh tiny network's start scored HQNR 6e-17 on
    such a product with the check off). `fuse --adapt --no-range-check` once reached this check and
    was told to pass the flag it had passed; it is refused up front now. One line, exit 2, nothing
    written."""
    ms, pan = _product()
    pan_p, ms_p = _write(tmp_path, ms / 2047, pan / 2047, dtype="float32")
    out = tmp_path / "w.safetensors"
    with pytest.raises(adapt_full.ValueRangeError, match="reflectance") as err:
        adapt_full_resolution(pan_p, ms_p, out, iterations=1, **FAST)
    assert "--no-range-check" not in str(err.value) and not out.exists()
    fused = tmp_path / "fused.tif"
    for extra in ([], ["--no-range-check"]):
        assert main(["fuse", str(pan_p), str(ms_p), str(fused), "--adapt", "0.1", "--model", TINY, "--sensor", "none",
                     "-q", *extra]) == 2
        err_text = capsys.readouterr().err
        assert err_text.count("\n") == 1 and "digital numbers" in err_text
        assert "pass --no-range-check" not in err_text
        assert not fused.exists() and not weights_path_for(fused).exists()


def test_the_cs_regression_recovers_the_coefficients_that_made_the_detail():
    """gt = lms + c . [P, lms] + b exactly on the inner pixels: least squares returns c and b."""
    g = torch.Generator().manual_seed(2)
    n, c, s, m = 3, 4, 24, 4
    lms = 0.2 + 0.5 * torch.rand(n, c, s, s, generator=g)
    pan = 0.2 + 0.5 * torch.rand(n, 1, s, s, generator=g)
    coefficients = 0.4 * torch.randn(c, c + 1, generator=g)
    bias = 0.02 * torch.randn(c, generator=g)
    full = lms + torch.einsum("kj,njhw->nkhw", coefficients, torch.cat([pan, lms], dim=1)) + bias.view(1, c, 1, 1)
    coarse = adapt_full.CoarsePatches(ms=torch.zeros(n, c, s // 4, s // 4), pan=pan, lms=lms,
                                      gt=full[..., m:-m, m:-m].contiguous(), margin=m)
    got_c, got_b = adapt_full.cs_regression(coarse)
    torch.testing.assert_close(got_c, coefficients, rtol=0, atol=2e-5)
    torch.testing.assert_close(got_b, bias, rtol=0, atol=2e-5)


def test_a_blend_start_mixes_the_chosen_mra_start_with_the_cs_regression(tmp_path, one_thread):
    pan, ms = _write(tmp_path, *_anticorrelated_product())
    opts = {**FAST, "model": "detail-net", "eval_size": 16, "patch": 16}
    res = adapt_full_resolution(pan, ms, tmp_path / "b.safetensors", iterations=1, injection="blend", **opts)
    rec = res.record["start_injection"]
    assert rec["asked"] == "blend" and rec["injection"] == "blend-fs"  # the MRA part as "auto" chooses it here
    w = rec["blend_weight"]
    assert 0 < w < 1
    np.testing.assert_allclose(res.start_state["beta"].numpy(), (1 - w) * np.asarray(rec["gains"]), atol=1e-6)
    from pansharpen.models.detailnet import CS_SCALE

    cs = res.start_state["cs.weight"].numpy()[:, :, 0, 0] * CS_SCALE
    np.testing.assert_allclose(cs, w * np.asarray(rec["cs_coefficients"]), atol=1e-6)
    assert np.abs(cs).max() > 1e-3  # the regression found a detail to inject


def test_a_consistent_fresh_detail_net_is_recorded_and_rebuilt(tmp_path, one_thread):
    pan, ms = _write(tmp_path, *_anticorrelated_product())
    opts = {**FAST, "model": "detail-net", "eval_size": 16, "patch": 16}
    res = adapt_full_resolution(pan, ms, tmp_path / "c.safetensors", iterations=1, consistent="on", **opts)
    assert res.model.consistent and read_card(tmp_path / "c.safetensors").options["consistent"] is True
    assert models.load(tmp_path / "c.safetensors").consistent
    plain = adapt_full_resolution(pan, ms, tmp_path / "p.safetensors", iterations=1, consistent="off", **opts)
    assert not plain.model.consistent and read_card(tmp_path / "p.safetensors").options["consistent"] is False
    # the projection changes the start's held-out indices (it is applied), and the spectral consistency rises
    assert res.before["R-ERGAS"] < plain.before["R-ERGAS"]


def test_auto_consistency_keeps_the_projection_only_where_it_raises_the_starts_hqnr(tmp_path, one_thread):
    pan, ms = _write(tmp_path, *_anticorrelated_product())
    opts = {**FAST, "model": "detail-net", "eval_size": 16, "patch": 16}
    res = adapt_full_resolution(pan, ms, tmp_path / "a.safetensors", iterations=1, consistent="auto", **opts)
    rec = res.record["start_injection"]["consistency"]
    scores = rec["HQNR_training_windows"]
    assert set(scores) == {"true", "false"} and rec["consistent"] == (scores["true"] > scores["false"])
    card = read_card(tmp_path / "a.safetensors")
    assert card.options["consistent"] is rec["consistent"] is res.model.consistent
    assert models.load(tmp_path / "a.safetensors").receptive_field() == card.receptive_field
    with pytest.raises(adapt_full.ValueRangeError, match="consistent"):
        adapt_full_resolution(pan, ms, tmp_path / "x.safetensors", iterations=1, consistent="maybe", **opts)


def test_an_ms_grid_off_the_pan_corners_gets_no_projection(tmp_path, one_thread):
    """The projection decimates at the toolbox's phase: off for such a grid under auto, refused when asked
    for, and a consistent network is refused by `fuse` on such a grid (one line, exit 2, no output)."""
    import rasterio
    from rasterio.transform import from_origin

    pan, ms = _write(tmp_path, *_anticorrelated_product())
    with rasterio.open(ms, "r+") as ds:  # half a PAN pixel east and south
        ds.transform = from_origin(500000.5, 4399999.5, 4.0, 4.0)
    opts = {**FAST, "model": "detail-net", "eval_size": 16, "patch": 16}
    res = adapt_full_resolution(pan, ms, tmp_path / "a.safetensors", iterations=1, consistent="auto", **opts)
    rec = res.record["start_injection"]["consistency"]
    assert rec["consistent"] is False and "phase" in rec["why"] and not res.model.consistent
    with pytest.raises(adapt_full.ValueRangeError, match="pixel corners"):
        adapt_full_resolution(pan, ms, tmp_path / "b.safetensors", iterations=1, consistent="on", **opts)
    assert not (tmp_path / "b.safetensors").exists()
    net = models.create("detail-net", bands=4, consistent=True)
    weights = models.save(net, tmp_path / "c.safetensors")
    assert main(["fuse", str(pan), str(ms), str(tmp_path / "f.tif"), "--weights", str(weights), "--sensor", "none"]) == 2
    assert not (tmp_path / "f.tif").exists()
