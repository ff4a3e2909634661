"""Scene fusion: grid checks, tiling exactness, nodata, output profile, atomic writes."""
from __future__ import annotations

import os

import numpy as np
import pytest
import rasterio
from affine import Affine
from scipy.ndimage import uniform_filter

from pansharpen.errors import DataFormatError, ModelError, OutputExistsError, PanSharpenError, ShapeError
from pansharpen.fusion.scene import fuse_arrays, fuse_scene

R = 4


class BoxFuser:
    """A fuser with a known, finite receptive field: MS repeated x R plus a 5x5 PAN high-pass.

    Its halo (8 px) covers the 2-px box radius, so tiles must reproduce the whole image exactly.
    """

    name = "box"
    ratio = R
    bands = 3
    halo = 8

    def prepare(self, ms, pan):
        self.prepared = True

    def __call__(self, ms, pan, origin=(0, 0)):
        up = np.repeat(np.repeat(ms, R, axis=1), R, axis=2)
        detail = pan[0] - uniform_filter(pan[0], size=5, mode="constant")
        return up + detail[None]


def _scene(rng, h=24, w=20, bands=3):
    ms = rng.uniform(100, 1500, size=(bands, h, w))
    pan = rng.uniform(100, 1500, size=(1, h * R, w * R))
    return ms, pan


def _write(path, arr, transform, crs="EPSG:32613", nodata=None, dtype="uint16", descriptions=None):
    with rasterio.open(
        path, "w", driver="GTiff", width=arr.shape[2], height=arr.shape[1], count=arr.shape[0], dtype=dtype,
        crs=crs, transform=transform, nodata=nodata,
    ) as dst:
        dst.write(np.rint(arr).astype(dtype) if np.dtype(dtype).kind in "iu" else arr.astype(dtype))
        for i, d in enumerate(descriptions or []):
            dst.set_band_description(i + 1, d)
    return path


@pytest.fixture
def pair(tmp_path):
    rng = np.random.default_rng(0)
    ms, pan = _scene(rng)
    pan_t = Affine(0.5, 0, 1000.0, 0, -0.5, 5000.0)
    ms_t = Affine(2.0, 0, 1000.0, 0, -2.0, 5000.0)
    p = _write(tmp_path / "pan.tif", pan, pan_t)
    m = _write(tmp_path / "ms.tif", ms, ms_t, descriptions=["Blue", "Green", "Red"])
    return p, m, np.rint(ms), np.rint(pan)


def test_tiled_equals_whole_image_in_memory():
    rng = np.random.default_rng(1)
    ms, pan = _scene(rng, 30, 26)
    whole = BoxFuser()(ms, pan)
    for tile in (8, 20, 36, 1000):
        tiled = fuse_arrays(pan, ms, BoxFuser(), tile=tile)
        # interior of the scene: identical; borders differ only by the fuser's own zero padding
        np.testing.assert_allclose(tiled[:, 4:-4, 4:-4], whole[:, 4:-4, 4:-4], atol=1e-9)
        np.testing.assert_allclose(tiled, fuse_arrays(pan, ms, BoxFuser(), tile=4096), atol=1e-9)


def test_fuse_scene_writes_pan_grid_dtype_descriptions(pair, tmp_path):
    p, m, ms, pan = pair
    out = fuse_scene(p, m, tmp_path / "out.tif", BoxFuser(), tile=32, max_value=2047)
    with rasterio.open(out) as src, rasterio.open(p) as ref:
        assert src.crs == ref.crs and src.transform == ref.transform
        assert (src.width, src.height, src.count) == (ref.width, ref.height, 3)
        assert src.dtypes[0] == "uint16"
        assert src.descriptions == ("Blue", "Green", "Red")
        data = src.read()
    expected = np.clip(np.rint(fuse_arrays(pan, ms, BoxFuser(), tile=4096)), 0, 2047)
    np.testing.assert_array_equal(data, expected)
    assert not [f for f in os.listdir(tmp_path) if "partial" in f]


def test_dtype_option_and_clipping(pair, tmp_path):
    p, m, _, _ = pair
    out = fuse_scene(p, m, tmp_path / "f.tif", BoxFuser(), dtype="float32", max_value=1000,
                     check_range=False)  # the mechanism; an MS beyond the range is refused by default
    with rasterio.open(out) as src:
        assert src.dtypes[0] == "float32"
        data = src.read()
    assert data.max() <= 1000 and data.min() >= 0


def test_nodata_propagates_from_pan_and_any_ms_band(tmp_path):
    rng = np.random.default_rng(2)
    ms, pan = _scene(rng)
    ms = np.rint(ms)
    pan = np.rint(pan)
    ms[1, 3, 4] = 0  # one band of one MS pixel
    pan[0, 50, 60] = 0
    pan_t = Affine(0.5, 0, 0.0, 0, -0.5, 100.0)
    ms_t = Affine(2.0, 0, 0.0, 0, -2.0, 100.0)
    p = _write(tmp_path / "pan.tif", pan, pan_t, nodata=0)
    m = _write(tmp_path / "ms.tif", ms, ms_t, nodata=0)
    out = fuse_scene(p, m, tmp_path / "o.tif", BoxFuser(), tile=16, max_value=2047)
    with rasterio.open(out) as src:
        assert src.nodata == 0
        data = src.read()
    assert (data[:, 12:16, 16:20] == 0).all()
    assert (data[:, 50, 60] == 0).all()
    valid = np.ones(data.shape[1:], bool)
    valid[12:16, 16:20] = False
    valid[50, 60] = False
    assert (data[:, valid] > 0).all()  # valid pixels never take the nodata value (clipped to 1)


