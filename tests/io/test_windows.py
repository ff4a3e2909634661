"""The one window type: geometry helpers, rasterio conversion, and the readers that take it."""
from __future__ import annotations

import numpy as np
import pytest
from rasterio.windows import Window as RioWindow

from pansharpen.errors import ShapeError
from pansharpen.io.grid import PairGrid
from pansharpen.io.sources import ArraySource
from pansharpen.io.windows import Window


def test_geometry_helpers():
    w = Window(2, 10, -3, 5)
    assert w.shape == (8, 8) and w.rows == (2, 10) and w.cols == (-3, 5)
    assert w.expand(2) == Window(0, 12, -5, 7)
    assert w.clip(6, 4) == Window(2, 6, 0, 4)
    assert w.intersect(Window(20, 30, 0, 1)).is_empty
    assert Window(1, 3, 2, 4).scale(4).shift(1, -1) == Window(5, 13, 7, 15)
    assert w.to_rasterio() == RioWindow(-3, 2, 8, 8)
    assert w.as_pairs() == [[2, 10], [-3, 5]]
    with pytest.raises(Exception):
        w.row0 = 0  # frozen


def test_slices_in_an_outer_array_match_plain_indexing():
    a = np.arange(20 * 30).reshape(20, 30)
    outer, inner = Window(3, 15, 4, 28), Window(5, 9, 10, 20)
    held = a[outer.slices()]
    np.testing.assert_array_equal(held[inner.slices_in(outer)], a[5:9, 10:20])


def test_read_mirrors_outside_and_valid_marks_inside():
    arr = np.arange(2 * 5 * 6, dtype=np.uint16).reshape(2, 5, 6)
    src = ArraySource(arr)
    w = Window(-2, 4, 3, 9)
    got = src.read(w)
    # plain computation: symmetric padding of the whole array, then the same region
    padded = np.pad(arr.astype(np.float64), ((0, 0), (2, 0), (0, 3)), mode="symmetric")
    np.testing.assert_array_equal(got, padded[:, 0:6, 3:9])
    assert got.dtype == np.float64 and got.shape == (2, *w.shape)
    valid = src.valid(w)
    assert valid.shape == w.shape and valid.sum() == 4 * 3 and valid[2:, :3].all()


def test_grid_tiles_and_ms_window():
    grid = PairGrid(ratio=4, row_offset=4, col_offset=0, pan_height=20, pan_width=16)
    tiles = grid.tiles(8)
    assert all(isinstance(t, Window) for t in tiles)
    assert tiles[0] == Window(0, 8, 0, 8) and tiles[-1] == Window(16, 20, 8, 16)
    assert grid.ms_window(Window(0, 8, 4, 12)) == Window(-1, 1, 1, 3)
    with pytest.raises(ShapeError, match="not aligned"):
        grid.ms_window(Window(1, 8, 0, 8))
