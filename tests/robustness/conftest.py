"""Fixtures of the robustness sweep (docs/robustness.md): a tiny product, an in-process CLI runner,
a read-only folder."""
from __future__ import annotations

import os

import pytest

from .helpers import Product, Run, make_product, mount_tmpfs, unmount


@pytest.fixture
def product(tmp_path) -> Product:
    return make_product(tmp_path / "product")


@pytest.fixture
def cli(capsys):
    """Run ``pansharpen.cli.main(args)`` in this process; returns a :class:`Run`."""
    from pansharpen.cli import main

    def run(*args) -> Run:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder nobody may write into: a read-only tmpfs as root (root ignores permissions), else mode 0555."""
    folder = tmp_path / "read-only"
    if mount_tmpfs(folder, "ro", "size=64k"):
        yield folder
        unmount(folder)
        return
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):
        pytest.skip("cannot make a read-only folder here (root without mount permission)")
    yield folder
    folder.chmod(0o755)
