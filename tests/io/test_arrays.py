"""``.npy`` images: H x W x C on disk, channels-first in memory; bad layouts refused."""
from __future__ import annotations

import numpy as np
import pytest

from pansharpen.errors import DataFormatError, ShapeError
from pansharpen.io.arrays import read_npy, write_npy


def test_hwc_becomes_chw(tmp_path):
    img = np.arange(6 * 5 * 3, dtype=np.uint16).reshape(6, 5, 3)
    np.save(tmp_path / "a.npy", img)
    got = read_npy(tmp_path / "a.npy")
    assert got.shape == (3, 6, 5) and got.dtype == np.float64
    assert got[2, 4, 1] == img[4, 1, 2]


def test_two_and_four_dimensional(tmp_path):
    np.save(tmp_path / "p.npy", np.ones((8, 8)))
    assert read_npy(tmp_path / "p.npy").shape == (1, 8, 8)
    batch = np.random.default_rng(0).random((2, 8, 8, 4))
    np.save(tmp_path / "b.npy", batch)
    np.testing.assert_array_equal(read_npy(tmp_path / "b.npy")[1, 3], batch[1, :, :, 3])


def test_write_roundtrip(tmp_path):
    img = np.random.default_rng(0).random((4, 6, 7))
    write_npy(tmp_path / "w.npy", img)
    assert np.load(tmp_path / "w.npy").shape == (6, 7, 4)
    np.testing.assert_array_equal(read_npy(tmp_path / "w.npy"), img)


def test_channels_first_file_refused(tmp_path):
    np.save(tmp_path / "chw.npy", np.zeros((8, 64, 64)))
    with pytest.raises(ShapeError, match="rows x cols x bands"):
        read_npy(tmp_path / "chw.npy")


def test_bad_files(tmp_path):
    with pytest.raises(DataFormatError, match="no such file"):
        read_npy(tmp_path / "none.npy")
    np.save(tmp_path / "s.npy", np.array([["a", "b"]]))
    with pytest.raises(DataFormatError, match="not a number type"):
        read_npy(tmp_path / "s.npy")
    np.save(tmp_path / "big.npy", np.zeros((32, 32, 4)))
    data = (tmp_path / "big.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match="truncated or corrupt"):
        read_npy(tmp_path / "cut.npy")
    np.save(tmp_path / "5d.npy", np.zeros((1, 2, 3, 4, 5)))
    with pytest.raises(ShapeError, match="5-D"):
        read_npy(tmp_path / "5d.npy")


def test_open_npy_is_a_lazy_view(tmp_path):
    from pansharpen.io.arrays import open_npy

    batch = np.random.default_rng(1).random((3, 8, 8, 2))
    np.save(tmp_path / "b.npy", batch)
    view = open_npy(tmp_path / "b.npy")
    assert isinstance(view.base, np.memmap) or isinstance(view, np.memmap)
    assert view.shape == (3, 2, 8, 8)
    np.testing.assert_array_equal(view[2, 1], batch[2, :, :, 1])
