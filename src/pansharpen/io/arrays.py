"""Images stored as ``.npy`` arrays, rows x cols x bands (the layout of most Python tools).

:func:`read_npy` returns the library's channels-first layout: ``C x H x W`` for a
``H x W x C`` (or ``H x W``) file, ``N x C x H x W`` for ``N x H x W x C``.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DataFormatError, ShapeError
from .atomic import atomic_path


def open_npy(path: "str | os.PathLike") -> np.ndarray:
    """A ``.npy`` image as a channels-first, memory-mapped, read-only view (nothing is loaded).

    ``H x W`` -> ``1 x H x W``; ``H x W x C`` -> ``C x H x W``; ``N x H x W x C`` -> ``N x C x H x W``.
    Raises :class:`DataFormatError` for a missing/truncated file or a non-numeric array and
    :class:`ShapeError` for an array that looks channels-first already (``C x H x W`` with
    ``C`` smaller than both sides and ``H == W``: transpose it to ``H x W x C`` or pass a
    GeoTIFF) or has another number of dimensions.
    """
    p = Path(path)
    if not p.is_file():
        raise DataFormatError(f"{p}: no such file; check the path")
    try:
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataFormatError(f"{p}: not a readable .npy array (truncated or corrupt?): {exc}") from exc
    if not isinstance(arr, np.ndarray):
        raise DataFormatError(f"{p}: holds {type(arr).__name__}, not one array; save the image with np.save")
    if arr.dtype.kind not in "uif":
        raise DataFormatError(f"{p}: dtype {arr.dtype} is not a number type; images must be integer or real")
    if arr.ndim == 2:
        return arr[None]
    if arr.ndim == 3:
        h, w, c = arr.shape
        if h < w and h < c and w == c:
            raise ShapeError(
                f"{p}: shape {arr.shape} looks like bands x rows x cols; .npy images must be rows x cols x bands "
                "(np.save(path, img.transpose(1, 2, 0)))"
            )
        return arr.transpose(2, 0, 1)
    if arr.ndim == 4:
        return arr.transpose(0, 3, 1, 2)
    raise ShapeError(f"{p}: a {arr.ndim}-D array is not an image; expected rows x cols x bands")


def read_npy(path: "str | os.PathLike", dtype=np.float64) -> np.ndarray:
    """Read a ``.npy`` image (``H x W``, ``H x W x C`` or ``N x H x W x C``) channels-first into memory.

    ``dtype`` None keeps the stored type. Errors as :func:`open_npy`.
    """
    return np.array(open_npy(path), dtype=dtype)


def write_npy(path: "str | os.PathLike", image: np.ndarray, overwrite: bool = True) -> Path:
    """Write a channels-first image (``C x H x W`` or ``N x C x H x W``) as ``H x W x C`` ``.npy``, atomically."""
    arr = np.asarray(image)
    if arr.ndim == 3:
        arr = arr.transpose(1, 2, 0)
    elif arr.ndim == 4:
        arr = arr.transpose(0, 2, 3, 1)
    else:
        raise ShapeError(f"write_npy: image must be C x H x W or N x C x H x W; got {arr.shape}")
    with atomic_path(path, overwrite=overwrite) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(arr))
    return Path(path)
