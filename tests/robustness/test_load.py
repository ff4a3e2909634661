"""Load: four concurrent fuses of one crop give identical, complete outputs and leave no temporary
file. (A killed fuse followed by a rerun: test_write_failures.py.)"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import rasterio

from pansharpen.io.raster import check_written

from .helpers import REPO, make_product, scene

FUSE = ("--method", "gsa", "--sensor", "none", "-q", "--tile", "64")


def _spawn(prod, out, *extra):
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "pansharpen", "fuse", str(prod.pan), str(prod.ms), str(out),
                             *FUSE, *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait(children):
    results = []
    for child in children:
        out, err = child.communicate(timeout=300)
        results.append((child.returncode, err))
    return results


@pytest.fixture(scope="module")
def crop(tmp_path_factory):
    rng = np.random.default_rng(5)
    pan, ms = scene(h=48, w=48)
    return make_product(tmp_path_factory.mktemp("load"), pan=pan + rng.normal(0, 25, pan.shape), ms=ms)


@pytest.mark.slow
def test_four_concurrent_fuses_are_identical(crop):
    outs = [crop.folder / f"out{i}.tif" for i in range(4)]
    results = _wait([_spawn(crop, out) for out in outs])
    assert all(code == 0 for code, _ in results), results
    for out in outs:
        check_written(out)
    # identical pixels and profiles (the files differ only in the provenance tag naming the command line)
    with rasterio.open(outs[0]) as ref:
        first, profile = ref.read(), ref.profile
    for out in outs[1:]:
        with rasterio.open(out) as src:
            np.testing.assert_array_equal(src.read(), first)
            assert src.profile == profile
    assert crop.leftovers() == []
