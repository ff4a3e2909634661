"""The pipelined scene fusion (reader and writer threads around the compute): the same file as the
serial path, errors from every stage propagate and leave nothing at the output, queues stay bounded."""
from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine

from pansharpen.fusion.fusers import ClassicalFuser
from pansharpen.fusion.network_fuser import NetworkFuser
from pansharpen.fusion.pipeline import WriteBehind, pipeline_enabled, prefetch
from pansharpen.fusion.scene import DEFAULT_TILE_THREADS_MAX, blas_threads, fuse_scene, resolve_tile_threads
from pansharpen.io.geotiff import GeoTiffWriter
from pansharpen.io.sources import RasterSource
from pansharpen.models import create
from pansharpen.protocol import get_sensor

from .test_scene import R, BoxFuser, _write


def _odd_product(folder, bands=3):
    """A product whose sides (92 x 76 PAN) are no multiple of the tile sizes used."""
    rng = np.random.default_rng(5)
    ms = rng.uniform(100, 1500, size=(bands, 23, 19))
    pan = rng.uniform(100, 1500, size=(1, 23 * R, 19 * R))
    p = _write(folder / "pan.tif", pan, Affine(0.5, 0, 1000.0, 0, -0.5, 5000.0))
    m = _write(folder / "ms.tif", ms, Affine(2.0, 0, 1000.0, 0, -2.0, 5000.0))
    return p, m


@pytest.fixture
def odd_pair(tmp_path):
    return _odd_product(tmp_path)


def _same_file(a, b) -> None:
    with rasterio.open(a) as x, rasterio.open(b) as y:
        assert x.profile == y.profile
        assert x.tags() == y.tags() and x.descriptions == y.descriptions and x.colorinterp == y.colorinterp
        assert x.scales == y.scales and x.overviews(1) == y.overviews(1)
        px, py = x.read(), y.read()
        assert px.dtype == py.dtype and px.tobytes() == py.tobytes()


def _both(p, m, folder, fuser, **kwargs):
    serial = fuse_scene(p, m, folder / "serial.tif", fuser, pipeline=False, **kwargs)
    piped = fuse_scene(p, m, folder / "piped.tif", fuser, pipeline=True, **kwargs)
    _same_file(serial, piped)
    return piped


@pytest.mark.parametrize("tile", [16, 36, 48])
def test_classical_pipelined_equals_serial(tmp_path, tile):
    p, m = _odd_product(tmp_path, bands=4)
    out = _both(p, m, tmp_path, ClassicalFuser("mtf-glp-hpm", get_sensor("QB"), 4), tile=tile, max_value=2047)
    with rasterio.open(out) as src:
        assert src.shape == (92, 76) and src.read().std() > 0


@pytest.fixture(scope="module")
def network():
    """The default network's architecture in its default (traced) form, tiny: 3 bands, random
    weights, 16-pixel sub-tiles."""
    torch.manual_seed(0)
    fuser = NetworkFuser(create("lgpconv-net", bands=3), subtile=16)
    assert fuser.halo > 0  # measures the receptive field once (seconds)
    return fuser


@pytest.mark.parametrize("tile", [32, 40])
def test_network_pipelined_equals_serial(odd_pair, tmp_path, tile, network, one_thread):
    p, m = odd_pair
    _both(p, m, tmp_path, network, tile=tile, max_value=2047, dtype="float32")
    assert network.form == "trace" and network.engine._fused == {}


def test_box_fuser_with_nodata_pipelined_equals_serial(tmp_path):
    """Nodata tiles (all masked: no compute) and partly masked ones, several tiles, odd sides."""
    rng = np.random.default_rng(7)
    ms = rng.uniform(100, 1500, size=(3, 21, 17))
    ms[:, :6, :] = 0  # whole tiles of nodata at the top
    ms[1, 10, 10] = 0
    p = _write(tmp_path / "pan.tif", rng.uniform(100, 1500, size=(1, 84, 68)), Affine(0.5, 0, 0, 0, -0.5, 0))
    m = _write(tmp_path / "ms.tif", ms, Affine(2.0, 0, 0, 0, -2.0, 0), nodata=0)
    for tile in (16, 28):
        _both(p, m, tmp_path, BoxFuser(), tile=tile, overwrite=True)


