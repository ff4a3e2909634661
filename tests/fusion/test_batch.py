"""`pansharpen fuse --batch`, `--device`, and the output options of `fuse`."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine

from pansharpen.cli import main
from pansharpen.errors import ModelError
from pansharpen.fusion.batch import batch_items, find_products, fuse_batch, summary_table
from pansharpen.fusion.fusers import resolve_device
from pansharpen.io.geotiff import read_provenance


def _write(path, arr, transform):
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=arr.shape[2], height=arr.shape[1], count=arr.shape[0],
                       dtype="uint16", crs="EPSG:32613", transform=transform) as dst:
        dst.write(np.rint(arr).astype("uint16"))
    return path


def _product(pan_path, ms_path, seed=0):
    rng = np.random.default_rng(seed)
    ms = rng.uniform(100, 1500, (4, 12, 12))
    pan = np.repeat(np.repeat(ms.mean(0, keepdims=True), 4, 1), 4, 2) + rng.normal(0, 20, (1, 48, 48))
    _write(pan_path, np.clip(pan, 0, 2047), Affine(0.6, 0, 0, 0, -0.6, 0))
    _write(ms_path, ms, Affine(2.4, 0, 0, 0, -2.4, 0))


def test_products_found_by_name_conventions(tmp_path):
    _product(tmp_path / "a" / "pan.tif", tmp_path / "a" / "ms.tif")
    _product(tmp_path / "b" / "scene1_PAN.TIF", tmp_path / "b" / "scene1_MS.TIF")
    _product(tmp_path / "c" / "X_PAN" / "x.TIF", tmp_path / "c" / "X_MUL" / "x.TIF")
    (tmp_path / "b" / "notes.tif").write_text("not a raster")
    names = [name for name, _, _ in find_products(tmp_path)]
    assert names == ["X", "a", "scene1"]


def test_batch_reports_a_failure_and_goes_on(tmp_path):
    _product(tmp_path / "in" / "one" / "pan.tif", tmp_path / "in" / "one" / "ms.tif")
    _product(tmp_path / "in" / "two" / "pan.tif", tmp_path / "in" / "two" / "ms.tif", seed=1)
    (tmp_path / "in" / "bad").mkdir()
    (tmp_path / "in" / "bad" / "pan.tif").write_bytes(b"broken")
    (tmp_path / "in" / "bad" / "ms.tif").write_bytes(b"broken")
    items = batch_items(tmp_path / "in", tmp_path / "out")
    results = fuse_batch(items, method="brovey", sensor="QB")
    assert [r.item.name for r in results] == ["bad", "one", "two"]
    assert [r.ok for r in results] == [False, True, True]
    assert (tmp_path / "out" / "one.tif").exists() and not (tmp_path / "out" / "bad.tif").exists()
    table = summary_table(results)
    assert "FAILED" in table and "2 of 3 products fused, 1 failed" in table


def test_batch_cli_with_a_csv_list(tmp_path, capsys):
    _product(tmp_path / "p1.tif", tmp_path / "m1.tif")
    _product(tmp_path / "p2.tif", tmp_path / "m2.tif", seed=2)
    (tmp_path / "list.csv").write_text("pan,ms,out\np1.tif,m1.tif,o/f1.tif\np2.tif,m2.tif,o/f2.tif\n")
    code = main(["fuse", "--batch", str(tmp_path / "list.csv"), "--method", "brovey", "--sensor", "QB", "--quiet",
                 "--compress", "zstd", "--no-overviews"])
    assert code == 0
    out = capsys.readouterr().out
    assert "2 of 2 products fused" in out
    with rasterio.open(tmp_path / "o" / "f2.tif") as ds:
        assert ds.compression.name.lower() == "zstd" and ds.overviews(1) == []
    assert read_provenance(tmp_path / "o" / "f2.tif")["method"] == "brovey"
    (tmp_path / "bad.csv").write_text("pan,ms,out\np1.tif,missing.tif,o/f3.tif\n")
    assert main(["fuse", "--batch", str(tmp_path / "bad.csv"), "--method", "brovey", "--quiet"]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_batch_cli_argument_errors(tmp_path, capsys):
    assert main(["fuse", "--batch", str(tmp_path), "--method", "brovey"]) == 2
    assert "--out-dir" in capsys.readouterr().err
    assert main(["fuse", "--method", "brovey"]) == 2
    assert "PAN MS OUT" in capsys.readouterr().err


def test_device_option():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ModelError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="no CUDA device"):
            resolve_device("cuda")


def test_device_cuda_refused_by_the_cli_when_absent(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    _product(tmp_path / "p.tif", tmp_path / "m.tif")
    code = main(["fuse", str(tmp_path / "p.tif"), str(tmp_path / "m.tif"), str(tmp_path / "o.tif"), "--method",
                 "brovey", "--device", "cuda", "--quiet"])
    assert code == 2 and "no CUDA device" in capsys.readouterr().err
    assert not (tmp_path / "o.tif").exists()


@pytest.mark.slow
def test_batch_on_a_local_dask_cluster(tmp_path):
    pytest.importorskip("distributed")
    for name in ("one", "two"):
        _product(tmp_path / "in" / name / "pan.tif", tmp_path / "in" / name / "ms.tif", seed=len(name))
    items = batch_items(tmp_path / "in", tmp_path / "out")
    serial = fuse_batch(items[:1], method="brovey", sensor="QB")
    results = fuse_batch(batch_items(tmp_path / "in", tmp_path / "dask"), workers=2, method="brovey", sensor="QB")
    assert [r.ok for r in results] == [True, True] and [r.item.name for r in results] == ["one", "two"]
    with rasterio.open(serial[0].item.out) as a, rasterio.open(tmp_path / "dask" / "one.tif") as b:
        np.testing.assert_array_equal(a.read(), b.read())
