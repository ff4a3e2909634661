"""Wald-protocol set simulation: shapes, block-level lms, split disjointness, provenance, bad input."""
from __future__ import annotations

import hashlib
import importlib.util

import numpy as np
import pytest
import rasterio
import scipy.ndimage
from rasterio.transform import Affine

from pansharpen.errors import DataFormatError, OutputExistsError, SensorError, ShapeError, ValueRangeError
from pansharpen.io.pancollection import open_pancollection
from pansharpen.datasets.simulate import simulate, split_paths, transform
from pansharpen.protocol.interp import interp23tap
from pansharpen.protocol.mtf import mtf_filter
from pansharpen.protocol.resize import imresize
from pansharpen.protocol.sensors import get_sensor
from pansharpen.protocol.wald import decimate

R = 4


def _tif(path, arr, transform, crs="EPSG:32613", nodata=None):
    profile = dict(driver="GTiff", count=arr.shape[0], height=arr.shape[1], width=arr.shape[2],
                   dtype=arr.dtype.name, transform=transform, crs=crs)
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(arr)
    return path


def _product(tmp_path, rows=96, cols=80, bands=4, seed=0, name="", ms_dtype=np.uint16, ms_px=2.0, ms_crs="EPSG:32613"):
    """A smooth synthetic product: MS rows x cols, PAN 4x larger, uint16 digital numbers."""
    rng = np.random.default_rng(seed)
    pan = scipy.ndimage.gaussian_filter(rng.uniform(0, 2047, (rows * R, cols * R)), 3)
    pan = (pan - pan.min()) / np.ptp(pan) * 1500 + 200
    ms = np.stack([scipy.ndimage.zoom(pan, 1 / R, order=1) * (0.6 + 0.2 * b) for b in range(bands)])
    ms = ms + rng.normal(0, 5, ms.shape)
    pan_path = _tif(tmp_path / f"pan{name}.tif", pan[None].astype(np.uint16), Affine(0.5, 0, 1000, 0, -0.5, 3000))
    ms_path = _tif(tmp_path / f"ms{name}.tif", ms.astype(ms_dtype), Affine(ms_px, 0, 1000, 0, -ms_px, 3000),
                   crs=ms_crs)
    return pan_path, ms_path


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read().astype(np.float64)


def _arrays(path):
    import h5py

    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in f}, dict(f.attrs)


SETTINGS = dict(sensor="QB", patch=16, stride=8, val_fraction=0.2, test_block=32, seed=0)


@pytest.fixture()
def synthetic_set(tmp_path):
    pan_path, ms_path = _product(tmp_path)
    out = tmp_path / "out" / "set.h5"
    out.parent.mkdir()
    written = simulate([f"{pan_path}:{ms_path}"], out, **SETTINGS)
    return written, pan_path, ms_path


def test_files_shapes_and_geometry(synthetic_set):
    written, *_ = synthetic_set
    assert written == split_paths(written["train"].parent / "set.h5")
    with open_pancollection(written["train"]) as f:
        assert f.keys == ["gt", "ms", "lms", "pan"]
        n = len(f)
        assert f.shape("gt") == (n, 4, 16, 16) and f.shape("ms") == (n, 4, 4, 4)
        assert f.shape("lms") == (n, 4, 16, 16) and f.shape("pan") == (n, 1, 16, 16)
        geom = f.attrs["sources"][0]["split_geometry"]
    # 96 rows: test strip 32 rows at the bottom, validation ceil(0.2 * 96) = 20 rows above it
    assert geom["test_rows"] == [64, 96] and geom["valid_rows"] == [44, 64] and geom["train_rows"] == [0, 44]
    # train block 44 x 80, patch 16 stride 8: rows 0, 8, 16, 24 (4) x cols 0..64 (9)
    assert n == 4 * 9
    with open_pancollection(written["test"]) as f:
        assert len(f) == 2 and f.shape("gt") == (2, 4, 32, 32)  # 80 columns hold two 32 x 32 tiles


