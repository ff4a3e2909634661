"""``pansharpen evaluate`` end to end through ``pansharpen.cli.main``."""
from __future__ import annotations

import json

import numpy as np
import pytest

from pansharpen.cli import main
from pansharpen.io.pancollection import write_pancollection
from pansharpen.metrics.reduced import reduced_resolution_indices

REDUCED = ["Q2n", "Q", "SAM", "ERGAS", "SCC"]
FULL = ["D_lambda", "D_s", "QNR", "D_lambda_K", "HQNR"]


@pytest.fixture()
def test_set(tmp_path):
    rng = np.random.default_rng(0)
    gt = rng.uniform(100, 2000, (2, 8, 64, 64))
    sr = gt + rng.normal(0, 30, gt.shape)
    path = tmp_path / "test.h5"
    write_pancollection(path, {"gt": gt, "sr": sr}, {"sensor": "WV3"})
    return path, gt, sr


def test_reduced_json_keys_and_values(test_set, capsys):
    path, gt, sr = test_set
    code = main(["evaluate", "--reference", str(path), "--fused", str(path), "--json", "--crop", "3"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert isinstance(out, list) and len(out) == 2
    for i, obj in enumerate(out):
        assert list(obj) == REDUCED
        expected = reduced_resolution_indices(gt[i], sr[i], ratio=4, crop=3)
        for k in REDUCED:
            assert obj[k] == pytest.approx(expected[k], rel=1e-12)


def test_single_image_prints_one_object(tmp_path, capsys):
    rng = np.random.default_rng(1)
    ref = rng.uniform(100, 2000, (64, 64, 4))
    np.save(tmp_path / "ref.npy", ref)
    np.save(tmp_path / "fus.npy", ref * 1.01)
    assert main(["evaluate", "--reference", str(tmp_path / "ref.npy"), "--fused", str(tmp_path / "fus.npy"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert isinstance(out, dict) and list(out) == REDUCED
    assert out["SAM"] == pytest.approx(0.0, abs=1e-6)  # a common scale does not change spectral angles


def test_table_csv_and_json_files(test_set, tmp_path, capsys):
    path, *_ = test_set
    csv_path, json_path = tmp_path / "r.csv", tmp_path / "r.json"
    code = main(["evaluate", "-r", str(path), "-f", str(path), "--sensor", "WV3", "--csv", str(csv_path),
                 "--out-json", str(json_path)])
    assert code == 0
    text = capsys.readouterr().out
    assert "Q2n" in text and "±" in text
    data = json.loads(json_path.read_text())
    assert data["protocol"] == "reduced-resolution" and data["sensor"] == "WV3" and data["crop"] == 0
    assert data["inputs"]["reference"]["key"] == "gt"
    assert "# protocol" in csv_path.read_text()


def test_errors_exit_2_with_one_line(test_set, tmp_path, capsys):
    path, gt, _ = test_set
    write_pancollection(tmp_path / "four.h5", {"sr": gt[:, :4]}, {})
    cases = [
        (["--reference", str(tmp_path / "missing.h5"), "--fused", str(path)], "no such file"),
        (["--reference", str(path), "--fused", str(tmp_path / "four.h5")], "8 bands"),
        (["--reference", str(tmp_path / "four.h5"), "--fused", str(path)], "no gt key"),
        (["--reference", str(path), "--ms", str(path), "--pan", str(path), "--fused", str(path)], "not both"),
        (["--fused", str(path)], "--reference"),
        (["--ms", str(path), "--fused", str(path)], "both --ms and --pan"),
    ]
    for args, message in cases:
        assert main(["evaluate", *args]) == 2, args
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_help_documents_file_rules(capsys):
    assert main(["evaluate", "--help"]) == 0
    text = capsys.readouterr().out
    assert "sr, fused or output" in text and "rows x cols x bands" in text


def test_full_resolution_json(tmp_path, capsys):
    full = pytest.importorskip("pansharpen.metrics.full", reason="metrics.full not written yet")
    rng = np.random.default_rng(4)
    ms = rng.uniform(100, 2000, (1, 8, 16, 16))
    lms = np.repeat(np.repeat(ms, 4, axis=2), 4, axis=3)
    pan = lms.mean(axis=1, keepdims=True)
    sr = lms + rng.normal(0, 10, lms.shape)
    write_pancollection(tmp_path / "full.h5", {"ms": ms, "lms": lms, "pan": pan, "sr": sr}, {})
    p = str(tmp_path / "full.h5")
    assert main(["evaluate", "--ms", p, "--pan", p, "--fused", p, "--sensor", "WV3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == FULL
    expected = full.full_resolution_indices(sr[0], ms[0], pan[0], "WV3", ratio=4, ms_exp=lms[0])
    for k in FULL:
        assert out[k] == pytest.approx(expected[k], rel=1e-12)
