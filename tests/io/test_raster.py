"""GeoTIFF pairs: grid checks (CRS, ratio, alignment, overlap), windows, atomic writes."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import rasterio
from rasterio.transform import Affine

from pansharpen.errors import DataFormatError, OutputExistsError, ShapeError
from pansharpen.io.raster import find_pair, pair_phase, placeholder_grid, read_image, read_pair, write_image
from pansharpen.io.windows import Window

CRS = "EPSG:32613"


def _tif(path, arr, transform=None, crs=CRS, dtype=None):
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[None]
    profile = dict(driver="GTiff", count=arr.shape[0], height=arr.shape[1], width=arr.shape[2],
                   dtype=dtype or arr.dtype.name)
    if transform is not None:
        profile["transform"] = transform
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(arr.astype(profile["dtype"]))
    return path


def _pair(tmp_path, ms_origin=(1000.0, 2000.0), ms_size=(10, 12), pan_size=(40, 48), pan_px=0.5, ratio=4,
          ms_crs=CRS, bands=4):
    rng = np.random.default_rng(0)
    pan = rng.integers(0, 2048, pan_size).astype(np.uint16)
    ms = rng.integers(0, 2048, (bands, *ms_size)).astype(np.uint16)
    pan_t = Affine(pan_px, 0, 1000.0, 0, -pan_px, 2000.0)
    ms_t = Affine(pan_px * ratio, 0, ms_origin[0], 0, -pan_px * ratio, ms_origin[1])
    return (_tif(tmp_path / "pan.tif", pan, pan_t), _tif(tmp_path / "ms.tif", ms, ms_t, crs=ms_crs), pan, ms)


def test_read_image_keeps_dtype_and_profile(tmp_path):
    p, _, pan, _ = _pair(tmp_path)
    arr, profile = read_image(p)
    assert arr.shape == (1, 40, 48) and arr.dtype == np.uint16
    np.testing.assert_array_equal(arr[0], pan)
    assert profile["crs"].to_string() == CRS
    as_float, _ = read_image(p, dtype=np.float64)
    assert as_float.dtype == np.float64


def test_read_pair_same_footprint(tmp_path):
    p, m, pan, ms = _pair(tmp_path)
    got_pan, got_ms, info = read_pair(p, m)
    assert info.ratio == 4 and info.georeferenced
    np.testing.assert_array_equal(got_pan[0], pan)
    np.testing.assert_array_equal(got_ms, ms)
    assert info.pan_window == Window(0, 40, 0, 48)


def test_read_pair_crops_to_overlap_in_whole_ms_pixels(tmp_path):
    # MS starts 2 MS pixels (= 8 PAN pixels = 4 m) right of and 1 MS pixel below the PAN origin
    p, m, pan, ms = _pair(tmp_path, ms_origin=(1004.0, 1998.0), ms_size=(12, 12))
    got_pan, got_ms, info = read_pair(p, m, ratio=4)
    # overlap: MS rows 0..(40-4)//4=9, cols 0..(48-8)//4=10
    assert info.ms_window == Window(0, 9, 0, 10)
    assert info.pan_window == Window(4, 40, 8, 48)
    assert info.as_dict()["pan_window"] == [[4, 40], [8, 48]]  # JSON form unchanged
    np.testing.assert_array_equal(got_ms, ms[:, :9, :10])
    np.testing.assert_array_equal(got_pan[0], pan[4:40, 8:48])
    assert info.transform.c == pytest.approx(1004.0) and info.transform.f == pytest.approx(1998.0)


def test_ms_starting_before_pan(tmp_path):
    p, m, pan, ms = _pair(tmp_path, ms_origin=(996.0, 2002.0), ms_size=(12, 14))
    got_pan, got_ms, info = read_pair(p, m)
    assert info.ms_window == Window(1, 11, 2, 14)
    np.testing.assert_array_equal(got_ms, ms[:, 1:11, 2:14])
    assert got_pan.shape == (1, 40, 48)


def test_plain_tiffs_without_georeferencing(tmp_path):
    rng = np.random.default_rng(1)
    p = _tif(tmp_path / "p.tif", rng.integers(0, 255, (16, 16)).astype(np.uint8), crs=None)
    m = _tif(tmp_path / "m.tif", rng.integers(0, 255, (3, 4, 4)).astype(np.uint8), crs=None)
    pan, ms, info = read_pair(p, m)
    assert info.ratio == 4 and not info.georeferenced
    m_bad = _tif(tmp_path / "m5.tif", rng.integers(0, 255, (3, 5, 4)).astype(np.uint8), crs=None)
    with pytest.raises(ShapeError, match="exactly ratio x the MS size"):
        read_pair(p, m_bad)


def test_different_crs(tmp_path):
    p, m, *_ = _pair(tmp_path, ms_crs="EPSG:32614")
    with pytest.raises(DataFormatError, match="different CRS"):
        read_pair(p, m)


def test_ratio_not_integer_or_not_requested(tmp_path):
    p, m, *_ = _pair(tmp_path, ratio=3.5, ms_size=(11, 13))
    with pytest.raises(ShapeError, match="not an integer multiple"):
        read_pair(p, m)
    p, m, *_ = _pair(tmp_path, ratio=2, ms_size=(20, 24))
    with pytest.raises(ShapeError, match="ratio of 2, not the requested 4"):
        read_pair(p, m, ratio=4)


def test_a_ratio_off_by_a_small_drift_is_fused_at_the_whole_ratio(tmp_path):
    # 10 x 12 MS pixels of 4.0004 PAN pixels: placed at 4 i, the last lands 0.0048 PAN pixels off (< 0.25)
    p, m, pan, ms = _pair(tmp_path, ratio=4.0004)
    with pytest.warns(UserWarning, match=r"not exactly 4: fused as ratio 4, .* up to 0.0048 PAN pixels off"):
        got_pan, got_ms, info = read_pair(p, m)
    assert info.ratio == 4
    np.testing.assert_array_equal(got_ms, ms)
    np.testing.assert_array_equal(got_pan[0], pan)
    # 4.03: 0.36 PAN pixels off at the far edge, refused with the drift in the message
    p, m, *_ = _pair(tmp_path, ratio=4.03)
    with pytest.raises(ShapeError, match=r"as ratio 4 the MS would drift up to 0.36 PAN pixels off .* over the 0.25"):
        read_pair(p, m)
    # exact pixel sizes to float rounding: no warning
    p, m, *_ = _pair(tmp_path, ratio=4.0 * (1 + 1e-12))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        read_pair(p, m)


def test_grids_off_pixel_corners_get_a_phase(tmp_path):
    # MS origin 0.25 m = half a PAN pixel right of the PAN's, 0.75 m = 1.5 PAN pixels down
    p, m, *_ = _pair(tmp_path, ms_origin=(1000.25, 2000.0 - 0.75))
    with pytest.warns(UserWarning, match="off the PAN pixel corners"):
        _, _, info = read_pair(p, m)
    assert info.phase == (pytest.approx(-0.5), pytest.approx(0.5))  # rows: 1.5 = 2 - 0.5
    assert info.as_dict()["phase"] == [pytest.approx(-0.5), pytest.approx(0.5)]
    p, m, *_ = _pair(tmp_path, ms_origin=(1000.0002, 2000.0))  # within 1e-3 PAN px: aligned
    assert read_pair(p, m)[2].phase == (0.0, 0.0)


def _placeholder_pair(tmp_path, pan_origin=(0.25, -0.25), ms_origin=(1.0, -1.0), ms_size=(10, 12)):
    """MATLAB's placeholder georeferences: each corner half a pixel from the CRS origin (0.5 m PAN, 2 m MS)."""
    rng = np.random.default_rng(1)
    pan = rng.integers(0, 2048, (40, 48)).astype(np.uint16)
    ms = rng.integers(0, 2048, (4, *ms_size)).astype(np.uint16)
    return (_tif(tmp_path / "pan.tif", pan, Affine(0.5, 0, pan_origin[0], 0, -0.5, pan_origin[1])),
            _tif(tmp_path / "ms.tif", ms, Affine(2.0, 0, ms_origin[0], 0, -2.0, ms_origin[1])), pan, ms)