def _nothing_new(folder, before) -> None:
    assert sorted(os.listdir(folder)) == before


class _FailingRead(RasterSource):
    """A source whose ``fail_at``-th window read raises."""

    def __init__(self, path, fail_at: int):
        super().__init__(path)
        self.fail_at, self.calls = fail_at, 0

    def read(self, window):
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("reader failed")
        return super().read(window)


def test_reader_error_propagates_and_leaves_nothing(odd_pair, tmp_path):
    p, m = odd_pair
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(RuntimeError, match="reader failed"):
        fuse_scene(_FailingRead(p, fail_at=4), m, tmp_path / "out.tif", BoxFuser(), tile=16, pipeline=True)
    _nothing_new(tmp_path, before)


@pytest.mark.parametrize("pipeline", [True, False])
@pytest.mark.parametrize("error", [ValueError("compute failed"), KeyboardInterrupt()])
def test_compute_error_or_interrupt_stops_both_threads_and_leaves_nothing(odd_pair, tmp_path, error, pipeline):
    """Ctrl-C (KeyboardInterrupt in the main thread) or a failing fuser, serial or pipelined."""
    p, m = odd_pair
    before = sorted(os.listdir(tmp_path))

    class Fails(BoxFuser):
        calls = 0

        def __call__(self, ms, pan, origin=(0, 0)):
            self.calls += 1
            if self.calls == 5:
                raise error
            return super().__call__(ms, pan, origin)

    with pytest.raises(type(error)):
        fuse_scene(p, m, tmp_path / "out.tif", Fails(), tile=16, pipeline=pipeline)
    _nothing_new(tmp_path, before)
    assert not [t for t in threading.enumerate() if t.name.startswith("pansharpen-")]


def test_writer_error_propagates_and_leaves_nothing(odd_pair, tmp_path, monkeypatch):
    p, m = odd_pair
    before = sorted(os.listdir(tmp_path))
    write, calls = GeoTiffWriter.write, []

    def fails(self, *args, **kwargs):
        calls.append(threading.current_thread().name)
        if len(calls) == 3:
            raise ValueError("writer failed")
        return write(self, *args, **kwargs)

    monkeypatch.setattr(GeoTiffWriter, "write", fails)
    with pytest.raises(ValueError, match="writer failed"):
        fuse_scene(p, m, tmp_path / "out.tif", BoxFuser(), tile=16, pipeline=True)
    _nothing_new(tmp_path, before)
    assert set(calls) == {"pansharpen-writer"}  # the writes ran in the writer thread
    assert len(calls) == 3  # and stopped at the failure


def test_pipeline_enabled_by_argument_then_environment(monkeypatch):
    monkeypatch.delenv("PANSHARPEN_PIPELINE", raising=False)
    assert not pipeline_enabled() and not pipeline_enabled(False) and pipeline_enabled(True)
    for on in ("1", "true", "ON", "yes"):
        monkeypatch.setenv("PANSHARPEN_PIPELINE", on)
        assert pipeline_enabled() and not pipeline_enabled(False)
    monkeypatch.setenv("PANSHARPEN_PIPELINE", "0")
    assert not pipeline_enabled()


