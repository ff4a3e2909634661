"""Exceptions raised by pansharpen.

Every error says what is wrong and what to do. The CLI turns any
:class:`PanSharpenError` into one line on stderr and exit code 2.
"""
from __future__ import annotations


class PanSharpenError(Exception):
    """Base class of all errors raised on purpose by pansharpen."""


class ShapeError(PanSharpenError, ValueError):
    """Array shapes, band counts or sizes disagree with each other or with the ratio."""


class ValueRangeError(PanSharpenError, ValueError):
    """Values are non-finite, or in a range that the operation cannot use (e.g. [0, 1] where DN are needed)."""


class DataFormatError(PanSharpenError, ValueError):
    """A file is missing, truncated, lacks a required key or cannot be parsed."""


class SensorError(PanSharpenError, KeyError):
    """Unknown sensor name or inconsistent sensor description."""

    def __str__(self) -> str:  # KeyError quotes its message; we want plain text
        return str(self.args[0]) if self.args else ""


class ModelError(PanSharpenError, ValueError):
    """Unknown model, wrong checkpoint or a model that does not fit the data."""


class OutputExistsError(PanSharpenError, FileExistsError):
    """The output path exists and overwriting was not asked for."""


class WriteError(PanSharpenError, OSError):
    """An output could not be written completely (full disk, failed flush or close); nothing was published.

    Raised as ``WriteError(errno, message)``; ``str()`` is the message alone.
    """

    def __str__(self) -> str:  # OSError would prefix "[Errno N]"
        return str(self.args[1]) if len(self.args) > 1 else super().__str__()
