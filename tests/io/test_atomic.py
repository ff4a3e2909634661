"""The atomic writer publishes files with the process umask's mode, whatever the writer did."""
from __future__ import annotations

import os

import pytest

from pansharpen.io.atomic import atomic_path


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_a_writer_that_recreates_the_file_0600_still_publishes_0644(tmp_path, umask_022):
    out = tmp_path / "x.bin"
    with atomic_path(out) as tmp:
        os.unlink(tmp)  # as safetensors' writer does: a new file, owner-only
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, b"data")
        os.close(fd)
    assert out.read_bytes() == b"data" and (os.stat(out).st_mode & 0o777) == 0o644


def test_saved_weights_have_the_umask_mode(tmp_path, umask_022):
    from pansharpen import models

    path = models.save(models.create("detail-net", bands=3, width=4), tmp_path / "w.safetensors")
    assert (os.stat(path).st_mode & 0o777) == 0o644


def test_background_sync_starts_every_n_bytes_one_at_a_time_and_reraises_at_finish(tmp_path, monkeypatch):
    """BackgroundSync: no fsync below the threshold; a sync thread per ``every`` bytes while none runs;
    finish() waits and re-raises the thread's error (raise_error=False only waits)."""
    import errno
    import threading

    import pansharpen.io.atomic as atomic

    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 100)
    calls, release = [], threading.Event()

    def fsync(p):
        calls.append(p)
        release.wait(10)
        if len(calls) == 2:
            raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(atomic, "_fsync_path", fsync)
    sync = atomic.BackgroundSync(path, every=10)
    sync.wrote(9)
    assert sync._thread is None  # below the threshold
    sync.wrote(1)
    sync.wrote(50)  # the first sync still runs: no second one
    release.set()
    sync.finish()
    assert calls == [path]
    sync.wrote(10)  # a second sync, which fails
    with pytest.raises(OSError, match="Input/output"):
        sync.finish()
    sync.finish(raise_error=False)
    assert calls == [path, path]