def test_placeholder_georeferences_are_taken_as_the_arrays(tmp_path):
    # read as coordinates the MS corner lies 1.5 PAN pixels right of and below the PAN's
    p, m, pan, ms = _placeholder_pair(tmp_path)
    with rasterio.open(p) as pan_ds, rasterio.open(m) as ms_ds:
        assert placeholder_grid(pan_ds) and placeholder_grid(ms_ds)
        assert pair_phase(pan_ds, ms_ds) == (0.0, 0.0)
    with pytest.warns(UserWarning, match=r"placeholder georeferences .* not \+1.5, \+1.5 PAN pixels apart"):
        got_pan, got_ms, info = read_pair(p, m)
    np.testing.assert_array_equal(got_pan[0], pan)  # the whole arrays, nothing cut
    np.testing.assert_array_equal(got_ms, ms)
    assert info.phase == (0.0, 0.0) and info.pan_window == Window(0, 40, 0, 48)
    p, m, *_ = _placeholder_pair(tmp_path, ms_size=(9, 12))  # the sizes must then match exactly
    with pytest.raises(ShapeError, match="with placeholder georeferences the PAN must be exactly ratio x"):
        read_pair(p, m)
    # ... at the ratio of the placeholders' pixel sizes (2 m on 0.5 m: 4), not one the sizes alone suggest
    p, m, *_ = _placeholder_pair(tmp_path, ms_size=(20, 24))
    with pytest.raises(ShapeError, match=r"exactly ratio x the MS size \(ratio 4\)"):
        read_pair(p, m)


