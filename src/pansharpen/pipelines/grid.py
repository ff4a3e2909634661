"""How a PAN raster and an MS raster sit on each other: ratio, offset, overlap, CRS.

The output of scene fusion is the PAN grid. MS pixel ``(i, j)`` covers PAN pixels
``(row_offset + R*i .. +R, col_offset + R*j .. +R)``; tiles start on MS pixel
boundaries so that every tile sees the MS with the same phase as a whole-image run.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

from ..errors import ShapeError
from .sources import RasterInfo

_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@dataclass(frozen=True)
class PairGrid:
    """Geometry of a PAN/MS pair on the PAN pixel grid.

    Attributes:
        ratio: integer PAN/MS resolution ratio R.
        row_offset, col_offset: MS origin minus PAN origin, in PAN pixels (integers).
        pan_height, pan_width: output size (the PAN raster).
    """

    ratio: int
    row_offset: int
    col_offset: int
    pan_height: int
    pan_width: int

    @classmethod
    def from_infos(cls, pan: RasterInfo, ms: RasterInfo, ratio: int | None = None) -> "PairGrid":
        """Check CRS, ratio and overlap of two rasters and return their common geometry.

        Raises :class:`ShapeError` with what to do when the CRS differ, the resolution
        ratio is not an integer (or not the expected ``ratio``), or the rasters do not overlap.
        Sub-pixel offsets (below half a PAN pixel) are rounded with a warning.
        """
        if pan.count != 1:
            raise ShapeError(f"{pan.path}: the PAN raster must have 1 band; it has {pan.count}")
        georef = tuple(pan.transform)[:6] != _IDENTITY or tuple(ms.transform)[:6] != _IDENTITY
        if not georef:
            return cls._from_shapes(pan, ms, ratio)
        if pan.crs is not None and ms.crs is not None and pan.crs != ms.crs:
            raise ShapeError(
                f"PAN ({pan.path}) is in {pan.crs} but MS ({ms.path}) is in {ms.crs}; reproject the MS onto the "
                "PAN's CRS first (e.g. gdalwarp -t_srs) and keep its native resolution"
            )
        pt, mt = pan.transform, ms.transform
        if pt.b or pt.d or mt.b or mt.d:
            raise ShapeError("rotated geotransforms are not supported; warp both rasters north-up first")
        rx, ry = mt.a / pt.a, mt.e / pt.e
        found = round(rx)
        if found < 1 or abs(rx - found) > 1e-3 * found or abs(ry - found) > 1e-3 * found:
            raise ShapeError(
                f"MS pixel size ({mt.a:g}, {-mt.e:g}) divided by PAN pixel size ({pt.a:g}, {-pt.e:g}) is "
                f"({rx:.4f}, {ry:.4f}), not one integer ratio; resample one of them so that the ratio is an integer"
            )
        if ratio is not None and found != ratio:
            raise ShapeError(f"the rasters have a resolution ratio of {found}, not the requested {ratio}")
        col = (mt.c - pt.c) / pt.a
        row = (mt.f - pt.f) / pt.e
        icol, irow = round(col), round(row)
        shift = max(abs(col - icol), abs(row - irow))
        if shift > 0.01:
            warnings.warn(
                f"the MS grid is offset from the PAN grid by a sub-pixel shift ({row - irow:+.3f}, {col - icol:+.3f}) "
                "PAN pixels; it is rounded to the nearest PAN pixel",
                stacklevel=2,
            )
        grid = cls(found, irow, icol, pan.height, pan.width)
        grid._check_overlap(ms)
        return grid

    @classmethod
    def _from_shapes(cls, pan: RasterInfo, ms: RasterInfo, ratio: int | None) -> "PairGrid":
        r = pan.height / ms.height
        found = round(r)
        if found < 1 or pan.height != found * ms.height or pan.width != found * ms.width:
            raise ShapeError(
                f"PAN is {pan.height} x {pan.width} and MS {ms.height} x {ms.width}: without georeferencing the "
                "PAN size must be an integer multiple of the MS size"
            )
        if ratio is not None and found != ratio:
            raise ShapeError(f"PAN/MS size ratio is {found}, not the requested {ratio}")
        return cls(found, 0, 0, pan.height, pan.width)

    def _check_overlap(self, ms: RasterInfo) -> None:
        r0, c0 = self.row_offset, self.col_offset
        r1, c1 = r0 + ms.height * self.ratio, c0 + ms.width * self.ratio
        if r1 <= 0 or c1 <= 0 or r0 >= self.pan_height or c0 >= self.pan_width:
            raise ShapeError(
                f"the PAN ({self.pan_height} x {self.pan_width} px) and the MS do not overlap (MS covers PAN rows "
                f"{r0}..{r1}, cols {c0}..{c1}); check that they belong to the same product"
            )

    # --- tiling ---------------------------------------------------------------------------

    def tile_starts(self, size: int, tile: int, offset: int) -> list[int]:
        """Starts of tiles of ``tile`` PAN pixels covering ``0..size``, aligned to MS pixel edges."""
        first = offset % self.ratio
        if first:
            first -= self.ratio
        return list(range(first, size, tile))

    def aligned_end(self, size: int, offset: int) -> int:
        """Smallest MS-aligned PAN index ``>= size`` (``(end - offset) % ratio == 0``)."""
        return size + (-(size - offset)) % self.ratio

    def tiles(self, tile: int) -> list[tuple[int, int, int, int]]:
        """``(r0, r1, c0, c1)`` PAN windows covering the scene, MS-aligned; the first may start
        before 0 and the last end at most ``ratio - 1`` pixels past the edge."""
        tile = max(self.ratio, tile - tile % self.ratio)
        row_end = self.aligned_end(self.pan_height, self.row_offset)
        col_end = self.aligned_end(self.pan_width, self.col_offset)
        rows = self.tile_starts(self.pan_height, tile, self.row_offset)
        cols = self.tile_starts(self.pan_width, tile, self.col_offset)
        return [(r, min(r + tile, row_end), c, min(c + tile, col_end)) for r in rows for c in cols]

    def ms_span(self, start: int, stop: int, axis: int) -> tuple[int, int]:
        """MS index range under PAN range ``[start, stop)`` (both MS-aligned) along ``axis`` (0 rows, 1 cols)."""
        off = self.row_offset if axis == 0 else self.col_offset
        a, b = start - off, stop - off
        if a % self.ratio or b % self.ratio:
            raise ShapeError(f"PAN window {start}:{stop} is not aligned to MS pixel edges (offset {off})")
        return a // self.ratio, b // self.ratio


def ceil_to(value: int, multiple: int) -> int:
    return int(math.ceil(value / multiple) * multiple)
