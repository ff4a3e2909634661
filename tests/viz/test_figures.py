"""Comparison grids and training curves: exact PNG sizes, shared stretch, error maps, bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pansharpen.errors import DataFormatError, ShapeError, ValueRangeError
from pansharpen.viz.figures import absolute_error_map, comparison_grid, read_history, training_curves


def _png_shape(path):
    from matplotlib.image import imread

    return imread(path).shape


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    ref = rng.uniform(100, 2000, (4, 48, 48))
    return ref, {"A": ref + rng.normal(0, 10, ref.shape), "B": torch.from_numpy(ref * 1.05)}


def test_comparison_grid_png_has_the_documented_pixel_size(images, tmp_path):
    ref, fused = images
    out = comparison_grid(ref, fused, tmp_path / "sub" / "grid.png", rgb=(2, 1, 0), inset=(8, 8, 16), panel_px=100,
                          title="image 0")
    assert out.is_file()
    h, w = _png_shape(out)[:2]
    assert (w, h) == (3 * 100, 2 * 100)  # reference + 2 methods, two rows


def test_identical_method_column_equals_the_reference_column(tmp_path):
    """Same stretch for every column: a method equal to the reference renders identically."""
    from matplotlib.image import imread

    rng = np.random.default_rng(1)
    ref = rng.uniform(0, 1000, (3, 40, 40))
    out = comparison_grid(ref, {"copy": ref.copy()}, tmp_path / "g.png", panel_px=120, inset=(0, 0, 8))
    img = imread(out)
    top_ref, top_copy = img[20:110, 0:120], img[20:110, 120:240]
    assert np.array_equal(top_ref, top_copy)


def test_absolute_error_map_is_the_band_mean_of_absolute_differences():
    ref = np.zeros((2, 2, 2))
    fused = np.array([[[1.0, -2.0], [0.0, 4.0]], [[3.0, 2.0], [0.0, -4.0]]])
    expected = np.array([[2.0, 2.0], [0.0, 4.0]])
    assert np.array_equal(absolute_error_map(ref, fused), expected)


def test_comparison_grid_bad_input(images, tmp_path):
    ref, fused = images
    with pytest.raises(ShapeError, match="fused image 'X'"):
        comparison_grid(ref, {"X": ref[:, :40]}, tmp_path / "a.png")
    with pytest.raises(ShapeError, match=r"\(C, H, W\)"):
        comparison_grid(ref[0], fused, tmp_path / "a.png")
    with pytest.raises(ValueRangeError, match="rgb"):
        comparison_grid(ref, fused, tmp_path / "a.png", rgb=(0, 1, 4))
    with pytest.raises(ValueRangeError, match="inset"):
        comparison_grid(ref, fused, tmp_path / "a.png", inset=(40, 40, 16))
    with pytest.raises(ValueRangeError, match="at least one"):
        comparison_grid(ref, {}, tmp_path / "a.png")
    assert not (tmp_path / "a.png").exists()


def test_training_curves_size_and_inputs(tmp_path):
    run = [{"epoch": e, "loss": 1.0 / e, "lr": 1e-3, "SAM": 5 - e / 10, "Q2n": 0.5 + e / 100} for e in range(1, 6)]
    seeds = [run, [dict(r, loss=r["loss"] * 1.1) for r in run]]
    (tmp_path / "h.json").write_text(json.dumps({"history": run}))
    out = training_curves({"a": run, "b (2 seeds)": seeds, "c": tmp_path / "h.json"}, tmp_path / "c.png", panel_px=150)
    h, w = _png_shape(out)[:2]
    assert (w, h) == (3 * 150, 150)  # loss, Q2n, SAM (no ERGAS in the runs)
    out = training_curves({"a": run}, tmp_path / "d.png", metrics=["SAM"], panel_px=150)
    assert _png_shape(out)[:2] == (150, 150)


def test_training_records_bad_input(tmp_path):
    with pytest.raises(DataFormatError, match="does not exist"):
        read_history(tmp_path / "none.json")
    (tmp_path / "t.json").write_text('{"history": [{"epoch": 1')  # truncated
    with pytest.raises(DataFormatError, match="truncated"):
        read_history(tmp_path / "t.json")
    (tmp_path / "w.json").write_text('{"history": 3}')
    with pytest.raises(DataFormatError, match="per-epoch dicts"):
        read_history(tmp_path / "w.json")
    with pytest.raises(ValueRangeError, match="none of the quantities"):
        training_curves({"a": [{"epoch": 1, "loss": 0.1}]}, tmp_path / "x.png", metrics=["ERGAS"])
    with pytest.raises(ValueRangeError, match="at least one run"):
        training_curves({}, tmp_path / "x.png")
