"""Dask scale-out: a 2-worker local cluster gives exactly the single-process result."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio

pytest.importorskip("distributed", reason="the [dask] extra is not installed")

from pansharpen.fusion.scene import fuse_scene  # noqa: E402

from .test_scene import BoxFuser, pair  # noqa: E402,F401  (fixture re-used)


@pytest.mark.slow
def test_two_worker_cluster_matches_serial(pair, tmp_path):  # noqa: F811
    p, m, _, _ = pair
    serial = fuse_scene(p, m, tmp_path / "serial.tif", BoxFuser(), tile=16)
    dask_out = fuse_scene(p, m, tmp_path / "dask.tif", BoxFuser(), tile=16, workers=2)
    with rasterio.open(serial) as a, rasterio.open(dask_out) as b:
        np.testing.assert_array_equal(a.read(), b.read())
        assert a.profile == b.profile


@pytest.mark.slow
def test_traced_network_on_a_two_worker_cluster_matches_serial(pair, tmp_path):  # noqa: F811
    """The traced LGPConv-Net form is rebuilt in each worker (TorchScript does not pickle) and gives
    the single-process result."""
    import pickle

    import torch

    from pansharpen.models import create
    from pansharpen.fusion.network_fuser import NetworkFuser

    p, m, _, _ = pair
    torch.manual_seed(0)
    fuser = NetworkFuser(create("lgpconv-net", bands=3), subtile=16)
    serial = fuse_scene(p, m, tmp_path / "serial.tif", fuser, tile=32, max_value=2047)
    assert fuser.form == "trace" and fuser._engine is not None
    assert pickle.loads(pickle.dumps(fuser))._engine is None  # the engine is rebuilt where it runs
    dask_out = fuse_scene(p, m, tmp_path / "dask.tif", fuser, tile=32, max_value=2047, workers=2)
    with rasterio.open(serial) as a, rasterio.open(dask_out) as b:
        np.testing.assert_array_equal(a.read(), b.read())


def test_threads_per_worker(monkeypatch):
    import os

    from pansharpen.errors import PanSharpenError
    from pansharpen.fusion.distributed import threads_for

    monkeypatch.delenv("PANSHARPEN_THREADS_PER_WORKER", raising=False)
    cores = os.cpu_count() or 1
    assert threads_for(1) == cores
    assert threads_for(2 * cores) == 1
    assert threads_for(2, 3) == 3
    monkeypatch.setenv("PANSHARPEN_THREADS_PER_WORKER", "2")
    assert threads_for(8) == 2
    for bad in (0, -1, "two"):
        with pytest.raises(PanSharpenError, match="threads per worker"):
            threads_for(2, bad)


def test_worker_task_sets_threads_and_allocator(monkeypatch):
    import torch

    from pansharpen import runtime
    from pansharpen.fusion.distributed import _run_one

    calls = []
    monkeypatch.setattr(runtime, "retain_freed_memory", lambda: calls.append(1))
    before = torch.get_num_threads()
    try:
        assert _run_one(lambda job, shared: (job, shared, torch.get_num_threads()), 1, 2, threads=1, tuned_allocator=True) == (1, 2, 1)
    finally:
        torch.set_num_threads(before)
    assert calls == [1]
