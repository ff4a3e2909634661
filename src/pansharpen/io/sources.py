"""Window readers for scene fusion: a GeoTIFF (rasterio) or an in-memory array.

``read(rows, cols)`` returns a float64 ``(C, r1 - r0, c1 - c0)`` block for any window,
even one that extends past the raster: the outside is filled by mirroring the
inside (symmetric padding), so a tile at the scene border is computed exactly like
the same region of a whole-image run. ``valid(rows, cols)`` tells which pixels of
such a window lie inside the raster.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.windows import Window

from ..errors import DataFormatError


def _pad_symmetric(block: np.ndarray, before_r: int, after_r: int, before_c: int, after_c: int) -> np.ndarray:
    if before_r or after_r or before_c or after_c:
        block = np.pad(block, ((0, 0), (before_r, after_r), (before_c, after_c)), mode="symmetric")
    return block


def _clip_window(start: int, stop: int, size: int) -> tuple[int, int, int, int]:
    """In-bounds part of [start, stop) and the padding needed before/after it."""
    lo, hi = max(start, 0), min(stop, size)
    if hi <= lo:  # window entirely outside: read the nearest row/col and mirror it
        lo, hi = (0, 1) if start < 0 else (size - 1, size)
    return lo, hi, lo - start, stop - hi


@dataclass
class RasterInfo:
    width: int
    height: int
    count: int
    dtype: str
    nodata: float | None
    transform: object  # affine.Affine
    crs: object  # rasterio CRS or None
    descriptions: tuple
    path: str = ""

    @property
    def name(self) -> str:
        """The raster's path (named like rasterio's ``dataset.name`` for the shared grid checks)."""
        return self.path


class _Source:
    info: RasterInfo

    def _read_inside(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        raise NotImplementedError

    def read(self, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
        """Float64 block ``(C, rows[1]-rows[0], cols[1]-cols[0])``; outside parts are mirrored."""
        r0, r1, pr0, pr1 = _clip_window(*rows, self.info.height)
        c0, c1, pc0, pc1 = _clip_window(*cols, self.info.width)
        block = self._read_inside(r0, r1, c0, c1).astype(np.float64, copy=False)
        return _pad_symmetric(block, pr0, pr1, pc0, pc1)

    def valid(self, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
        """Boolean ``(rows, cols)`` map of the window's pixels that are inside the raster."""
        rr = np.arange(*rows)
        cc = np.arange(*cols)
        return ((rr >= 0) & (rr < self.info.height))[:, None] & ((cc >= 0) & (cc < self.info.width))[None, :]

    def read_decimated(self, max_pixels: int = 4_000_000) -> np.ndarray:
        """The whole raster, decimated (nearest) so that it has at most ``max_pixels`` pixels per band."""
        step = max(1, int(np.ceil(np.sqrt(self.info.width * self.info.height / max_pixels))))
        return self._read_strided(step)

    def _read_strided(self, step: int) -> np.ndarray:
        return self._read_inside(0, self.info.height, 0, self.info.width)[:, ::step, ::step].astype(np.float64)


class ArraySource(_Source):
    """An in-memory ``(C, H, W)`` array (numpy) with optional georeferencing."""

    def __init__(self, array: np.ndarray, transform=None, crs=None, nodata=None, descriptions=None, path: str = "array"):
        arr = np.asarray(array)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3:
            raise DataFormatError(f"{path}: expected a (bands, rows, cols) array; got shape {arr.shape}")
        self.array = arr
        self.info = RasterInfo(
            width=arr.shape[2],
            height=arr.shape[1],
            count=arr.shape[0],
            dtype=str(arr.dtype),
            nodata=nodata,
            transform=transform if transform is not None else Affine.identity(),
            crs=crs,
            descriptions=tuple(descriptions) if descriptions else (None,) * arr.shape[0],
            path=path,
        )

    def _read_inside(self, r0, r1, c0, c1):
        return self.array[:, r0:r1, c0:c1]


class RasterSource(_Source):
    """A raster file opened with rasterio; the dataset is opened lazily in each process."""

    def __init__(self, path: "str | Path"):
        self.path = str(path)
        if not Path(self.path).exists():
            raise DataFormatError(f"{self.path} does not exist")
        try:
            with rasterio.open(self.path) as src:
                self.info = RasterInfo(
                    width=src.width,
                    height=src.height,
                    count=src.count,
                    dtype=src.dtypes[0],
                    nodata=src.nodata,
                    transform=src.transform,
                    crs=src.crs,
                    descriptions=tuple(src.descriptions),
                    path=self.path,
                )
        except rasterio.errors.RasterioIOError as exc:
            raise DataFormatError(f"cannot open {self.path} as a raster: {exc}") from None
        self._dataset = None

    def __getstate__(self):  # rasterio handles cannot be pickled: reopen in the worker
        state = dict(self.__dict__)
        state["_dataset"] = None
        return state

    def _open(self):
        if self._dataset is None:
            self._dataset = rasterio.open(self.path)
        return self._dataset

    def close(self) -> None:
        if self._dataset is not None:
            self._dataset.close()
            self._dataset = None

    def _read_inside(self, r0, r1, c0, c1):
        try:
            return self._open().read(window=Window(c0, r0, c1 - c0, r1 - r0))
        except Exception as exc:
            raise DataFormatError(f"cannot read rows {r0}:{r1}, cols {c0}:{c1} of {self.path}: {exc}") from None

    def _read_strided(self, step: int) -> np.ndarray:
        h = -(-self.info.height // step)
        w = -(-self.info.width // step)
        return self._open().read(out_shape=(self.info.count, h, w), resampling=Resampling.nearest).astype(np.float64)
