"""Evaluation runs over files: formats, layouts, provenance and bad inputs."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import rasterio
import scipy.io
from rasterio.transform import Affine

from pansharpen.errors import DataFormatError, ShapeError, ValueRangeError
from pansharpen.io.pancollection import write_pancollection
from pansharpen.metrics.reduced import reduced_resolution_indices
from pansharpen.evaluation.evaluate import FULL_KEYS, REDUCED_KEYS, evaluate_full, evaluate_reduced


def _images(n=3, c=4, size=64, seed=0):
    rng = np.random.default_rng(seed)
    gt = rng.uniform(100, 2000, (n, c, size, size))
    fused = gt + rng.normal(0, 25, gt.shape)
    return gt, fused


def _tif(path, arr, transform=Affine(1, 0, 500, 0, -1, 900), crs="EPSG:32613"):
    with rasterio.open(path, "w", driver="GTiff", count=arr.shape[0], height=arr.shape[1], width=arr.shape[2],
                       dtype=arr.dtype.name, transform=transform, crs=crs) as ds:
        ds.write(arr)
    return path


def test_reduced_h5_matches_direct_metrics(tmp_path):
    gt, fused = _images()
    path = tmp_path / "test.h5"
    write_pancollection(path, {"gt": gt, "sr": fused}, {})
    result = evaluate_reduced(path, path, ratio=4, crop=0)
    assert result.protocol == "reduced-resolution" and result.keys == REDUCED_KEYS
    assert len(result.rows) == 3
    for i in range(3):
        expected = reduced_resolution_indices(gt[i], fused[i], ratio=4)
        for k in REDUCED_KEYS:
            assert result.rows[i][k] == pytest.approx(expected[k], rel=1e-12)
    stats = result.summary()
    sams = [r["SAM"] for r in result.rows]
    assert stats["SAM"][0] == pytest.approx(np.mean(sams))
    assert stats["SAM"][1] == pytest.approx(np.std(sams, ddof=1))
    assert result.settings["crop"] == 0 and result.settings["ratio"] == 4
    assert result.inputs["reference"]["key"] == "gt" and result.inputs["fused"]["key"] == "sr"


def test_crop_is_applied(tmp_path):
    gt, fused = _images(n=1)
    path = tmp_path / "t.h5"
    write_pancollection(path, {"gt": gt, "output": fused}, {})
    result = evaluate_reduced(path, path, crop=5)
    expected = reduced_resolution_indices(gt[0][:, 4:-5, 4:-5], fused[0][:, 4:-5, 4:-5])
    assert result.rows[0]["ERGAS"] == pytest.approx(expected["ERGAS"], rel=1e-12)
    assert result.settings["crop"] == 5


def test_geotiff_reference_and_npy_fused_hand_computed(tmp_path):
    # fused = reference + 0.04 * band mean: MSE_b / mu_b^2 = 0.04^2, so ERGAS = 100/4 * 0.04 = 1.0
    rng = np.random.default_rng(3)
    ref = rng.integers(200, 1800, (4, 64, 48)).astype(np.uint16)
    means = ref.reshape(4, -1).mean(axis=1)
    fused = ref + 0.04 * means[:, None, None]
    _tif(tmp_path / "ref.tif", ref)
    np.save(tmp_path / "fused.npy", fused.transpose(1, 2, 0))  # rows x cols x bands
    result = evaluate_reduced(tmp_path / "ref.tif", tmp_path / "fused.npy", ratio=4)
    assert result.rows[0]["ERGAS"] == pytest.approx(1.0, rel=1e-9)
    identical = evaluate_reduced(tmp_path / "ref.tif", tmp_path / "ref.tif")
    assert identical.rows[0]["Q2n"] == pytest.approx(1.0)
    assert identical.rows[0]["SAM"] == pytest.approx(0.0, abs=1e-6)
    assert identical.rows[0]["ERGAS"] == pytest.approx(0.0, abs=1e-9)


def test_mat_v5_reference_and_explicit_key(tmp_path):
    gt, fused = _images(n=1)
    scipy.io.savemat(tmp_path / "img.mat", {"gt": gt[0].transpose(1, 2, 0), "pred": fused[0].transpose(1, 2, 0)})
    result = evaluate_reduced(tmp_path / "img.mat", f"{tmp_path / 'img.mat'}:pred")
    expected = reduced_resolution_indices(gt[0], fused[0])
    assert result.rows[0]["Q2n"] == pytest.approx(expected["Q2n"], rel=1e-12)
    assert result.inputs["fused"]["key"] == "pred"


def test_json_and_csv_files_carry_provenance(tmp_path):
    gt, fused = _images(n=2)
    path = tmp_path / "t.h5"
    write_pancollection(path, {"gt": gt, "fused": fused}, {})
    result = evaluate_reduced(path, path, crop=2, sensor="WV3")
    result.write_json(tmp_path / "out.json")
    result.write_csv(tmp_path / "out.csv")
    data = json.loads((tmp_path / "out.json").read_text())
    assert data["protocol"] == "reduced-resolution"
    assert data["crop"] == 2 and data["sensor"] == "WV3" and data["ratio"] == 4
    assert len(data["images"]) == 2 and set(data["mean"]) == set(REDUCED_KEYS)
    lines = (tmp_path / "out.csv").read_text().splitlines()
    comments = [ln for ln in lines if ln.startswith("#")]
    assert any("crop: 2" in ln for ln in comments) and any("WV3" in ln for ln in comments)
    table = list(csv.reader([ln for ln in lines if not ln.startswith("#")]))
    assert table[0] == ["image", *REDUCED_KEYS]
    assert [row[0] for row in table[1:]] == ["t.h5:fused[0]", "t.h5:fused[1]", "mean", "std"]
    assert float(table[1][3]) == pytest.approx(result.rows[0]["SAM"], rel=1e-12)


def test_table_text(tmp_path):
    gt, fused = _images(n=2)
    path = tmp_path / "t.h5"
    write_pancollection(path, {"gt": gt, "sr": fused}, {})
    text = evaluate_reduced(path, path).table()
    assert "Q2n" in text and "mean" in text and "±" in text


# -- bad input -----------------------------------------------------------------------------------
def test_band_count_mismatch(tmp_path):
    gt, fused = _images(n=1)
    np.save(tmp_path / "ref.npy", gt[0].transpose(1, 2, 0))
    np.save(tmp_path / "fus.npy", fused[0, :3].transpose(1, 2, 0))
    with pytest.raises(ShapeError, match="4 bands but fus.npy has 3"):
        evaluate_reduced(tmp_path / "ref.npy", tmp_path / "fus.npy")


def test_image_count_and_size_mismatch(tmp_path):
    gt, fused = _images(n=3)
    write_pancollection(tmp_path / "ref.h5", {"gt": gt}, {})
    write_pancollection(tmp_path / "two.h5", {"sr": fused[:2]}, {})
    with pytest.raises(ShapeError, match="different numbers of images"):
        evaluate_reduced(tmp_path / "ref.h5", tmp_path / "two.h5")
    write_pancollection(tmp_path / "small.h5", {"sr": fused[..., :32, :32]}, {})
    with pytest.raises(ShapeError, match="reference's grid"):
        evaluate_reduced(tmp_path / "ref.h5", tmp_path / "small.h5")


def test_nan_in_fused_names_the_image(tmp_path):
    gt, fused = _images(n=2)
    fused[1, 0, 3, 3] = np.nan
    write_pancollection(tmp_path / "ref.h5", {"gt": gt}, {})
    with __import__("h5py").File(tmp_path / "fus.h5", "w") as f:  # the writer refuses NaN itself
        f["sr"] = fused
    with pytest.raises(ValueRangeError, match=r"fus.h5:sr\[1\] contains NaN"):
        evaluate_reduced(tmp_path / "ref.h5", tmp_path / "fus.h5")


def test_missing_key_and_file_and_format(tmp_path):
    gt, fused = _images(n=1)
    write_pancollection(tmp_path / "ref.h5", {"gt": gt, "ms": gt[..., ::4, ::4]}, {})
    with pytest.raises(DataFormatError, match="no sr / fused / output key.*gt, ms"):
        evaluate_reduced(tmp_path / "ref.h5", tmp_path / "ref.h5")
    with pytest.raises(DataFormatError, match="no such file"):
        evaluate_reduced(tmp_path / "nope.h5", tmp_path / "ref.h5")
    (tmp_path / "x.png").write_bytes(b"x")
    with pytest.raises(DataFormatError, match="unknown file type"):
        evaluate_reduced(tmp_path / "x.png", tmp_path / "ref.h5")


def test_normalised_float_refused_without_sensor(tmp_path):
    gt, fused = _images(n=1)
    write_pancollection(tmp_path / "ref.h5", {"gt": gt}, {})
    np.save(tmp_path / "fus.npy", (fused[0] / 4095.0).transpose(1, 2, 0))
    np.save(tmp_path / "ref.npy", (gt[0] / 4095.0).transpose(1, 2, 0))
    with pytest.raises(ValueRangeError, match="normalised"):
        evaluate_reduced(tmp_path / "ref.npy", tmp_path / "fus.npy")
    with pytest.warns(UserWarning, match="normalised"):
        scaled = evaluate_reduced(tmp_path / "ref.npy", tmp_path / "fus.npy", max_value=4095)
    direct = reduced_resolution_indices(gt[0], fused[0])
    assert scaled.rows[0]["ERGAS"] == pytest.approx(direct["ERGAS"], rel=1e-9)


# -- full resolution -----------------------------------------------------------------------------
def _full_set(tmp_path, n=2, c=4, size=64, seed=1):
    rng = np.random.default_rng(seed)
    ms = rng.uniform(100, 2000, (n, c, size // 4, size // 4))
    lms = np.repeat(np.repeat(ms, 4, axis=2), 4, axis=3)
    pan = lms.mean(axis=1, keepdims=True) + rng.normal(0, 5, (n, 1, size, size))
    fused = lms + rng.normal(0, 10, lms.shape)
    write_pancollection(tmp_path / "full.h5", {"ms": ms, "lms": lms, "pan": pan}, {"sensor": "QB"})
    write_pancollection(tmp_path / "out.h5", {"sr": fused}, {})
    return ms, lms, pan, fused


def test_full_resolution_ratio_mismatch(tmp_path):
    rng = np.random.default_rng(0)
    write_pancollection(tmp_path / "full.h5", {"ms": rng.uniform(1, 2, (1, 4, 16, 16)),
                                               "pan": rng.uniform(1, 2, (1, 1, 48, 48))}, {})
    write_pancollection(tmp_path / "out.h5", {"sr": rng.uniform(1, 2, (1, 4, 48, 48))}, {})
    with pytest.raises(ShapeError, match="PAN must be 64 x 64"):
        evaluate_full(tmp_path / "full.h5", tmp_path / "full.h5", tmp_path / "out.h5", ratio=4)


def test_full_resolution_matches_direct_metrics(tmp_path):
    full = pytest.importorskip("pansharpen.metrics.full", reason="metrics.full not written yet")
    ms, lms, pan, fused = _full_set(tmp_path)
    result = evaluate_full(tmp_path / "full.h5", tmp_path / "full.h5", tmp_path / "out.h5")
    assert result.keys == FULL_KEYS and result.protocol == "full-resolution"
    assert result.settings["sensor"] == "QB" and result.settings["ms_exp"] == "lms"
    for i in range(2):
        expected = full.full_resolution_indices(fused[i], ms[i], pan[i], "QB", ratio=4, ms_exp=lms[i])
        for k in FULL_KEYS:
            assert result.rows[i][k] == pytest.approx(expected[k], rel=1e-12)
    named = evaluate_full(f"{tmp_path / 'full.h5'}:ms", tmp_path / "full.h5", tmp_path / "out.h5")
    assert named.settings["ms_exp"] == "lms" and named.rows == result.rows


def test_full_resolution_geotiff_pair(tmp_path):
    full = pytest.importorskip("pansharpen.metrics.full", reason="metrics.full not written yet")
    rng = np.random.default_rng(2)
    ms = rng.integers(100, 2000, (4, 16, 16)).astype(np.uint16)
    pan = np.repeat(np.repeat(ms.mean(axis=0), 4, 0), 4, 1)[None].astype(np.uint16)
    fused = np.repeat(np.repeat(ms, 4, 1), 4, 2).astype(np.float64) + rng.normal(0, 5, (4, 64, 64))
    _tif(tmp_path / "ms.tif", ms, Affine(2, 0, 500, 0, -2, 900))
    _tif(tmp_path / "pan.tif", pan, Affine(0.5, 0, 500, 0, -0.5, 900))
    np.save(tmp_path / "fused.npy", fused.transpose(1, 2, 0))
    result = evaluate_full(tmp_path / "ms.tif", tmp_path / "pan.tif", tmp_path / "fused.npy", sensor="QB")
    expected = full.full_resolution_indices(fused, ms.astype(float), pan.astype(float), "QB", ratio=4)
    for k in FULL_KEYS:
        assert result.rows[0][k] == pytest.approx(expected[k], rel=1e-9)


def test_full_resolution_block_multiples(tmp_path):
    full = pytest.importorskip("pansharpen.metrics.full", reason="metrics.full not written yet")
    rng = np.random.default_rng(5)
    ms = rng.uniform(100, 2000, (1, 4, 10, 10))  # PAN 40 x 40: not a multiple of the 32-pixel block
    lms = np.repeat(np.repeat(ms, 4, axis=2), 4, axis=3)
    pan = lms.mean(axis=1, keepdims=True)
    sr = lms + rng.normal(0, 5, lms.shape)
    write_pancollection(tmp_path / "f.h5", {"ms": ms, "lms": lms, "pan": pan, "sr": sr}, {})
    p = tmp_path / "f.h5"
    with pytest.raises(ShapeError, match="multiples of the block size 32"):
        evaluate_full(p, p, p, sensor="QB", crop_to_blocks=False)
    result = evaluate_full(p, p, p, sensor="QB")  # the default cuts to whole blocks, with a note
    expected = full.full_resolution_indices(sr[0], ms[0], pan[0], "QB", ms_exp=lms[0], crop_to_blocks=True)
    assert result.rows[0]["HQNR"] == pytest.approx(expected["HQNR"], rel=1e-12)
    assert result.settings["crop_to_blocks"] is True
    assert result.settings["cropped_to"] == [[32, 32]]
    assert "cut to 32 x 32" in result.table()


def test_full_resolution_without_sensor_warns(tmp_path):
    pytest.importorskip("pansharpen.metrics.full", reason="metrics.full not written yet")
    rng = np.random.default_rng(6)
    ms = rng.uniform(100, 2000, (1, 4, 8, 8))
    pan = np.repeat(np.repeat(ms.mean(axis=1, keepdims=True), 4, 2), 4, 3)
    write_pancollection(tmp_path / "f.h5", {"ms": ms, "pan": pan, "sr": np.repeat(np.repeat(ms, 4, 2), 4, 3)}, {})
    p = tmp_path / "f.h5"
    with pytest.warns(UserWarning, match="pass --sensor"):
        result = evaluate_full(p, p, p)
    assert result.settings["sensor"] == "none" and result.settings["ms_exp"] == "interp23tap"


def test_nodata_in_geotiff_warns(tmp_path):
    rng = np.random.default_rng(7)
    ref = rng.integers(200, 1800, (4, 48, 48)).astype(np.uint16)
    ref[:, :4, :4] = 0
    path = tmp_path / "ref.tif"
    with rasterio.open(path, "w", driver="GTiff", count=4, height=48, width=48, dtype="uint16", nodata=0,
                       transform=Affine(1, 0, 0, 0, -1, 48), crs="EPSG:32613") as ds:
        ds.write(ref)
    with pytest.warns(UserWarning, match="64 nodata"):
        evaluate_reduced(path, path)


def test_lone_output_array_of_another_name(tmp_path):
    gt, fused = _images(n=1)
    write_pancollection(tmp_path / "ref.h5", {"gt": gt}, {})
    write_pancollection(tmp_path / "net.h5", {"I_SR": fused, "ms": gt[..., ::4, ::4]}, {})
    result = evaluate_reduced(tmp_path / "ref.h5", tmp_path / "net.h5")
    assert result.inputs["fused"]["key"] == "i_sr"
    write_pancollection(tmp_path / "two.h5", {"a": fused, "b": fused}, {})
    with pytest.raises(DataFormatError, match="name one explicitly"):
        evaluate_reduced(tmp_path / "ref.h5", tmp_path / "two.h5")


def test_folder_of_outputs_in_natural_order(tmp_path):
    gt, fused = _images(n=11, size=32)
    write_pancollection(tmp_path / "test.h5", {"gt": gt}, {})
    out = tmp_path / "results"
    out.mkdir()
    for i in range(11):  # one .mat per image, H x W x C, named like DLPan outputs
        scipy.io.savemat(out / f"output_mulExm_{i}.mat", {"sr": fused[i].transpose(1, 2, 0)})
    result = evaluate_reduced(tmp_path / "test.h5", out)
    assert result.images[:3] == ["output_mulExm_0.mat", "output_mulExm_1.mat", "output_mulExm_2.mat"]
    assert result.images[10] == "output_mulExm_10.mat"  # natural order, not 1, 10, 2...
    for i in (2, 10):
        expected = reduced_resolution_indices(gt[i], fused[i])
        assert result.rows[i]["ERGAS"] == pytest.approx(expected["ERGAS"], rel=1e-12)
    assert result.inputs["fused"]["files"][10] == "output_mulExm_10.mat"
    scipy.io.savemat(out / "output_mulExm_11.mat", {"sr": fused[0, :3].transpose(1, 2, 0)})
    with pytest.raises(ShapeError, match="differ in shape"):
        evaluate_reduced(tmp_path / "test.h5", out)
