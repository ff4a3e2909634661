"""Image files of any format the ``evaluate`` command reads, opened lazily by role.

:func:`open_source` dispatches on the file: a GeoTIFF (bands x rows x cols; band scales of a
narrowed ``fuse --dtype`` output give the digital numbers back), a ``.npy`` (rows x cols x bands,
memory-mapped, one image or a batch), a PanCollection ``.h5``/``.mat`` file (the role's key, or
``FILE.h5:KEY``), or a folder of single-image files in natural order. Each is an
:class:`ImageSource` whose ``read(i)`` returns image ``i`` as ``(C, H, W)`` digital numbers.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import DataFormatError, ShapeError, ValueRangeError
from .arrays import open_npy
from .pancollection import open_pancollection
from .raster import raster_profile, read_image, to_physical

__all__ = ["ImageSource", "ROLE_KEYS", "open_source", "split_key"]


#: keys searched in a PanCollection file for each role, in order
ROLE_KEYS: dict[str, tuple[str, ...]] = {
    "reference": ("gt",),
    "fused": ("sr", "fused", "output"),
    "ms": ("ms",),
    "ms_exp": ("lms",),
    "pan": ("pan",),
}

_H5_SUFFIXES = (".h5", ".hdf5", ".he5", ".mat")
_TIFF_SUFFIXES = (".tif", ".tiff")


@dataclass
class ImageSource:
    """Images of one role read lazily from one file.

    Attributes:
        path: the file; ``key``: the PanCollection key used (None for GeoTIFF / .npy).
        count: number of images; ``shape``: ``(C, H, W)`` of each.
        profile: rasterio profile for a GeoTIFF (CRS/transform), else None.
    """

    path: Path
    kind: str  # "geotiff", "npy", "pancollection"
    count: int
    shape: tuple[int, int, int]
    key: str | None = None
    profile: dict[str, Any] | None = None
    files: list[Path] | None = None  # a folder: one file per image
    _read: Callable[[int], np.ndarray] | None = field(default=None, repr=False)
    _close: Callable[[], None] | None = field(default=None, repr=False)

    def read(self, i: int) -> np.ndarray:
        """Image ``i`` as ``(C, H, W)`` (stored dtype for GeoTIFF/.npy, float64 for PanCollection)."""
        img = self._read(i)
        if not np.isfinite(img).all():
            raise ValueRangeError(
                f"{self.label(i)} contains NaN or inf values; fill or mask nodata before evaluating"
            )
        nodata = (self.profile or {}).get("nodata")
        if nodata is not None and (img == nodata).any():
            warnings.warn(
                f"{self.label(i)} has {int((img == nodata).sum())} nodata ({nodata:g}) values; the indices include "
                "them as data -- crop the images to their valid area for meaningful numbers",
                UserWarning, stacklevel=2,
            )
        return img

    def label(self, i: int | None = None) -> str:
        if self.files is not None:
            return f"{self.path.name}/" if i is None else self.files[i].name
        name = self.path.name + (f":{self.key}" if self.key else "")
        return name if i is None or self.count == 1 else f"{name}[{i}]"

    def describe(self) -> dict[str, Any]:
        out = {"path": str(self.path), "format": self.kind, "key": self.key, "images": self.count,
               "shape": list(self.shape)}
        if self.files is not None:
            out["files"] = [f.name for f in self.files]
        return out

    def close(self) -> None:
        if self._close is not None:
            self._close()


def split_key(spec: "str | Path") -> tuple[Path, str | None]:
    """``FILE.h5:KEY`` -> (FILE.h5, KEY) when FILE.h5 exists and the whole string does not."""
    text = str(spec)
    path = Path(text)
    if path.exists() or ":" not in text:
        return path, None
    head, key = text.rsplit(":", 1)
    if Path(head).suffix.lower() in _H5_SUFFIXES and key:
        return Path(head), key
    return path, None


def open_source(spec: "str | Path", role: str, required: bool = True) -> ImageSource | None:
    """Open the images of ``role`` (``reference``, ``fused``, ``ms``, ``ms_exp``, ``pan``) in ``spec``.

    Returns None when ``required`` is False and a PanCollection file lacks the role's keys.
    """
    path, key = split_key(spec)
    if path.is_dir():
        return _folder_source(path, role)
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file (given as the {role.replace('_', ' ')} image)")
    suffix = path.suffix.lower()
    if suffix in _TIFF_SUFFIXES:
        profile = raster_profile(path)
        shape = (profile["count"], profile["height"], profile["width"])
        # band scales (a narrowed fuse --dtype output) give the digital numbers back
        return ImageSource(path, "geotiff", 1, shape, profile=profile, _read=lambda i: to_physical(*read_image(path)))
    if suffix == ".npy":
        view = open_npy(path)  # memory-mapped: images are read one at a time
        batch = view if view.ndim == 4 else view[None]
        return ImageSource(path, "npy", batch.shape[0], tuple(batch.shape[1:]), _read=lambda i: np.array(batch[i]))
    if suffix in _H5_SUFFIXES:
        f = open_pancollection(path)
        try:
            candidates = (key,) if key else ROLE_KEYS[role]
            found = next((k for k in candidates if k in f), None)
            if found is None and role == "fused" and not key:
                others = [k for k in f.keys if k not in ("gt", "ms", "lms", "pan")]
                found = others[0] if len(others) == 1 else None  # a lone array of another name is the output
            if found is None:
                if not required:
                    f.close()
                    return None
                raise DataFormatError(
                    f"{path}: no {' / '.join(candidates)} key for the {role.replace('_', ' ')} image; the file holds "
                    f"{', '.join(f.keys)} (name one explicitly as {path.name}:KEY)"
                )
            n, c, h, w = f.shape(found)
        except BaseException:
            f.close()
            raise
        return ImageSource(path, "pancollection", n, (c, h, w), key=found,
                           _read=lambda i: f.read(found, i), _close=f.close)
    raise DataFormatError(
        f"{path}: unknown file type {suffix or '(none)'}; give a GeoTIFF (.tif), a .npy (rows x cols x bands) "
        "or a PanCollection .h5/.mat file"
    )


def _natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def _folder_source(folder: Path, role: str) -> ImageSource:
    """One image per file of ``folder`` (GeoTIFF, .npy, .h5/.mat), in natural order (img2 before img10).

    DLPan-style evaluations save one output file per test image; their order must match the
    reference file's images.
    """
    files = sorted(
        (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in (*_TIFF_SUFFIXES, ".npy", *_H5_SUFFIXES)),
        key=_natural_key,
    )
    if not files:
        raise DataFormatError(f"{folder}: holds no .tif, .npy, .h5 or .mat files for the {role} images")
    shapes = []
    for f in files:
        src = open_source(f, role)
        try:
            if src.count != 1:
                raise ShapeError(f"{src.label()} holds {src.count} images; a folder of outputs needs one image per file")
            shapes.append(src.shape)
            key = src.key
        finally:
            src.close()
    if len(set(shapes)) > 1:
        listing = ", ".join(f"{f.name}: {s}" for f, s in zip(files, shapes))
        raise ShapeError(f"{folder}: the images differ in shape ({listing})")

    def read(i: int) -> np.ndarray:
        src = open_source(files[i], role)
        try:
            return src.read(0)
        finally:
            src.close()

    return ImageSource(folder, "folder", len(files), shapes[0], key=key, files=files, _read=read)