def test_the_environment_variable_turns_the_pipeline_on_in_fuse_scene(odd_pair, tmp_path, monkeypatch):
    p, m = odd_pair
    threads = []
    write = GeoTiffWriter.write

    def record(self, *args, **kwargs):
        threads.append(threading.current_thread().name)
        return write(self, *args, **kwargs)

    monkeypatch.setattr(GeoTiffWriter, "write", record)
    monkeypatch.setenv("PANSHARPEN_PIPELINE", "1")
    fuse_scene(p, m, tmp_path / "on.tif", BoxFuser(), tile=32)
    monkeypatch.delenv("PANSHARPEN_PIPELINE")
    fuse_scene(p, m, tmp_path / "off.tif", BoxFuser(), tile=32)
    assert set(threads[: len(threads) // 2]) == {"pansharpen-writer"}
    assert set(threads[len(threads) // 2:]) == {threading.main_thread().name}


def test_prefetch_keeps_order_and_stays_at_most_depth_ahead():
    made, taken, ahead = [], [], []

    def make(i):
        made.append(i)
        ahead.append(len(made) - len(taken))
        return i * i

    for depth in (1, 2, 3):
        made.clear(), taken.clear(), ahead.clear()
        for value in prefetch(range(20), make, depth=depth):
            time.sleep(0.002)  # a slow consumer: the reader runs ahead as far as it may
            taken.append(value)
        assert taken == [i * i for i in range(20)]
        # the queue holds depth, one more is being made, one was just handed over
        assert max(ahead) <= depth + 2


def test_prefetch_closed_early_stops_its_thread():
    started = threading.active_count()
    gen = prefetch(range(10**6), lambda i: i, depth=2)
    assert next(gen) == 0
    gen.close()
    assert threading.active_count() == started


def test_write_behind_writes_in_order_and_raises_a_late_failure_at_exit():
    written = []
    with WriteBehind(written.append, depth=2) as w:
        for i in range(50):
            w.submit(i)
    assert written == list(range(50))

    def fail_last(i):
        if i == 9:
            raise OSError("late")

    with pytest.raises(OSError, match="late"):
        with WriteBehind(fail_last, depth=2) as w:
            for i in range(10):
                w.submit(i)


@pytest.mark.parametrize("method", ["mtf-glp-hpm", "gsa", "brovey"])
def test_classical_tiles_in_threads_equal_one_at_a_time(tmp_path, method):
    """Tiles computed three at a time in threads give the same bytes as one after another."""
    p, m = _odd_product(tmp_path, bands=4)
    fuser = ClassicalFuser(method, get_sensor("QB"), 4)
    one = fuse_scene(p, m, tmp_path / "one.tif", fuser, tile=16, max_value=2047, tile_threads=1)
    three = fuse_scene(p, m, tmp_path / "three.tif", fuser, tile=16, max_value=2047, tile_threads=3)
    _same_file(one, three)


def test_tile_threads_default_environment_and_refusals(network, monkeypatch):
    classical = ClassicalFuser("gsa", get_sensor("QB"), 4)
    monkeypatch.delenv("PANSHARPEN_TILE_THREADS", raising=False)
    before = torch.get_num_threads()
    try:  # default: torch's thread budget, at most DEFAULT_TILE_THREADS_MAX, for classical methods only
        for budget, want in ((1, 1), (2, 2), (DEFAULT_TILE_THREADS_MAX + 3, DEFAULT_TILE_THREADS_MAX)):
            torch.set_num_threads(budget)
            assert resolve_tile_threads(classical) == want and resolve_tile_threads(network) == 1
    finally:
        torch.set_num_threads(before)
    monkeypatch.setenv("PANSHARPEN_TILE_THREADS", "1")
    assert resolve_tile_threads(classical) == 1
    monkeypatch.setenv("PANSHARPEN_TILE_THREADS", "3")
    assert resolve_tile_threads(classical) == 3
    assert resolve_tile_threads(network) == 1  # a network uses torch's threads inside each tile
    assert resolve_tile_threads(classical, 2) == 2 and resolve_tile_threads(network, 2) == 2
    for bad in (0, -1, 1.5, True):
        with pytest.raises(Exception, match="tile_threads"):
            resolve_tile_threads(classical, bad)
    for bad in ("two", "0", "-3"):
        monkeypatch.setenv("PANSHARPEN_TILE_THREADS", bad)
        with pytest.raises(Exception, match="PANSHARPEN_TILE_THREADS"):
            resolve_tile_threads(classical)


def test_blas_threads_is_one_for_classical_fusers_and_restored_after(network):
    from threadpoolctl import threadpool_info

    def blas():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = blas()
    with blas_threads(ClassicalFuser("gsa", get_sensor("QB"), 4)):
        assert set(blas()) <= {1}
    assert blas() == before
    with blas_threads(network):
        assert blas() == before
