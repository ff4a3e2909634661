"""Quick-look: the panels are the nearest-upsampled MS and the fused image, read sparingly."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from pansharpen.viz.quicklook import _views, save_quicklook

pytest.importorskip("matplotlib", reason="the [plot] extra is not installed")


def test_views_equal_the_naive_upsample_and_decimation():
    rng = np.random.default_rng(0)
    ms = rng.uniform(0, 2047, (4, 30, 20))
    fused = rng.integers(0, 2047, (4, 120, 80)).astype(np.uint16)
    idx, ratio = [2, 1, 0], 4
    (ms_over, fz_over), (ms_in, fz_in) = _views(ms[idx], fused, idx, ratio, (10, 20, 32), max_side=50)
    ms_up = np.repeat(np.repeat(ms[idx], ratio, axis=1), ratio, axis=2)
    step = 3  # ceil(120 / 50)
    np.testing.assert_array_equal(ms_over, ms_up[:, ::step, ::step])
    np.testing.assert_array_equal(fz_over, fused[idx][:, ::step, ::step])
    np.testing.assert_array_equal(ms_in, ms_up[:, 10:42, 20:52])
    np.testing.assert_array_equal(fz_in, fused[idx][:, 10:42, 20:52])


def test_a_large_scene_needs_no_full_resolution_copies(tmp_path):
    ms = np.random.default_rng(1).integers(0, 2047, (8, 768, 768)).astype(np.uint16)
    fused = np.repeat(np.repeat(ms, 4, axis=1), 4, axis=2)  # 3072 x 3072 x 8 uint16: 151 MB
    tracemalloc.start()
    save_quicklook(ms, fused, tmp_path / "q.png", (4, 2, 1), 4)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # one float64 RGB copy at full resolution would be 226 MB (the old renderer made four); the
    # overview is 768 x 768 and matplotlib's own buffers are most of the ~130 MB measured
    assert peak < 180e6
    assert (tmp_path / "q.png").stat().st_size > 10_000
