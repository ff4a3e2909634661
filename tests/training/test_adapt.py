"""Scene-adaptive fine-tuning: the in-memory Wald sets of a product and the keep-the-better rule."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pansharpen import models
from pansharpen.errors import ModelError, OutputExistsError, SensorError
from pansharpen.models import read_card
from pansharpen.training.adapt import adapt_to_scene, scene_sets

from .tiny_model import register_tiny

TINY = register_tiny("tiny-adapt-test")


def _smooth(rng, shape, scale):
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(rng.normal(size=shape), scale)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A georeferenced synthetic 4-band product: MS 128 x 128 (4 m), PAN 512 x 512 (1 m), uint16."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(0)
    pan = 600 + 3000 * _smooth(rng, (512, 512), 3)
    pan = np.clip(pan, 1, 2047)
    ms = np.stack([pan.reshape(128, 4, 128, 4).mean(axis=(1, 3)) * g for g in (0.6, 0.8, 1.0, 0.9)])
    ms = np.clip(ms + 20 * rng.normal(size=ms.shape), 1, 2047)
    root = tmp_path_factory.mktemp("scene")
    paths = {}
    for name, arr, px in (("pan", pan[None], 1.0), ("ms", ms, 4.0)):
        paths[name] = root / f"{name}.tif"
        with rasterio.open(paths[name], "w", driver="GTiff", width=arr.shape[2], height=arr.shape[1],
                           count=arr.shape[0], dtype="uint16", crs="EPSG:32613",
                           transform=from_origin(500000, 4400000, px, px)) as ds:
            ds.write(np.round(arr).astype(np.uint16))
    return paths["pan"], paths["ms"], np.round(ms)


def _start_weights(path, scale):
    torch.manual_seed(0)
    model = models.create(TINY, bands=4)
    with torch.no_grad():
        model.conv.weight.mul_(scale)
        model.conv.bias.zero_()
    models.save(model, path)
    return model


def test_scene_sets_split_and_values(scene):
    pan, ms, ms_dn = scene
    sets = scene_sets(pan, ms, 2047.0, sensor="none", patch=64, stride=32, held_out=0.25)
    assert sets.rows == (96, 128)  # bottom quarter held out, never in a training patch
    assert len(sets.train) == 6  # rows {0, 32} x cols {0, 32, 64} inside the 96 training rows
    assert sets.train.shapes == {"gt": (4, 64, 64), "ms": (4, 16, 16), "lms": (4, 64, 64), "pan": (1, 64, 64)}
    held = sets.held_out[0]
    assert tuple(held["gt"].shape) == (4, 32, 128) and tuple(held["pan"].shape) == (1, 32, 128)
    # gt is the product's MS itself (Wald), on the network scale
    np.testing.assert_allclose(held["gt"].numpy() * 2047, ms_dn[:, 96:128, :], rtol=1e-6)
    np.testing.assert_allclose(sets.train[0]["gt"].numpy() * 2047, ms_dn[:, :64, :64], rtol=1e-6)
    assert sets.record["patches"] == 6 and sets.record["held_out_rows"] == [96, 128]


def test_adaptation_fixes_bad_weights_and_is_kept(scene, tmp_path):
    pan, ms, _ = scene
    start = tmp_path / "start.safetensors"
    _start_weights(start, scale=3.0)  # a poor start: a strong random residual on top of lms
    out = tmp_path / "adapted.safetensors"
    res = adapt_to_scene(TINY, pan, ms, start, out, minutes=None, epochs=4, sensor="none", batch_size=2,
                         lr=0.01, quiet=True)
    assert res.kept == "adapted"
    assert res.after["Q2n"] >= res.before["Q2n"] and res.after["ERGAS"] <= res.before["ERGAS"]
    assert res.after["SAM"] <= res.before["SAM"]
    card = read_card(out)
    assert card.training["kept"] == "adapted" and card.training["scene"]["patches"] == 6
    assert card.metrics["Q2n"] == pytest.approx(res.after["Q2n"])
    assert "| start |" in res.table() and "| adapted |" in res.table()


def test_never_worse_than_the_start(scene, tmp_path):
    pan, ms, _ = scene
    start = tmp_path / "start.safetensors"
    model = _start_weights(start, scale=0.0)  # lms exactly (EXP): hard to beat in one tiny step
    out = tmp_path / "out.safetensors"
    res = adapt_to_scene(TINY, pan, ms, start, out, minutes=None, epochs=1, sensor="none", batch_size=6,
                         lr=0.05, quiet=True)
    written = models.load(out)
    if res.kept == "start":
        assert all(torch.equal(a, b) for a, b in zip(written.state_dict().values(), model.state_dict().values()))
        assert read_card(out).training["kept"] == "start"
    else:
        assert res.after["Q2n"] >= res.before["Q2n"] and res.after["ERGAS"] <= res.before["ERGAS"]


def test_scene_errors(scene, tmp_path):
    pan, ms, _ = scene
    start = tmp_path / "start.safetensors"
    _start_weights(start, 1.0)
    with pytest.raises(SensorError, match="--sensor"):
        adapt_to_scene(TINY, pan, ms, start, tmp_path / "o.safetensors", epochs=1, quiet=True)
    with pytest.raises(ModelError, match="not lightnet"):
        adapt_to_scene("lightnet", pan, ms, start, tmp_path / "o.safetensors", epochs=1, sensor="none", quiet=True)
    start8 = tmp_path / "start8.safetensors"
    models.save(models.create(TINY, bands=8), start8)
    with pytest.raises(ModelError, match="8 bands"):
        adapt_to_scene(TINY, pan, ms, start8, tmp_path / "o.safetensors", epochs=1, sensor="none", quiet=True)
    (tmp_path / "exists.safetensors").write_bytes(b"x")
    with pytest.raises(OutputExistsError):
        adapt_to_scene(TINY, pan, ms, start, tmp_path / "exists.safetensors", epochs=1, sensor="none", quiet=True)


def test_wv3_sample_product_crop_with_lightnet(tmp_path):
    """The real WorldView-3 sample (dgsamples), a 128 x 128 MS crop, one epoch of LightNet."""
    pytest.importorskip("dgsamples")
    import rasterio
    from rasterio.windows import Window

    from pansharpen.io.samples import sample_product

    pan_src, ms_src = sample_product("WV3")
    crops = {}
    for name, src, win in (("pan", pan_src, Window(800, 800, 512, 512)), ("ms", ms_src, Window(200, 200, 128, 128))):
        with rasterio.open(src) as ds:
            profile = dict(ds.profile, width=win.width, height=win.height, transform=ds.window_transform(win))
            arr = ds.read(window=win)
        crops[name] = tmp_path / f"{name}.tif"
        with rasterio.open(crops[name], "w", **profile) as out:
            out.write(arr)
    torch.manual_seed(0)
    models.save(models.create("lightnet", bands=8), tmp_path / "start.safetensors")
    res = adapt_to_scene("lightnet", crops["pan"], crops["ms"], tmp_path / "start.safetensors",
                         tmp_path / "adapted.safetensors", minutes=None, epochs=1, sensor="WV3", quiet=True)
    assert res.patches == 6 and res.sets.sensor == "WV3"
    kept = res.after if res.kept == "adapted" else res.before
    assert kept["Q2n"] >= res.before["Q2n"] and kept["ERGAS"] <= res.before["ERGAS"]
    assert read_card(tmp_path / "adapted.safetensors").training["scene"]["sensor"] == "WV3"
