"""`pansharpen demo` on a crop of the embedded WV3 sample: files, report keys, fused beats EXP."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("dgsamples", reason="the demo needs the dgsamples sample products (pip install dgsamples)")
pytest.importorskip("matplotlib", reason="the demo's quick-look needs matplotlib")

from pansharpen.cli import main  # noqa: E402


def test_demo_on_a_crop_with_a_classical_method(tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--method", "mtf-glp-hpm", "--size", "512", "--quiet"]) == 0
    assert (out / "wv3_fused.tif").exists() and (out / "quicklook.png").stat().st_size > 10_000
    report = json.loads((out / "report.json").read_text())
    assert set(report["full_resolution"]["fused"]) == {"D_lambda", "D_s", "QNR", "D_lambda_K", "HQNR"}
    reduced = report["reduced_resolution"]
    assert set(reduced["fused"]) == {"Q2n", "Q", "SAM", "ERGAS", "SCC"}
    # a real sharpening method must beat plain interpolation at reduced resolution
    assert reduced["fused"]["Q2n"] > reduced["EXP"]["Q2n"]
    assert reduced["fused"]["ERGAS"] < reduced["EXP"]["ERGAS"]
