"""Window readers for scene fusion: a GeoTIFF (rasterio) or an in-memory array.

``read(window)`` returns a float64 ``(C, window.height, window.width)`` block for any
:class:`~pansharpen.io.windows.Window`, even one that extends past the raster: the outside
is filled by mirroring the inside (symmetric padding), so a tile at the scene border is
computed exactly like the same region of a whole-image run. ``valid(window)`` tells which
pixels of such a window lie inside the raster.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling

from ..errors import DataFormatError
from .windows import Window


def _inside(window: Window, height: int, width: int) -> tuple[Window, tuple[tuple[int, int], tuple[int, int]]]:
    """The in-bounds part of ``window`` and the ``((before, after), (before, after))`` rows/cols
    padding that restores the full window. A window entirely outside along an axis reads the
    nearest row/col of the raster and mirrors it."""

    def axis(start: int, stop: int, size: int) -> tuple[int, int, int, int]:
        lo, hi = max(start, 0), min(stop, size)
        if hi <= lo:
            lo, hi = (0, 1) if start < 0 else (size - 1, size)
        return lo, hi, lo - start, stop - hi

    r0, r1, pr0, pr1 = axis(window.row0, window.row1, height)
    c0, c1, pc0, pc1 = axis(window.col0, window.col1, width)
    return Window(r0, r1, c0, c1), ((pr0, pr1), (pc0, pc1))


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

    def _read_inside(self, window: Window) -> np.ndarray:
        """The raster's pixels in ``window`` (entirely inside the raster), stored dtype."""
        raise NotImplementedError

    def read(self, window: Window) -> np.ndarray:
        """Float64 block ``(C, window.height, window.width)``; parts outside the raster are mirrored."""
        inside, pad = _inside(window, self.info.height, self.info.width)
        block = self._read_inside(inside).astype(np.float64, copy=False)
        if any(pad[0]) or any(pad[1]):
            block = np.pad(block, ((0, 0), *pad), mode="symmetric")
        return block

    def valid(self, window: Window) -> np.ndarray:
        """Boolean ``window.shape`` map of the window's pixels that are inside the raster."""
        rr = np.arange(window.row0, window.row1)
        cc = np.arange(window.col0, window.col1)
        return ((rr >= 0) & (rr < self.info.height))[:, None] & ((cc >= 0) & (cc < self.info.width))[None, :]

    def read_decimated(self, max_pixels: int = 4_000_000) -> np.ndarray:
        """The whole raster, decimated (nearest) so that it has at most ``max_pixels`` pixels per band."""
        step = max(1, int(np.ceil(np.sqrt(self.info.width * self.info.height / max_pixels))))
        return self._read_strided(step)

    def _read_strided(self, step: int) -> np.ndarray:
        return self._read_inside(Window.of_shape(self.info.height, self.info.width))[:, ::step, ::step].astype(np.float64)


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

    def _read_inside(self, window: Window) -> np.ndarray:
        return self.array[(slice(None), *window.slices())]


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
        except (rasterio.errors.RasterioError, OSError) as exc:
            raise DataFormatError(f"cannot open {self.path} as a raster (truncated or corrupt?): {exc}") from None
        if np.dtype(self.info.dtype).kind not in "uif":
            raise DataFormatError(
                f"{self.path}: pixel type {self.info.dtype} is not supported; images must be integer or real numbers"
            )
        self._dataset = None

    def __getstate__(self):  # rasterio handles cannot be pickled: reopen in the worker
        state = dict(self.__dict__)
        state["_dataset"] = None
        return state

    def _open(self):
        if self._dataset is None:
            try:
                self._dataset = rasterio.open(self.path)
            except (rasterio.errors.RasterioError, OSError) as exc:
                raise DataFormatError(f"cannot open {self.path} as a raster (removed or damaged?): {exc}") from None
        return self._dataset

    def close(self) -> None:
        if self._dataset is not None:
            self._dataset.close()
            self._dataset = None

    def _read_inside(self, window: Window) -> np.ndarray:
        dataset = self._open()
        try:
            return dataset.read(window=window.to_rasterio())
        except Exception as exc:  # RasterioIOError / CPLE_* for a truncated or damaged file
            raise DataFormatError(
                f"cannot read rows {window.row0}:{window.row1}, cols {window.col0}:{window.col1} of {self.path} "
                f"(truncated or corrupt file?): {exc}"
            ) from None

    def _read_strided(self, step: int) -> np.ndarray:
        h = -(-self.info.height // step)
        w = -(-self.info.width // step)
        dataset = self._open()
        try:
            block = dataset.read(out_shape=(self.info.count, h, w), resampling=Resampling.nearest)
        except Exception as exc:  # RasterioIOError / CPLE_* for a truncated or damaged file
            raise DataFormatError(f"cannot read {self.path} (truncated or corrupt file?): {exc}") from None
        return block.astype(np.float64)
