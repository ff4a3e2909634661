"""``pansharpen._arrays`` helpers."""
import numpy as np
import pytest

from pansharpen._arrays import copy_in_column_chunks


@pytest.mark.parametrize("columns", [1, 5, 16, 100])
def test_copy_in_column_chunks_copies_any_layout(columns):
    src = np.random.default_rng(0).normal(size=(37, 3, 6)).transpose(1, 2, 0)  # (3, 6, 37), columns outermost
    dst = np.zeros((3, 6, 37))
    copy_in_column_chunks(dst, src, columns)
    np.testing.assert_array_equal(dst, src)