def test_all_nodata_tiles(tmp_path):
    ms = np.zeros((3, 8, 8))
    pan = np.zeros((1, 32, 32))
    p = _write(tmp_path / "pan.tif", pan, Affine(0.5, 0, 0, 0, -0.5, 0), nodata=0)
    m = _write(tmp_path / "ms.tif", ms, Affine(2, 0, 0, 0, -2, 0), nodata=0)
    out = fuse_scene(p, m, tmp_path / "o.tif", BoxFuser(), tile=16)
    with rasterio.open(out) as src:
        assert (src.read() == 0).all()


def test_refuses_existing_output_unless_overwrite(pair, tmp_path):
    p, m, _, _ = pair
    out = tmp_path / "exists.tif"
    out.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError):
        fuse_scene(p, m, out, BoxFuser())
    assert out.read_bytes() == b"keep me"
    fuse_scene(p, m, out, BoxFuser(), overwrite=True)
    with rasterio.open(out) as src:
        assert src.count == 3


def test_refuses_to_overwrite_an_input(pair):
    p, m, _, _ = pair
    with pytest.raises(OutputExistsError):
        fuse_scene(p, m, m, BoxFuser(), overwrite=True)


def test_read_only_destination_is_checked(pair, tmp_path, monkeypatch):
    p, m, _, _ = pair
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(PanSharpenError, match="cannot write"):
        fuse_scene(p, m, tmp_path / "o.tif", BoxFuser())


@pytest.mark.parametrize("pipeline", [True, False])
def test_disk_full_is_a_clear_error_and_leaves_nothing(pair, tmp_path, monkeypatch, pipeline):
    import errno

    from pansharpen.io.geotiff import GeoTiffWriter

    p, m, _, _ = pair

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(GeoTiffWriter, "write", full)
    with pytest.raises(PanSharpenError, match="disk is full"):
        fuse_scene(p, m, tmp_path / "o.tif", BoxFuser(), tile=16, pipeline=pipeline)
    assert sorted(os.listdir(tmp_path)) == ["ms.tif", "pan.tif"]


def test_grid_errors(tmp_path):
    rng = np.random.default_rng(3)
    ms, pan = _scene(rng, 8, 8)
    p = _write(tmp_path / "pan.tif", pan, Affine(0.5, 0, 0, 0, -0.5, 0))
    cases = {
        "crs": (Affine(2, 0, 0, 0, -2, 0), "EPSG:4326", "reproject"),
        "ratio": (Affine(1.7, 0, 0, 0, -1.7, 0), "EPSG:32613", "integer"),
        "overlap": (Affine(2, 0, 9000, 0, -2, 0), "EPSG:32613", "do not overlap"),
    }
    for name, (transform, crs, message) in cases.items():
        m = _write(tmp_path / f"ms_{name}.tif", ms, transform, crs=crs)
        with pytest.raises((ShapeError, DataFormatError), match=message):
            fuse_scene(p, m, tmp_path / f"o_{name}.tif", BoxFuser())


def test_wrong_band_count(tmp_path):
    rng = np.random.default_rng(4)
    ms, pan = _scene(rng, 8, 8, bands=4)
    p = _write(tmp_path / "pan.tif", pan, Affine(0.5, 0, 0, 0, -0.5, 0))
    m = _write(tmp_path / "ms.tif", ms, Affine(2, 0, 0, 0, -2, 0))
    with pytest.raises(ModelError, match="3 bands but the MS has 4"):
        fuse_scene(p, m, tmp_path / "o.tif", BoxFuser())


def test_cog_output(pair, tmp_path):
    p, m, _, _ = pair
    out = fuse_scene(p, m, tmp_path / "c.tif", BoxFuser(), cog=True)
    with rasterio.open(out) as src:
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"


def test_nodata_masks_of_integer_rasters_skip_only_the_finiteness_test():
    """An integer raster read as float64 cannot hold NaN/inf: its mask is the nodata test alone, the
    same as the full test (read_tile passes the raster's dtype); float rasters keep the NaN test."""
    from pansharpen.fusion.scene import _masks

    rng = np.random.default_rng(40)
    block = rng.integers(0, 4, size=(3, 9, 11)).astype(np.float64)
    for nodata in (None, 0, 3.0):
        np.testing.assert_array_equal(_masks(block, nodata, "uint16"), _masks(block, nodata))
        np.testing.assert_array_equal(_masks(block, nodata, "int16"), _masks(block, nodata))
    floats = block.copy()
    floats[1, 2, 3] = np.nan
    assert _masks(floats, None, "float32")[2, 3] and not _masks(block, None, "float32")[2, 3]
