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
    DEFAULT_COMPRESS, GeoTiffWriter, WriteOptions, clip_cast, colour_interpretation, output_profile,
    parse_creation_options, provenance_tags, read_provenance,
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


def test_zstd_writes_at_the_fast_level_unless_told(tmp_path):
    """--compress zstd writes at ZSTD_LEVEL (1, not GDAL's 9); --co ZSTD_LEVEL=N wins; overviews and COG too."""
    from pansharpen.io.geotiff import ZSTD_LEVEL

    rng = np.random.default_rng(2)
    arr = (np.cumsum(rng.integers(-3, 4, (2, 512, 512)), axis=2) + 1000).astype("uint16")  # compressible
    sizes = {}
    for label, co in (("default", []), ("9", ["ZSTD_LEVEL=9"]), ("1", ["ZSTD_LEVEL=1"])):
        path = tmp_path / f"z{label}.tif"
        _write(path, arr, WriteOptions(compress="zstd", overviews=False, creation_options=parse_creation_options(co)))
        with rasterio.open(path) as ds:
            np.testing.assert_array_equal(ds.read(), arr)
        sizes[label] = os.path.getsize(path)
    assert ZSTD_LEVEL == 1 and sizes["default"] == sizes["1"] > sizes["9"]
    _write(tmp_path / "zc.tif", arr, WriteOptions(compress="zstd", cog=True))
    with rasterio.open(tmp_path / "zc.tif") as ds:
        assert ds.compression.name.lower() == "zstd" and ds.overviews(1)
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        np.testing.assert_array_equal(ds.read(), arr)


def test_bad_options_are_refused():
    with pytest.raises(DataFormatError, match="unknown compression"):
        WriteOptions(compress="jpeg2000")
    with pytest.raises(DataFormatError, match="KEY=VALUE"):
        parse_creation_options(["BLOCKXSIZE"])
    for bad in ("ZSTD_LEVEL=abc", "ZSTD_LEVEL=0", "ZSTD_LEVEL=23", "ZLEVEL=13"):
        with pytest.raises(DataFormatError, match="whole number from"):
            WriteOptions(compress="zstd", creation_options=parse_creation_options([bad]))
    # options GDAL took silently (threads) or that failed halfway through the write (JPEG of 6 bands)
    for bad, match in (("COMPRESS=JPEG", "use --compress"), ("NUM_THREADS=abc", "NUM_THREADS"), ("PREDICTOR=5", "PREDICTOR")):
        with pytest.raises(DataFormatError, match=match):
            WriteOptions(creation_options=parse_creation_options([bad]))
    ok = WriteOptions(creation_options=parse_creation_options(["COMPRESS=zstd", "NUM_THREADS=2", "PREDICTOR=2"]))
    assert ok.compress == "zstd" and "COMPRESS" not in ok.creation_options  # --co COMPRESS=X is --compress X
    assert WriteOptions(creation_options={"zstd_level": "22", "ZLEVEL": "9"}).creation_options["ZSTD_LEVEL"] == "22"


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


def _plain_clip_cast(block, dtype, max_value, scale=1.0):
    """The formula of :func:`clip_cast` with every step as a new array and both clips."""
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    hi = max_value if max_value is not None else (info.max * scale if info else None)
    lo = 0.0 if (info is None or info.min >= 0 or max_value is not None) else info.min * scale
    block = np.clip(block, lo, hi) if hi is not None else np.maximum(block, lo)
    block = block / scale
    if info is not None:
        block = np.clip(np.rint(block), info.min, info.max)
    return block.astype(dtype)


@pytest.mark.parametrize("dtype", ["uint16", "int16", "uint8", "float32"])
@pytest.mark.parametrize("max_value,scale", [(None, 1.0), (2047, 1.0), (70000, 1.0), (None, 3.7), (2047.4, 1.0),
                                             (65535.6, 1.0), (4095, 2.5)])
def test_clip_cast_equals_the_plain_formula(dtype, max_value, scale):
    """clip_cast works in place and skips the type's clip when the first clip already bounds the values:
    the same output as the plain formula, NaN, negative and out-of-range values included."""
    rng = np.random.default_rng(5)
    block = rng.uniform(-70000, 140000, (3, 17, 19))
    block[0, 0, :4] = [np.nan, 0.5, 1.5, 2047.5]
    for src in (block, block.astype(np.float32)):
        with np.errstate(invalid="ignore"):
            want, got = _plain_clip_cast(src, dtype, max_value, scale), clip_cast(src, dtype, max_value, scale)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    ints = rng.integers(0, 65535, (2, 5, 6)).astype(np.uint16)
    np.testing.assert_array_equal(clip_cast(ints, dtype, max_value, scale), _plain_clip_cast(ints, dtype, max_value, scale))


@pytest.mark.parametrize("nodata, nonfinite", [(0, None), (None, 0), (None, None)])
def test_blocks_encoded_elsewhere_write_the_same_file(tmp_path, nodata, nonfinite):
    """A Dask worker encodes its tile with the writer's TileEncoder (picklable) and the writer stores
    it as it is: the same pixels and nodata record as write() of the float block."""
    import pickle

    rng = np.random.default_rng(3)
    fused = rng.uniform(-50, 2500, (3, 40, 36))
    fused[0, :2] = 0.4  # valid pixels that round onto the nodata value 0
    mask = np.zeros((40, 36), dtype=bool)
    mask[5:9, 3:7] = True
    options = WriteOptions(overviews=False)
    profile = output_profile(36, 40, 3, "uint16", crs=CRS.from_epsg(32633), transform=Affine(0.5, 0, 0, 0, -0.5, 0),
                             nodata=nodata, options=options)
    files = {}
    for how in ("write", "encoded"):
        files[how] = tmp_path / f"{how}.tif"
        with atomic_path(files[how]) as tmp, GeoTiffWriter(tmp, profile, options, max_value=2047,
                                                           nonfinite_nodata=nonfinite) as w:
            if how == "write":
                w.write(fused, mask=mask)
            else:
                w.write_encoded(pickle.loads(pickle.dumps(w.encoder))(fused, mask), mask=mask)
    with rasterio.open(files["write"]) as a, rasterio.open(files["encoded"]) as b:
        np.testing.assert_array_equal(a.read(), b.read())
        assert a.nodata == b.nodata == (nodata if nodata is not None else nonfinite)
        assert b.read().max() <= 2047
