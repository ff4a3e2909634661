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
