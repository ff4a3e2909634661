"""Streamed full-resolution indices equal the whole-image computation."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from pansharpen.evaluation.evaluate import evaluate_full
from pansharpen.evaluation.streamed import expand_rows, low_resolution_pan, streamed_full_indices
from pansharpen.metrics.full import full_resolution_indices
from pansharpen.protocol.interp import interp23tap
from pansharpen.protocol.resize import imresize

KEYS = ("D_lambda", "D_s", "QNR", "D_lambda_K", "HQNR")


def _scene(c=4, h=21, w=26, ratio=4, seed=0):
    rng = np.random.default_rng(seed)
    ms = np.round(ndimage.gaussian_filter(rng.uniform(100, 1500, (c, h, w)), (0, 1.5, 1.5)))
    pan = np.round(ndimage.gaussian_filter(rng.uniform(100, 1500, (1, h * ratio, w * ratio)), (0, 2, 2)))
    fused = np.clip(interp23tap(ms, ratio) + 0.5 * (pan - pan.mean()) + rng.normal(0, 5, (c, h * ratio, w * ratio)),
                    0, 2047)
    return ms, pan, np.round(fused)


def test_expand_rows_and_low_pan_are_exact():
    ms, pan, _ = _scene(h=9, w=7)
    whole = interp23tap(ms, 4)
    for r0, r1 in ((0, 8), (8, 20), (28, 36), (0, 36)):
        np.testing.assert_array_equal(expand_rows(ms, r0, r1, 4), whole[:, r0:r1])
    low = low_resolution_pan(lambda a, b: pan[:, a:b], pan.shape[1], 4, strip_lr=2)
    np.testing.assert_array_equal(low, imresize(pan, 0.25)[0])


@pytest.mark.parametrize("strip", [32, 64, 1000])
def test_streamed_equals_whole_image(strip):
    ms, pan, fused = _scene()  # PAN 84 x 104: cut to 64 x 96
    expected = full_resolution_indices(fused, ms, pan, "QB", ratio=4, crop_to_blocks=True)
    got = streamed_full_indices(lambda a, b: fused[:, a:b], lambda a, b: pan[:, a:b], ms, "QB", 4, strip=strip)
    for k in KEYS:
        assert got[k] == pytest.approx(expected[k], abs=1e-9)
    assert got["cropped_to"] == expected["cropped_to"] == [64, 96]


def _write(path, arr, transform, dtype="uint16", nodata=None):
    import rasterio
    from rasterio.crs import CRS

    with rasterio.open(path, "w", driver="GTiff", width=arr.shape[2], height=arr.shape[1], count=arr.shape[0],
                       dtype=dtype, crs=CRS.from_epsg(32633), transform=transform, nodata=nodata) as ds:
        ds.write(arr.astype(dtype))


def test_geotiff_scene_streamed_with_note(tmp_path):
    from affine import Affine

    ms, pan, fused = _scene()
    pan_t = Affine(0.5, 0, 500000, 0, -0.5, 4500000)
    ms_t = Affine(2.0, 0, 500000, 0, -2.0, 4500000)
    _write(tmp_path / "ms.tif", ms, ms_t)
    _write(tmp_path / "pan.tif", pan, pan_t)
    _write(tmp_path / "fused.tif", fused, pan_t)
    result = evaluate_full(tmp_path / "ms.tif", tmp_path / "pan.tif", tmp_path / "fused.tif", sensor="QB", ratio=None,
                           strip=32)
    expected = full_resolution_indices(fused, ms, pan, "QB", ratio=4, crop_to_blocks=True)
    for k in KEYS:
        assert result.rows[0][k] == pytest.approx(expected[k], abs=1e-9)
    assert result.settings["cropped_to"] == [[64, 96]]
    assert result.settings["ratio"] == 4
    assert "note: images cut to 64 x 96" in result.table()


def test_fused_on_the_whole_pan_reads_the_overlap(tmp_path):
    """fuse writes the whole PAN grid; when the MS covers less, the overlap is evaluated."""
    from affine import Affine

    ms, pan, fused = _scene(h=16, w=16)
    pan_big = np.pad(pan, ((0, 0), (8, 0), (4, 0)), mode="edge")  # the PAN reaches 8 rows / 4 cols further
    fused_big = np.pad(fused, ((0, 0), (8, 0), (4, 0)), mode="edge")
    pan_t = Affine(0.5, 0, 500000 - 4 * 0.5, 0, -0.5, 4500000 + 8 * 0.5)
    _write(tmp_path / "ms.tif", ms, Affine(2.0, 0, 500000, 0, -2.0, 4500000))
    _write(tmp_path / "pan.tif", pan_big, pan_t)
    _write(tmp_path / "fused.tif", fused_big, pan_t)
    result = evaluate_full(tmp_path / "ms.tif", tmp_path / "pan.tif", tmp_path / "fused.tif", sensor="QB", ratio=4)
    expected = full_resolution_indices(fused, ms, pan, "QB", ratio=4)  # 64 x 64: whole blocks, no cut
    for k in KEYS:
        assert result.rows[0][k] == pytest.approx(expected[k], abs=1e-9)
    assert result.settings["pan_window"] == [[8, 72], [4, 68]] and result.settings["cropped_to"] is None


def test_normalised_float_scene_is_rescaled_like_the_whole_image(tmp_path):
    from affine import Affine

    ms, pan, fused = _scene(h=8, w=8)
    _write(tmp_path / "ms.tif", ms, Affine(2.0, 0, 500000, 0, -2.0, 4500000))
    _write(tmp_path / "pan.tif", pan, Affine(0.5, 0, 500000, 0, -0.5, 4500000))
    _write(tmp_path / "fused.tif", fused / 2047.0, Affine(0.5, 0, 500000, 0, -0.5, 4500000), dtype="float32")
    args = (tmp_path / "ms.tif", tmp_path / "pan.tif", tmp_path / "fused.tif")
    with pytest.warns(UserWarning, match="multiplied by max_value=2047"):
        result = evaluate_full(*args, sensor="QB")
    expected = full_resolution_indices((fused / 2047.0).astype(np.float32).astype(float) * 2047, ms, pan, "QB", ratio=4)
    assert result.rows[0]["HQNR"] == pytest.approx(expected["HQNR"], abs=1e-9)
