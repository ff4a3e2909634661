"""The one GeoTIFF writer: band metadata, overviews, codecs, creation options, tags, COG, mode."""
from __future__ import annotations

import os

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import ColorInterp

from pansharpen.errors import DataFormatError
from pansharpen.io.atomic import atomic_path
from pansharpen.io.geotiff import (
    DEFAULT_COMPRESS, GeoTiffWriter, WriteOptions, colour_interpretation, output_profile, parse_creation_options, provenance_tags,
    read_provenance,
)
from pansharpen.io.raster import write_image

NAMES = ("Coastal", "Blue", "Green", "Yellow", "Red", "RedEdge", "NIR1", "NIR2")


def _write(path, arr, options=None, **kw):
    options = options or WriteOptions()
    profile = output_profile(arr.shape[2], arr.shape[1], arr.shape[0], arr.dtype.name, crs=CRS.from_epsg(32633),
                             transform=Affine(0.5, 0, 0, 0, -0.5, 0), options=options)
    with atomic_path(path) as tmp, GeoTiffWriter(tmp, profile, options, **kw) as w:
        w.write(arr)


def test_colour_interpretation_from_names_and_source():
    out = colour_interpretation(8, NAMES)
    assert out[1] == ColorInterp.blue and out[2] == ColorInterp.green and out[4] == ColorInterp.red
    assert out[0] == ColorInterp.gray and out[3] == out[7] == ColorInterp.undefined
    assert colour_interpretation(3, ("B4_Red", "B3_Green", "B2_Blue"))[:3] == [ColorInterp.red, ColorInterp.green,
                                                                               ColorInterp.blue]
    given = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.undefined]
    assert colour_interpretation(4, (), given) == given  # an MS that says more than gray is kept
    assert colour_interpretation(2, ()) == [ColorInterp.gray, ColorInterp.undefined]


def test_writer_metadata_overviews_tags_and_mode(tmp_path):
    arr = np.random.default_rng(0).integers(0, 2047, (8, 600, 520)).astype("uint16")
    old = os.umask(0o022)
    try:
        _write(tmp_path / "a.tif", arr, descriptions=NAMES, tags=provenance_tags(method="gsa", sensor="WV3", ratio=4))
    finally:
        os.umask(old)
    with rasterio.open(tmp_path / "a.tif") as ds:
        np.testing.assert_array_equal(ds.read(), arr)
        assert ds.descriptions == NAMES
        assert ds.colorinterp[4] == ColorInterp.red and ds.colorinterp[1] == ColorInterp.blue
        assert ds.overviews(1) == [2, 4]  # down to one 256 block
        assert ds.compression.name.lower() == DEFAULT_COMPRESS
        assert ds.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") == "2"
    assert (os.stat(tmp_path / "a.tif").st_mode & 0o777) == 0o644
    prov = read_provenance(tmp_path / "a.tif")
    assert prov["method"] == "gsa" and prov["sensor"] == "WV3" and prov["ratio"] == "4" and prov["version"]
    assert "command" in prov


@pytest.mark.parametrize("codec", ["zstd", "lzw", "none"])
def test_codecs_and_creation_options(tmp_path, codec):
    arr = np.random.default_rng(1).integers(0, 2047, (3, 300, 300)).astype("uint16")
    opts = WriteOptions(compress=codec, overviews=False, creation_options=parse_creation_options(["BLOCKXSIZE=128",
                                                                                                  "blockysize=128"]))
    _write(tmp_path / "c.tif", arr, opts)
    with rasterio.open(tmp_path / "c.tif") as ds:
        np.testing.assert_array_equal(ds.read(), arr)
        assert ds.overviews(1) == []
        assert ds.block_shapes[0] == (128, 128)
        assert (ds.compression.name.lower() if ds.compression else "none") == codec


def test_bad_options_are_refused():
    with pytest.raises(DataFormatError, match="unknown compression"):
        WriteOptions(compress="jpeg2000")
    with pytest.raises(DataFormatError, match="KEY=VALUE"):
        parse_creation_options(["BLOCKXSIZE"])


def test_cog_keeps_predictor_and_overviews(tmp_path):
    arr = np.tile(np.arange(520, dtype="uint16"), (2, 520, 1))
    _write(tmp_path / "g.tif", arr, WriteOptions(cog=True), descriptions=("Red", "NIR"))
    with rasterio.open(tmp_path / "g.tif") as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert ds.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") == "2"
        assert ds.overviews(1) and ds.descriptions == ("Red", "NIR")
        np.testing.assert_array_equal(ds.read(), arr)


def test_write_image_uses_the_writer(tmp_path):
    arr = np.arange(2 * 40 * 30, dtype="int16").reshape(2, 40, 30)
    write_image(tmp_path / "w.tif", arr, {"descriptions": ("Green", "Blue"), "crs": CRS.from_epsg(32633),
                                          "transform": Affine(1, 0, 0, 0, -1, 0)})
    with rasterio.open(tmp_path / "w.tif") as ds:
        np.testing.assert_array_equal(ds.read(), arr)
        assert ds.colorinterp == (ColorInterp.green, ColorInterp.blue)
        assert ds.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") == "2"
