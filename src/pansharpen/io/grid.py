"""How a PAN raster and an MS raster sit on each other: ratio, offset, overlap, CRS.

The output of scene fusion is the PAN grid. MS pixel ``(i, j)`` covers PAN pixels
``(row_offset + R*i .. +R, col_offset + R*j .. +R)``; tiles start on MS pixel
boundaries so that every tile sees the MS with the same phase as a whole-image run.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ShapeError
from ..io.raster import check_pair_grids, pair_phase
from .sources import RasterInfo
from .windows import Window


@dataclass(frozen=True)
class PairGrid:
    """Geometry of a PAN/MS pair on the PAN pixel grid.

    Attributes:
        ratio: integer PAN/MS resolution ratio R.
        row_offset, col_offset: MS origin minus PAN origin, in PAN pixels, rounded to integers.
        pan_height, pan_width: output size (the PAN raster).
        row_phase, col_phase: the sub-pixel rest of the MS origin, in PAN pixels in [-0.5, 0.5]
            (:func:`pansharpen.io.raster.pair_phase`; 0 when the grids share pixel corners).
    """

    ratio: int
    row_offset: int
    col_offset: int
    pan_height: int
    pan_width: int
    row_phase: float = 0.0
    col_phase: float = 0.0

    @property
    def phase(self) -> tuple[float, float]:
        """``(row_phase, col_phase)``: where the MS grid lies relative to the rounded offsets."""
        return self.row_phase, self.col_phase

    @classmethod
    def from_infos(cls, pan: RasterInfo, ms: RasterInfo, ratio: int | None = None) -> "PairGrid":
        """Check CRS, ratio, alignment and overlap of two rasters and return their common geometry.

        The checks are :func:`pansharpen.io.raster.check_pair_grids` (the same as for reading a
        pair): :class:`ShapeError` / :class:`DataFormatError` with what to do when the CRS differ,
        a grid is rotated, the resolution ratio is not an integer (or not ``ratio``), or the
        rasters do not overlap. Grids that do not share pixel corners get their phase.
        """
        found, pan_window, ms_window = check_pair_grids(pan, ms, ratio)
        row_offset = pan_window.row0 - found * ms_window.row0
        col_offset = pan_window.col0 - found * ms_window.col0
        return cls(found, row_offset, col_offset, pan.height, pan.width, *pair_phase(pan, ms))

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

    def tiles(self, tile: int) -> list[Window]:
        """PAN windows covering the scene, MS-aligned, row by row; the first may start before 0
        and the last end at most ``ratio - 1`` pixels past the edge."""
        tile = max(self.ratio, tile - tile % self.ratio)
        row_end = self.aligned_end(self.pan_height, self.row_offset)
        col_end = self.aligned_end(self.pan_width, self.col_offset)
        rows = self.tile_starts(self.pan_height, tile, self.row_offset)
        cols = self.tile_starts(self.pan_width, tile, self.col_offset)
        return [Window(r, min(r + tile, row_end), c, min(c + tile, col_end)) for r in rows for c in cols]

    @property
    def pan_window(self) -> Window:
        """The whole output (PAN) raster."""
        return Window.of_shape(self.pan_height, self.pan_width)

    def ms_window(self, pan_window: Window) -> Window:
        """The MS window under an MS-aligned PAN window (:class:`ShapeError` if it is not aligned)."""
        a = pan_window.shift(-self.row_offset, -self.col_offset)
        if any(v % self.ratio for v in (a.row0, a.row1, a.col0, a.col1)):
            raise ShapeError(
                f"PAN window rows {pan_window.row0}:{pan_window.row1}, cols {pan_window.col0}:{pan_window.col1} "
                f"is not aligned to MS pixel edges (offset {self.row_offset}, {self.col_offset})"
            )
        return Window(a.row0 // self.ratio, a.row1 // self.ratio, a.col0 // self.ratio, a.col1 // self.ratio)

def ceil_to(value: int, multiple: int) -> int:
    return int(math.ceil(value / multiple) * multiple)