def test_values_follow_the_wald_protocol_on_each_block(synthetic_set):
    written, pan_path, ms_path = synthetic_set
    ms, pan = _read(ms_path), _read(pan_path)
    sensor = get_sensor("QB")
    train, _ = _arrays(written["train"])
    block_ms, block_pan = ms[:, 0:44], pan[:, 0:44 * R]
    ms_lr = decimate(mtf_filter(block_ms, sensor, R), R)
    lms = interp23tap(ms_lr, R)
    pan_lr = imresize(block_pan, 1 / R, "bicubic")
    for i, (src, r, c, t) in enumerate(train["origin"]):
        assert src == 0 and t == 0
        np.testing.assert_array_equal(train["gt"][i], ms[:, r:r + 16, c:c + 16])
        np.testing.assert_allclose(train["ms"][i], ms_lr[:, r // R:r // R + 4, c // R:c // R + 4], rtol=1e-12)
        np.testing.assert_allclose(train["lms"][i], lms[:, r:r + 16, c:c + 16], rtol=1e-12)
        np.testing.assert_allclose(train["pan"][i], pan_lr[:, r:r + 16, c:c + 16], rtol=1e-12)
    # lms is cut from the block, not interpolated per patch (that differs at the patch border)
    inner = [i for i, (_, r, c, _) in enumerate(train["origin"]) if r >= 8 and c >= 8 and r + 16 <= 36]
    assert inner
    i = inner[0]
    assert np.abs(interp23tap(train["ms"][i], R) - train["lms"][i]).max() > 1.0


def test_test_images_are_simulated_alone(synthetic_set):
    written, _, ms_path = synthetic_set
    ms = _read(ms_path)
    test, _ = _arrays(written["test"])
    for i, (_, r, c, _) in enumerate(test["origin"]):
        assert r == 64
        np.testing.assert_array_equal(test["gt"][i], ms[:, r:r + 32, c:c + 32])
        np.testing.assert_allclose(test["lms"][i], interp23tap(test["ms"][i], R), rtol=1e-12)
        expected_ms = decimate(mtf_filter(ms[:, r:r + 32, c:c + 32], get_sensor("QB"), R), R)
        np.testing.assert_allclose(test["ms"][i], expected_ms, rtol=1e-12)


def _rects(origin, size):
    return [(r, r + size, c, c + size) for _, r, c, _ in origin]


def _overlap(a, b):
    return a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]


def test_splits_are_disjoint(synthetic_set):
    written, *_ = synthetic_set
    train, attrs = _arrays(written["train"])
    valid, _ = _arrays(written["valid"])
    test, _ = _arrays(written["test"])
    geom = attrs and __import__("json").loads(attrs["sources"])[0]["split_geometry"]
    tr, va, te = _rects(train["origin"], 16), _rects(valid["origin"], 16), _rects(test["origin"], 32)
    assert len(va) > 0 and len(te) == 2
    assert not any(_overlap(a, b) for a in tr for b in va + te)
    assert not any(_overlap(a, b) for a in va for b in te)
    assert all(r1 <= geom["train_rows"][1] for _, r1, _, _ in tr)
    assert all(geom["valid_rows"][0] <= r0 and r1 <= geom["valid_rows"][1] for r0, r1, _, _ in va)


def test_provenance(synthetic_set):
    written, pan_path, ms_path = synthetic_set
    for split, path in written.items():
        with open_pancollection(path) as f:
            a = f.attrs
            assert a["split"] == split and a["sensor"] == "QB" and a["ratio"] == 4
            assert a["patch"] == 16 and a["stride"] == 8 and a["seed"] == 0 and a["augment"] is False
            assert "Wald" in a["protocol"] and "interp23tap" in a["protocol"]
            assert a["pansharpen_version"] and a["samples"] == len(f)
            src = a["sources"][0]
            assert src["ms"]["sha256"] == hashlib.sha256(ms_path.read_bytes()).hexdigest()
            assert src["pan"]["bytes"] == pan_path.stat().st_size


def test_augment_and_seed(tmp_path):
    pan_path, ms_path = _product(tmp_path)
    src = f"{pan_path}:{ms_path}"
    a = simulate([src], tmp_path / "a.h5", augment=True, **SETTINGS)
    b = simulate([src], tmp_path / "b.h5", augment=True, **SETTINGS)
    plain = simulate([src], tmp_path / "p.h5", **SETTINGS)
    ta, _ = _arrays(a["train"])
    tb, _ = _arrays(b["train"])
    tp, _ = _arrays(plain["train"])
    assert len(ta["gt"]) == 2 * len(tp["gt"])
    np.testing.assert_array_equal(ta["gt"], tb["gt"])  # same seed, same file
    ids = ta["origin"][:, 3]
    assert (ids[ids > 0] < 8).all() and (ids > 0).sum() == len(tp["gt"])
    j = int(np.flatnonzero(ids > 0)[0])
    _, r, c, t = ta["origin"][j]
    k = int(np.flatnonzero((tp["origin"][:, 1] == r) & (tp["origin"][:, 2] == c))[0])
    for key in ("gt", "ms", "lms", "pan"):
        np.testing.assert_array_equal(ta[key][j], transform(tp[key][k], int(t)))
    # validation and test are never augmented
    va, _ = _arrays(a["valid"])
    assert (va["origin"][:, 3] == 0).all()


def test_transform_is_the_dihedral_group():
    x = np.arange(9.0).reshape(1, 3, 3)
    outs = {transform(x, t).tobytes() for t in range(8)}
    assert len(outs) == 8
    np.testing.assert_array_equal(transform(x, 1)[0], np.rot90(x[0]))
    np.testing.assert_array_equal(transform(x, 4)[0], x[0, :, ::-1])


def test_max_patches_and_two_sources(tmp_path):
    p1, m1 = _product(tmp_path, seed=1, name="1")
    p2, m2 = _product(tmp_path, seed=2, name="2", rows=100, cols=72)  # 100 rows: cropped to 100 (multiple of 4)
    out = simulate([f"{p1}:{m1}", f"{p2}:{m2}"], tmp_path / "two.h5", max_patches=5, **SETTINGS)
    train, attrs = _arrays(out["train"])
    assert len(train["gt"]) == 10
    assert sorted(set(train["origin"][:, 0])) == [0, 1]
    with open_pancollection(out["train"]) as f:
        assert [s["pan"]["file"] for s in f.attrs["sources"]] == ["pan1.tif", "pan2.tif"]


@pytest.mark.skipif(importlib.util.find_spec("dgsamples") is None, reason="dgsamples is not installed (pip install dgsamples)")
def test_dgsamples_wv3(tmp_path):
    from pansharpen.io.samples import sample_product

    out = simulate(["dgsamples:WV3"], tmp_path / "wv3.h5", stride=64, max_patches=4, test_block=128, seed=0)
    with open_pancollection(out["train"]) as f:
        assert len(f) == 4 and f.shape("gt") == (4, 8, 64, 64) and f.shape("ms") == (4, 8, 16, 16)
        assert f.attrs["sensor"] == "WV3"
        geom = f.attrs["sources"][0]["split_geometry"]
        assert geom["rows"] == 832 and geom["cols"] == 832  # 835 MS pixels cropped to a multiple of 4
        train = {k: f.read(k) for k in ("gt", "ms")}
    origins, _ = _arrays(out["train"])
    _, ms_path = sample_product("WV3")
    ms = _read(ms_path)
    for i, (_, r, c, _) in enumerate(origins["origin"]):
        np.testing.assert_array_equal(train["gt"][i], ms[:, r:r + 64, c:c + 64])
        assert r + 64 <= geom["train_rows"][1]
    test, _ = _arrays(out["test"])
    assert test["gt"].shape == (6, 8, 128, 128)
    np.testing.assert_allclose(test["lms"][0], interp23tap(test["ms"][0], 4), rtol=1e-12)
    assert test["gt"].max() <= 2047 and test["ms"].min() >= 0


# -- bad input -----------------------------------------------------------------------------------
def test_ratio_mismatch(tmp_path):
    pan_path, ms_path = _product(tmp_path, ms_px=1.5)  # 3 x the PAN pixel
    with pytest.raises(ShapeError, match="ratio of 3, not the requested 4"):
        simulate([f"{pan_path}:{ms_path}"], tmp_path / "s.h5", **SETTINGS)


def test_different_crs(tmp_path):
    pan_path, ms_path = _product(tmp_path, ms_crs="EPSG:4326")
    with pytest.raises(DataFormatError, match="different CRS"):
        simulate([f"{pan_path}:{ms_path}"], tmp_path / "s.h5", **SETTINGS)


def test_nan_in_source(tmp_path):
    pan_path, ms_path = _product(tmp_path, ms_dtype=np.float32)
    with rasterio.open(ms_path, "r+") as ds:
        arr = ds.read()
        arr[1, 5, 5] = np.nan
        ds.write(arr)
    with pytest.raises(ValueRangeError, match="NaN"):
        simulate([f"{pan_path}:{ms_path}"], tmp_path / "s.h5", **SETTINGS)
    assert not list(tmp_path.glob("s_*.h5"))


def test_nodata_patches_are_skipped(tmp_path):
    pan_path, ms_path = _product(tmp_path)
    with rasterio.open(ms_path, "r+") as ds:
        arr = ds.read()
        arr[:, 0:4, 0:4] = 0
        ds.write(arr)
        ds.nodata = 0
    out = simulate([f"{pan_path}:{ms_path}"], tmp_path / "s.h5", **SETTINGS)
    train, _ = _arrays(out["train"])
    assert len(train["gt"]) == 4 * 9 - 1  # only the patch at (0, 0) touches the nodata corner
    assert not ((train["origin"][:, 1] == 0) & (train["origin"][:, 2] == 0)).any()
    with open_pancollection(out["train"]) as f:
        assert f.attrs["sources"][0]["patches_dropped_for_nodata"] == 1


def test_too_small_and_bad_settings(tmp_path):
    pan_path, ms_path = _product(tmp_path, rows=40, cols=40)
    src = f"{pan_path}:{ms_path}"
    with pytest.raises(ShapeError, match="leaves"):
        simulate([src], tmp_path / "s.h5", **SETTINGS)
    with pytest.raises(ShapeError, match="does not fit"):
        simulate([src], tmp_path / "s.h5", **dict(SETTINGS, test_block=64))
    with pytest.raises(ShapeError, match="multiple of the ratio"):
        simulate([src], tmp_path / "s.h5", **dict(SETTINGS, stride=6))


def test_unknown_sensor_and_band_mismatch(tmp_path):
    p1, m1 = _product(tmp_path, name="1")
    p2, m2 = _product(tmp_path, name="2", bands=3)
    with pytest.raises(SensorError, match="cannot tell which sensor.*--sensor"):  # the sensor policy's refusal
        simulate([f"{p1}:{m1}"], tmp_path / "s.h5", **dict(SETTINGS, sensor=None))
    with pytest.raises(ShapeError, match="3 bands but the first source has 4"):
        simulate([f"{p1}:{m1}", f"{p2}:{m2}"], tmp_path / "s.h5", **dict(SETTINGS, sensor="none"))
    assert not list(tmp_path.glob("s_*.h5")) and not list(tmp_path.glob(".s_*"))


def test_missing_source_and_existing_output(tmp_path):
    pan_path, ms_path = _product(tmp_path)
    with pytest.raises(DataFormatError, match="no such file"):
        simulate([f"{pan_path}:{tmp_path / 'none.tif'}"], tmp_path / "s.h5", **SETTINGS)
    with pytest.raises(DataFormatError, match="dgsamples:WV3"):
        simulate([str(tmp_path / "nothing")], tmp_path / "s.h5", **SETTINGS)
    simulate([f"{pan_path}:{ms_path}"], tmp_path / "s.h5", **SETTINGS)
    with pytest.raises(OutputExistsError, match="--overwrite"):
        simulate([f"{pan_path}:{ms_path}"], tmp_path / "s.h5", **SETTINGS)
    simulate([f"{pan_path}:{ms_path}"], tmp_path / "s.h5", overwrite=True, **SETTINGS)


def test_degrade_pair_is_the_reference_composition():
    # resize_images.m: MS_LR = decimate(MTF(MS)) at offset ratio/2, PAN_LR = imresize(PAN, 1/ratio)
    from pansharpen.datasets.simulate import degrade_pair
    from pansharpen.protocol.mtf import mtf_filter
    from pansharpen.protocol.resize import imresize

    rng = np.random.default_rng(9)
    ms = rng.uniform(0, 2047, (4, 32, 32))
    pan = rng.uniform(0, 2047, (1, 128, 128))
    ms_lr, pan_lr = degrade_pair(ms, pan, get_sensor("QB"), R)
    assert ms_lr.shape == (4, 8, 8) and pan_lr.shape == (1, 32, 32)
    np.testing.assert_allclose(ms_lr, mtf_filter(ms, get_sensor("QB"), R)[:, 2::4, 2::4], rtol=1e-12)
    np.testing.assert_allclose(pan_lr, imresize(pan, 1 / R), rtol=1e-12)
