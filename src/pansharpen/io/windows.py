"""One window type for every pixel region: :class:`Window` (rows ``row0:row1``, cols ``col0:col1``).

Half-open, in the pixels of one raster, and allowed to reach past its edges (a fusion tile
with its halo does). Readers (:mod:`pansharpen.io.sources`), the pair geometry
(:mod:`pansharpen.io.grid`, :func:`pansharpen.io.raster.check_pair_grids`) and scene fusion
(:mod:`pansharpen.fusion.scene`) all speak it; :meth:`Window.to_rasterio` converts at the
rasterio boundary (rasterio's ``Window`` is ``col_off, row_off, width, height``).
"""
from __future__ import annotations

from dataclasses import dataclass

from rasterio.windows import Window as _RioWindow


@dataclass(frozen=True)
class Window:
    """Rows ``row0:row1`` and columns ``col0:col1`` (half-open) of a raster's pixel grid."""

    row0: int
    row1: int
    col0: int
    col1: int

    @classmethod
    def of_shape(cls, height: int, width: int) -> "Window":
        """The whole of a ``height x width`` raster."""
        return cls(0, height, 0, width)

    @property
    def height(self) -> int:
        return self.row1 - self.row0

    @property
    def width(self) -> int:
        return self.col1 - self.col0

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)``."""
        return self.height, self.width

    @property
    def rows(self) -> tuple[int, int]:
        return self.row0, self.row1

    @property
    def cols(self) -> tuple[int, int]:
        return self.col0, self.col1

    @property
    def is_empty(self) -> bool:
        return self.row1 <= self.row0 or self.col1 <= self.col0

    def expand(self, halo: int) -> "Window":
        """The window grown by ``halo`` pixels on every side (shrunk for a negative halo)."""
        return Window(self.row0 - halo, self.row1 + halo, self.col0 - halo, self.col1 + halo)

    def intersect(self, other: "Window") -> "Window":
        """The common part (may be empty: check :attr:`is_empty`)."""
        return Window(
            max(self.row0, other.row0), min(self.row1, other.row1), max(self.col0, other.col0), min(self.col1, other.col1)
        )

    def clip(self, height: int, width: int) -> "Window":
        """The part inside a ``height x width`` raster (may be empty)."""
        return self.intersect(Window(0, height, 0, width))

    def scale(self, factor: int) -> "Window":
        """The same region on a grid ``factor`` times finer (MS pixels -> PAN pixels)."""
        return Window(self.row0 * factor, self.row1 * factor, self.col0 * factor, self.col1 * factor)

    def shift(self, rows: int, cols: int) -> "Window":
        """The window moved by ``rows, cols`` pixels."""
        return Window(self.row0 + rows, self.row1 + rows, self.col0 + cols, self.col1 + cols)

    def slices(self) -> tuple[slice, slice]:
        """``(rows, cols)`` slices for indexing an array whose origin is the grid's origin."""
        return slice(self.row0, self.row1), slice(self.col0, self.col1)

    def slices_in(self, outer: "Window") -> tuple[slice, slice]:
        """``(rows, cols)`` slices of this window inside an array that holds ``outer``."""
        return self.shift(-outer.row0, -outer.col0).slices()

    def to_rasterio(self):
        """The rasterio ``Window(col_off, row_off, width, height)``."""
        return _RioWindow(self.col0, self.row0, self.width, self.height)

    def as_pairs(self) -> list[list[int]]:
        """``[[row0, row1], [col0, col1]]`` (the JSON form written in reports and cards)."""
        return [[self.row0, self.row1], [self.col0, self.col1]]
