"""``pansharpen simulate`` through ``pansharpen.cli.main``."""
from __future__ import annotations

import numpy as np
import rasterio
from rasterio.transform import Affine

from pansharpen.cli import main
from pansharpen.io.pancollection import open_pancollection


def _pair(tmp_path, rows=64, cols=64):
    rng = np.random.default_rng(0)
    ms = rng.integers(200, 1800, (4, rows, cols)).astype(np.uint16)
    pan = np.repeat(np.repeat(ms.mean(axis=0), 4, 0), 4, 1)[None].astype(np.uint16)
    for name, arr, px in (("pan.tif", pan, 0.5), ("ms.tif", ms, 2.0)):
        with rasterio.open(tmp_path / name, "w", driver="GTiff", count=arr.shape[0], height=arr.shape[1],
                           width=arr.shape[2], dtype="uint16", crs="EPSG:32613",
                           transform=Affine(px, 0, 100, 0, -px, 900)) as ds:
            ds.write(arr)
    return tmp_path / "pan.tif", tmp_path / "ms.tif"


ARGS = ["--sensor", "QB", "--patch", "16", "--stride", "16", "--val-fraction", "0.25", "--test-block", "16", "-q"]


def test_simulate_writes_three_files(tmp_path, capsys):
    pan, ms = _pair(tmp_path)
    out = tmp_path / "set.h5"
    assert main(["simulate", f"{pan}:{ms}", "--out", str(out), *ARGS, "--augment", "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    for split in ("train", "valid", "test"):
        path = tmp_path / f"set_{split}.h5"
        assert str(path) in printed
        with open_pancollection(path) as f:
            assert f.keys == ["gt", "ms", "lms", "pan"] and f.shape("ms")[1:] == (4, 4, 4)
            assert f.attrs["seed"] == 3 and f.attrs["augment"] is True and f.attrs["split"] == split
    # 64 rows: test 16, valid 16, train 32 -> 2 x 4 patches, doubled by --augment
    with open_pancollection(tmp_path / "set_train.h5") as f:
        assert len(f) == 16


def test_simulate_from_a_folder(tmp_path):
    _pair(tmp_path)
    assert main(["simulate", str(tmp_path), "--out", str(tmp_path / "d.h5"), *ARGS]) == 0
    assert (tmp_path / "d_train.h5").is_file()


def test_simulate_errors_exit_2(tmp_path, capsys):
    pan, ms = _pair(tmp_path)
    out = str(tmp_path / "set.h5")
    assert main(["simulate", f"{pan}:{tmp_path / 'x.tif'}", "--out", out, *ARGS]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["simulate", f"{ms}:{pan}", "--out", out, *ARGS]) == 2
    assert "swap PAN and MS" in capsys.readouterr().err
    assert main(["simulate", f"{pan}:{ms}", "--out", out, *ARGS]) == 0
    assert main(["simulate", f"{pan}:{ms}", "--out", out, *ARGS]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["simulate", f"{pan}:{ms}", "--out", out, *ARGS, "--compression", "zip"]) == 2