def test_real_coordinates_near_a_placeholder_keep_their_offset(tmp_path):
    # the same 1.5-pixel offset 1000 m from the origin is a measurement: phase and cut as before
    p, m, *_ = _placeholder_pair(tmp_path, pan_origin=(1000.25, 999.75), ms_origin=(1001.0, 999.0))
    with rasterio.open(p) as pan_ds, rasterio.open(m) as ms_ds:
        assert not placeholder_grid(pan_ds) and not placeholder_grid(ms_ds)
        assert pair_phase(pan_ds, ms_ds) == (pytest.approx(-0.5), pytest.approx(-0.5))
    # corners on the origin itself (synthetic grids, rasterio's from_origin(0, 0, ...)): coordinates, offset kept
    p, m, *_ = _placeholder_pair(tmp_path, pan_origin=(0.0, 0.0), ms_origin=(0.25, -0.25))
    with rasterio.open(p) as pan_ds, rasterio.open(m) as ms_ds:
        assert not placeholder_grid(pan_ds) and not placeholder_grid(ms_ds)
        assert pair_phase(pan_ds, ms_ds) == (pytest.approx(0.5), pytest.approx(0.5))
    # one placeholder and one real grid: not a placeholder pair, the coordinates are used (and do not overlap)
    p, m, *_ = _placeholder_pair(tmp_path, ms_origin=(1001.0, 999.0))
    with rasterio.open(p) as pan_ds, rasterio.open(m) as ms_ds:
        assert placeholder_grid(pan_ds) and not placeholder_grid(ms_ds)
    with pytest.raises(ShapeError, match="do not overlap"):
        read_pair(p, m)


def test_no_overlap(tmp_path):
    p, m, *_ = _pair(tmp_path, ms_origin=(5000.0, 2000.0))
    with pytest.raises(ShapeError, match="do not overlap"):
        read_pair(p, m)


def test_pan_with_several_bands(tmp_path):
    p, m, *_ = _pair(tmp_path)
    with pytest.raises(ShapeError, match="swap PAN and MS"):
        read_pair(m, p)


def test_complex_dtype_refused(tmp_path):
    p, m, *_ = _pair(tmp_path)
    c = _tif(tmp_path / "c.tif", np.ones((4, 10, 12), np.complex64), Affine(2, 0, 1000, 0, -2, 2000))
    with pytest.raises(DataFormatError, match="pixel type complex64"):
        read_pair(p, c)


def test_missing_and_truncated_files(tmp_path):
    p, m, *_ = _pair(tmp_path)
    with pytest.raises(DataFormatError, match="no such file"):
        read_pair(tmp_path / "none.tif", m)
    cut = tmp_path / "cut.tif"
    cut.write_bytes(m.read_bytes()[:200])
    with pytest.raises(DataFormatError, match="truncated or corrupt"):
        read_pair(p, cut)


def test_write_image_atomic_and_refuses_overwrite(tmp_path):
    p, m, pan, ms = _pair(tmp_path)
    arr, profile = read_image(m)
    out = tmp_path / "out" / "copy.tif"
    out.parent.mkdir()
    profile["descriptions"] = ("B", "G", "R", "N")
    write_image(out, arr, profile)
    back, prof2 = read_image(out)
    np.testing.assert_array_equal(back, ms)
    assert prof2["transform"] == profile["transform"] and prof2["descriptions"] == ("B", "G", "R", "N")
    with pytest.raises(OutputExistsError):
        write_image(out, arr, profile)
    assert [f.name for f in out.parent.iterdir()] == ["copy.tif"]


def test_find_pair_in_folder(tmp_path):
    p, m, *_ = _pair(tmp_path)
    assert find_pair(tmp_path) == (p, m)
    _tif(tmp_path / "pan2.tif", np.zeros((8, 8), np.uint16), Affine(0.5, 0, 1000, 0, -0.5, 2000))
    with pytest.raises(DataFormatError, match="PAN.tif:MS.tif"):
        find_pair(tmp_path)
