"""A write that fails at any point (write, flush, close, fsync, full disk) publishes nothing and exits non-zero;
a killed run's partial file is removed by the next run of the same output."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import rasterio
import rasterio.io

from pansharpen.errors import WriteError
from pansharpen.io.raster import check_written, write_image

from .helpers import REPO, make_product, mount_tmpfs, scene, subprocess_cli, unmount

FUSE = ("--method", "gsa", "--sensor", "none", "-q")  # no product metadata: the toolbox defaults


def _lose_tail_at_close(monkeypatch):
    """Make every GeoTIFF close 'succeed' while the file loses its last half, as libtiff does on ENOSPC."""
    real_close = rasterio.io.DatasetWriter.close

    def close(self):
        name = self.name
        real_close(self)
        size = os.path.getsize(name)
        with open(name, "r+b") as fh:
            fh.truncate(size // 2)

    monkeypatch.setattr(rasterio.io.DatasetWriter, "close", close)


def _raise_at_close(monkeypatch):
    real_close = rasterio.io.DatasetWriter.close

    def close(self):
        real_close(self)
        raise rasterio.errors.RasterioIOError("Write failed. See previous exception for details.")

    monkeypatch.setattr(rasterio.io.DatasetWriter, "close", close)


def _fsync_fails(monkeypatch):
    def fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync)


INJECT = {"silent_loss_at_close": _lose_tail_at_close, "error_at_close": _raise_at_close, "fsync": _fsync_fails}


@pytest.mark.parametrize("inject", sorted(INJECT))
@pytest.mark.parametrize("cog", [False, True])
def test_fuse_publishes_nothing_when_a_write_fails(cli, product, monkeypatch, inject, cog):
    INJECT[inject](monkeypatch)
    run = cli("fuse", product.pan, product.ms, product.out, *FUSE, *(("--cog",) if cog else ()))
    run.assert_error(str(product.out))
    assert "wrote" not in run.out
    assert not product.out.exists() and product.leftovers() == []


@pytest.mark.parametrize("inject", sorted(INJECT))
def test_write_image_publishes_nothing_when_a_write_fails(tmp_path, monkeypatch, inject):
    INJECT[inject](monkeypatch)
    out = tmp_path / "img.tif"
    with pytest.raises(WriteError):
        write_image(out, np.random.default_rng(0).integers(0, 2047, (3, 40, 40)).astype("uint16"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("what", ["json", "csv"])
def test_evaluate_reports_publish_nothing_when_fsync_fails(cli, product, tmp_path, monkeypatch, what):
    ref = product.folder / "ref.npy"
    np.save(ref, np.random.default_rng(0).uniform(100, 1500, (32, 32, 4)))
    report = tmp_path / f"report.{what}"
    _fsync_fails(monkeypatch)
    run = cli("evaluate", "--reference", ref, "--fused", ref, f"--{'out-json' if what == 'json' else 'csv'}", report)
    run.assert_error("disk is full", str(report))
    assert not report.exists() and [p for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_check_written_accepts_complete_files_of_every_layout(tmp_path):
    rng = np.random.default_rng(1)
    for i, opts in enumerate([{}, {"tiled": True, "blockxsize": 16, "blockysize": 16},
                              {"interleave": "band", "compress": "deflate"}, {"compress": "deflate", "tiled": True}]):
        path = write_image(tmp_path / f"ok{i}.tif", rng.integers(0, 999, (3, 48, 40)).astype("uint16"), **opts)
        check_written(path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) * 2 // 3])
        with pytest.raises(WriteError):
            check_written(path)


def test_check_written_decodes_blocks_when_the_disk_is_nearly_full(tmp_path, monkeypatch):
    """A block cut by a full disk can keep a plausible offset and size: only decoding finds it."""
    import pansharpen.io.raster as raster

    rng = np.random.default_rng(4)
    path = write_image(tmp_path / "cut.tif", rng.integers(0, 999, (3, 64, 64)).astype("uint16"), compress="deflate")
    with rasterio.open(path) as ds:
        offset = int(ds.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1))
        nbytes = int(ds.get_tag_item("BLOCK_SIZE_0_0", "TIFF", bidx=1))
    data = bytearray(path.read_bytes())
    data[offset + 2: offset + nbytes] = b"\x00" * (nbytes - 2)  # the deflate stream is garbage now
    path.write_bytes(bytes(data))
    check_written(path)  # plenty of free space: the offsets are fine, nothing is decoded
    monkeypatch.setattr(raster, "_nearly_full", lambda p, size: True)
    with pytest.raises(WriteError):
        check_written(path)


@pytest.fixture
def tiny_disk(tmp_path):
    folder = tmp_path / "tiny-disk"
    if not mount_tmpfs(folder, "size=64k"):
        pytest.skip("cannot mount a size-limited tmpfs here (needs root and mount permission)")
    yield folder
    unmount(folder)


def test_fuse_onto_a_full_disk(cli, tmp_path, tiny_disk):
    rng = np.random.default_rng(2)
    pan, ms = scene(h=64, w=64)  # a 256 x 256 x 4 uint16 output (about 400 kB deflated) onto 64 kB
    prod = make_product(tmp_path / "big", pan=pan + rng.normal(0, 40, pan.shape), ms=ms)
    out = tiny_disk / "out.tif"
    run = cli("fuse", prod.pan, prod.ms, out, *FUSE)
    run.assert_error("disk is full", str(out))
    assert list(tiny_disk.iterdir()) == []
    run = cli("fuse", prod.pan, prod.ms, out, "--tile", "64", *FUSE)  # same again: still nothing, no leftovers
    assert run.code == 2 and list(tiny_disk.iterdir()) == []


def test_write_image_onto_a_full_disk(tiny_disk):
    arr = np.random.default_rng(3).integers(0, 65535, (4, 200, 200)).astype("uint16")
    with pytest.raises(WriteError, match="disk is full"):
        write_image(tiny_disk / "img.tif", arr)
    assert list(tiny_disk.iterdir()) == []


_SLOW_FUSE = """
import sys, time
import numpy as np
from pansharpen.fusion.scene import fuse_scene

class Slow:
    name, ratio, bands, halo = "slow", 4, 4, 0
    def prepare(self, ms, pan):
        pass
    def __call__(self, ms, pan, origin=(0, 0)):
        time.sleep(0.3)
        return np.repeat(np.repeat(ms, 4, axis=1), 4, axis=2)

fuse_scene(sys.argv[1], sys.argv[2], sys.argv[3], Slow(), tile=16)
"""


@pytest.mark.slow
def test_killed_fuse_leaves_nothing_at_out_and_the_rerun_cleans_up(tmp_path):
    prod = make_product(tmp_path / "p")
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS="1")
    child = subprocess.Popen([sys.executable, "-c", _SLOW_FUSE, str(prod.pan), str(prod.ms), str(prod.out)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not prod.leftovers() and time.monotonic() < deadline:  # 16 tiles x 0.3 s: kill while writing
            time.sleep(0.05)
        assert prod.leftovers(), "the fusion never started writing"
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    stale = prod.leftovers()
    assert len(stale) == 1 and str(child.pid) in stale[0] and not prod.out.exists()
    done = subprocess_cli("fuse", prod.pan, prod.ms, prod.out, *FUSE)
    assert done.returncode == 0, done.stderr
    assert prod.leftovers() == []
    with rasterio.open(prod.out) as src:
        assert src.read().shape == (4, 64, 64)
    check_written(prod.out)
