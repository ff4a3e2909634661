"""PanCollection files: lazy readers for h5 / .mat (v5 and v7.3), writers (the torch ``Dataset`` over
them is :class:`pansharpen.datasets.training_sets.PanCollectionDataset`).

Layouts understood (``../docs/data.md`` section 4):

* **h5** (PanCollection, HyperPanCollection): datasets ``N x C x H x W`` in digital numbers
  (``pan`` is ``N x 1 x H x W``). A 3-D dataset is one image ``C x H x W``, except a 3-D
  ``pan`` whose first axis equals the file's sample count, read as ``N x H x W``.
* **.mat v7.3** (an HDF5 file written by MATLAB): arrays ``H x W x C`` (one image) or
  ``H x W x C x N``; h5py sees them with the axes reversed, read lazily like h5.
* **.mat v5** (``scipy.io.savemat``/MATLAB ``-v7``): the same ``H x W x C [x N]`` layout,
  read with :func:`scipy.io.loadmat` one variable at a time (small files only: MATLAB's v5
  format cannot be sliced on disk).

Key conventions: ``gt/ms/lms/pan`` (PanCollection), ``GT/MS/LMS/PAN`` (HyperPanCollection)
and the CAVE-style ``GT/LRHSI/HRMSI`` (``LRHSI`` read as ``ms``, ``HRMSI`` or ``RGB`` as ``pan``).
Every reader returns channels-first ``float64`` arrays under the canonical lower-case
names; other arrays in the file (e.g. a network output ``sr``) are available under their
lower-case name.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import h5py
import numpy as np
import scipy.io

from .._version import __version__
from ..errors import DataFormatError, ShapeError, ValueRangeError
from .atomic import atomic_path

#: canonical name -> stored names recognised, in order of preference
KEY_ALIASES: dict[str, tuple[str, ...]] = {
    "gt": ("gt", "GT"),
    "ms": ("ms", "MS", "LRHSI"),
    "lms": ("lms", "LMS"),
    "pan": ("pan", "PAN", "HRMSI", "RGB"),
}
#: order of the canonical keys in listings
CANONICAL_KEYS = ("gt", "ms", "lms", "pan")
_ALL_ALIASES = frozenset(name for names in KEY_ALIASES.values() for name in names)
#: MATLAB classes that never hold an image
_NON_IMAGE_CLASSES = frozenset({"char", "cell", "struct", "logical", "function_handle", "object"})

Index = "int | slice | Sequence[int] | None"


def _is_matlab(path: Path) -> bool:
    return path.suffix.lower() == ".mat"


def _decode_attr(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _encode_attr(value: Any) -> Any:
    """h5 attributes hold scalars and strings; anything else is stored as JSON text."""
    if isinstance(value, (str, int, float, bool, np.integer, np.floating)):
        return value
    return json.dumps(value, default=str, sort_keys=True)


class _Entry:
    """Where one canonical key lives and how to turn its stored axes into ``N x C x H x W``."""

    def __init__(self, stored: str, shape: tuple[int, ...], kind: str):
        self.stored = stored
        self.raw_shape = shape
        self.kind = kind  # "nchw", "chw", "nhw", "mat2", "mat3", "mat4"

    @property
    def shape(self) -> tuple[int, int, int, int]:
        s = self.raw_shape
        return {
            "nchw": lambda: s,
            "chw": lambda: (1, *s),
            "nhw": lambda: (s[0], 1, s[1], s[2]),
            "mat2": lambda: (1, 1, s[0], s[1]),
            "mat3": lambda: (1, s[2], s[0], s[1]),
            "mat4": lambda: (s[3], s[2], s[0], s[1]),
        }[self.kind]()


class PanCollectionFile:
    """A PanCollection-layout file opened for lazy reading (context manager).

    Attributes:
        path: the file.
        keys: canonical lower-case names present (``gt``, ``ms``, ``lms``, ``pan`` first, then
            any other array, lower-cased).
        attrs: provenance stored in the file (h5 root attributes; JSON text decoded).
        format: ``"h5"``, ``"mat-v7.3"`` or ``"mat-v5"``.

    ``len(f)`` is the number of samples; :meth:`read` returns ``float64`` channels-first
    arrays in digital numbers, converting the ``.mat`` ``H x W x C`` layout.

    Raises :class:`DataFormatError` for a missing, truncated or unreadable file, for arrays
    that are not numeric, and when the keys disagree on the number of samples.
    """

    def __init__(self, path: "str | os.PathLike"):
        self.path = Path(path)
        if not self.path.is_file():
            raise DataFormatError(f"{self.path}: no such file; check the path")
        self._h5 = None
        self._datasets: dict[str, Any] = {}
        self._mat_cache: dict[str, np.ndarray] = {}
        self._entries: dict[str, _Entry] = {}
        self.attrs: dict[str, Any] = {}
        try:
            is_h5 = h5py.is_hdf5(self.path)
        except OSError as exc:
            raise DataFormatError(f"{self.path}: cannot be read ({exc})") from exc
        if is_h5:
            self.format = "mat-v7.3" if _is_matlab(self.path) else "h5"
            self._open_h5()
        elif _is_matlab(self.path):
            self.format = "mat-v5"
            self._open_mat_v5()
        else:
            raise DataFormatError(
                f"{self.path}: not an HDF5 file (truncated or corrupt?) and not a .mat file; "
                "PanCollection files are .h5 (HDF5) or .mat (MATLAB v5 or v7.3)"
            )
        if not self._entries:
            raise DataFormatError(f"{self.path}: holds no image arrays (expected keys gt/ms/lms/pan or GT/MS/LMS/PAN)")
        self._check_counts()

    # -- opening -------------------------------------------------------------------------
    def _open_h5(self) -> None:
        try:
            self._h5 = h5py.File(self.path, "r")
            stored = {name: obj for name, obj in self._h5.items() if isinstance(obj, h5py.Dataset)}
            self.attrs = {k: _decode_attr(v) for k, v in self._h5.attrs.items()}
        except (OSError, KeyError, RuntimeError) as exc:
            self.close()
            raise DataFormatError(f"{self.path}: HDF5 file cannot be opened (truncated or corrupt?): {exc}") from exc
        shapes = {}
        for name, ds in stored.items():
            if name.startswith("#"):  # MATLAB's #refs# / #subsystem#
                continue
            matlab_class = ds.attrs.get("MATLAB_class", b"double")
            matlab_class = matlab_class.decode() if isinstance(matlab_class, bytes) else str(matlab_class)
            if ds.dtype.kind not in "fiu" or matlab_class in _NON_IMAGE_CLASSES:
                if name in _ALL_ALIASES:
                    raise DataFormatError(
                        f"{self.path}: dataset {name!r} has dtype {ds.dtype} ({matlab_class}); image arrays must be numeric"
                    )
                continue  # string / logical metadata beside the images
            shapes[name] = tuple(int(n) for n in ds.shape)
        matlab = self.format == "mat-v7.3"
        self._build_entries(shapes, matlab=matlab, reversed_axes=matlab)

    def _open_mat_v5(self) -> None:
        try:
            info = scipy.io.whosmat(self.path)
        except Exception as exc:  # scipy raises several types for a corrupt file
            raise DataFormatError(f"{self.path}: not a readable MATLAB file (truncated or corrupt?): {exc}") from exc
        shapes = {}
        for name, shape, cls in info:
            if cls in _NON_IMAGE_CLASSES:
                if name in _ALL_ALIASES:
                    raise DataFormatError(f"{self.path}: variable {name!r} is a MATLAB {cls}; image arrays must be numeric")
                continue
            shapes[name] = tuple(int(n) for n in shape)
        self._build_entries(shapes, matlab=True, reversed_axes=False)

    def _build_entries(self, shapes: dict[str, tuple[int, ...]], matlab: bool, reversed_axes: bool) -> None:
        def as_matlab(shape):  # h5py shows MATLAB's column-major arrays with reversed axes
            return tuple(reversed(shape)) if reversed_axes else shape

        def kind_of(shape: tuple[int, ...]) -> str | None:
            if min(shape, default=0) == 0:
                return None
            if matlab:  # H x W [x C [x N]]; scalars and vectors (ratio, band lists) are metadata
                hw = as_matlab(shape)[:2]
                return {2: "mat2", 3: "mat3", 4: "mat4"}.get(len(shape)) if min(hw) >= 2 else None
            return {3: "chw", 4: "nchw"}.get(len(shape))

        taken: set[str] = set()
        for canon in CANONICAL_KEYS:
            for stored in KEY_ALIASES[canon]:
                if stored in shapes and kind_of(shapes[stored]):
                    self._entries[canon] = _Entry(stored, as_matlab(shapes[stored]), kind_of(shapes[stored]))
                    taken.update(KEY_ALIASES[canon])
                    break
        for stored, shape in shapes.items():
            name = stored.lower()
            if stored in taken or name in self._entries or not kind_of(shape):
                continue
            self._entries[name] = _Entry(stored, as_matlab(shape), kind_of(shape))
        # an h5 pan stored N x H x W beside N x C x H x W arrays
        counts = {e.shape[0] for k, e in self._entries.items() if e.kind == "nchw"}
        pan = self._entries.get("pan")
        if pan is not None and pan.kind == "chw" and len(counts) == 1 and pan.raw_shape[0] in counts:
            if pan.raw_shape[0] != 1:
                pan.kind = "nhw"

    def _check_counts(self) -> None:
        counts = {k: e.shape[0] for k, e in self._entries.items()}
        if len(set(counts.values())) > 1:
            listing = ", ".join(f"{k}: {n}" for k, n in counts.items())
            raise DataFormatError(
                f"{self.path}: the arrays hold different numbers of samples ({listing}); "
                "every key must have the same first dimension N -- the file is inconsistent, regenerate it"
            )
        spatial = {k: self._entries[k].shape[2:] for k in ("gt", "lms", "pan") if k in self._entries}
        if len(set(spatial.values())) > 1:
            listing = ", ".join(f"{k}: {s[0]}x{s[1]}" for k, s in spatial.items())
            raise DataFormatError(f"{self.path}: gt, lms and pan must have the same H x W; got {listing}")
        bands = {k: self._entries[k].shape[1] for k in ("gt", "ms", "lms") if k in self._entries}
        if len(set(bands.values())) > 1:
            listing = ", ".join(f"{k}: {c}" for k, c in bands.items())
            raise DataFormatError(f"{self.path}: gt, ms and lms must have the same band count; got {listing}")

    # -- public API ------------------------------------------------------------------------
    @property
    def keys(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, key: str) -> bool:
        return self._canon(key, strict=False) is not None

    def __len__(self) -> int:
        return next(iter(self._entries.values())).shape[0]

    def shape(self, key: str) -> tuple[int, int, int, int]:
        """``(N, C, H, W)`` of ``key`` without reading data."""
        return self._entries[self._canon(key)].shape

    def _canon(self, key: str, strict: bool = True) -> str | None:
        k = key.lower()
        if k in self._entries:
            return k
        for canon, aliases in KEY_ALIASES.items():
            if key in aliases and canon in self._entries:
                return canon
        if strict:
            raise DataFormatError(
                f"{self.path}: key {key!r} is missing; the file holds {', '.join(self.keys) or 'nothing'}"
            )
        return None

    def read(self, key: str, index: Index = None) -> np.ndarray:
        """Read ``key`` as ``float64`` channels-first digital numbers.

        Args:
            key: canonical name (``gt``, ``ms``, ``lms``, ``pan``; upper-case accepted) or the
                lower-case name of another array.
            index: ``None`` (all samples, ``N x C x H x W``; loads them), an ``int``
                (one sample, ``C x H x W``), a ``slice`` or a sequence of ints (``n x C x H x W``).
                Only the requested samples are read from disk (h5 and .mat v7.3).
        """
        entry = self._entries[self._canon(key)]
        n = entry.shape[0]
        single = isinstance(index, (int, np.integer))
        if single:
            i = int(index)
            if not -n <= i < n:
                raise IndexError(f"{self.path}: sample {i} out of range for {n} samples")
            sel: Any = slice(i % n, i % n + 1)  # h5py reads slices much faster than index lists
        elif index is None:
            sel = slice(None)
        elif isinstance(index, slice):
            sel = index
        else:
            sel = [int(i) % n for i in index]
        data = self._read_samples(entry, sel)
        return data[0] if single else data

    def sample(self, i: int, keys: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """One sample as ``{key: C x H x W float64}`` for ``keys`` (default: the canonical keys present)."""
        names = list(keys) if keys is not None else [k for k in CANONICAL_KEYS if k in self._entries]
        return {k: self.read(k, i) for k in names}

    def _read_samples(self, entry: _Entry, sel) -> np.ndarray:
        """Read the samples ``sel`` (slice or list of ints) and return them ``n x C x H x W``."""
        kind = entry.kind
        if self.format == "mat-v5":
            arr = self._mat_array(entry)
            arr = {
                "mat2": lambda a: a[None, None],
                "mat3": lambda a: a.transpose(2, 0, 1)[None],
                "mat4": lambda a: a.transpose(3, 2, 0, 1),
            }[kind](arr)
            return np.array(arr[sel], dtype=np.float64)
        try:
            return self._read_h5(entry, sel)
        except (OSError, RuntimeError) as exc:
            raise DataFormatError(
                f"{self.path}: reading {entry.stored!r} failed (truncated or corrupt file?): {exc}"
            ) from exc

    def _read_h5(self, entry: _Entry, sel) -> np.ndarray:
        kind = entry.kind
        ds = self._datasets.get(entry.stored)
        if ds is None:
            ds = self._datasets[entry.stored] = self._h5[entry.stored]
        if kind in ("chw", "mat2", "mat3"):  # one image
            raw = ds[()]
            arr = {
                "chw": lambda a: a[None],
                "mat2": lambda a: a.T[None, None],  # stored W x H
                "mat3": lambda a: a.transpose(0, 2, 1)[None],  # stored C x W x H
            }[kind](raw)
            return np.array(arr[sel], dtype=np.float64)
        if isinstance(sel, slice):
            raw = ds[sel]
        elif not sel:
            raw = ds[0:0]
        else:  # one slice per sample: much faster than h5py's point selection for scattered indices
            raw = np.stack([ds[j:j + 1][0] for j in sel])
        if kind == "nhw":
            raw = raw[:, None]
        elif kind == "mat4":  # stored N x C x W x H
            raw = raw.transpose(0, 1, 3, 2)
        return np.asarray(raw, dtype=np.float64)

    def _mat_array(self, entry: _Entry) -> np.ndarray:
        if entry.stored not in self._mat_cache:
            try:
                loaded = scipy.io.loadmat(self.path, variable_names=[entry.stored])
            except Exception as exc:
                raise DataFormatError(f"{self.path}: reading {entry.stored!r} failed (truncated or corrupt?): {exc}") from exc
            arr = np.asarray(loaded[entry.stored])
            if arr.dtype.kind not in "fiub":
                raise DataFormatError(f"{self.path}: {entry.stored!r} has dtype {arr.dtype}; image arrays must be numeric")
            self._mat_cache[entry.stored] = arr
        return self._mat_cache[entry.stored]

    def close(self) -> None:
        self._datasets.clear()
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None
        self._mat_cache.clear()

    def __enter__(self) -> "PanCollectionFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}={self._entries[k].shape}" for k in self.keys)
        return f"PanCollectionFile({str(self.path)!r}, {self.format}, {shapes})"


def open_pancollection(path: "str | os.PathLike") -> PanCollectionFile:
    """Open a PanCollection h5/.mat file lazily; use as ``with open_pancollection(p) as f: ...``."""
    return PanCollectionFile(path)


# -- writing -----------------------------------------------------------------------------------
def _check_batch(arrays: Mapping[str, Any], where: str, images_only: bool = True) -> dict[str, np.ndarray]:
    out = {}
    for key, arr in arrays.items():
        a = np.asarray(arr.detach().cpu().numpy() if hasattr(arr, "detach") else arr)
        if a.dtype.kind not in "fiu":
            raise ValueRangeError(f"{where}: {key!r} has dtype {a.dtype}; give numeric arrays in digital numbers")
        if a.ndim < 1 or (images_only and a.ndim != 4):
            raise ShapeError(f"{where}: {key!r} must be N x C x H x W; got shape {a.shape}")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise ValueRangeError(f"{where}: {key!r} contains NaN or inf; fill or drop those samples before writing")
        out[key] = a
    counts = {k: a.shape[0] for k, a in out.items()}
    if len(set(counts.values())) > 1:
        raise ShapeError(f"{where}: the arrays hold different numbers of samples: {counts}")
    return out


def write_pancollection(
    path: "str | os.PathLike",
    arrays: Mapping[str, Any],
    attrs: Mapping[str, Any] | None = None,
    compression: str | None = None,
    dtype=np.float64,
    overwrite: bool = True,
) -> Path:
    """Write ``arrays`` (``{key: N x C x H x W}``, digital numbers) as a PanCollection h5 file.

    The file is written to a temporary name beside ``path`` and renamed when complete.
    ``attrs`` (provenance) become root attributes; values other than strings and numbers
    are stored as JSON text (decoded again by :class:`PanCollectionFile`). ``compression``
    is an h5py filter name (``"gzip"``, ``"lzf"``) or None. Keys are written as given
    (use the lower-case ``gt/ms/lms/pan``).
    """
    checked = _check_batch(arrays, str(path))
    if not checked:
        raise ShapeError(f"{path}: nothing to write (no arrays given)")
    shapes = {k: a.shape[1:] for k, a in checked.items()}
    with PanCollectionWriter(path, shapes, attrs, compression=compression, dtype=dtype, overwrite=overwrite) as w:
        w.append(checked)
    return Path(path)


class PanCollectionWriter:
    """Incremental h5 writer: append batches of samples without holding them all in memory.

    Args:
        path: destination ``.h5``; written under a temporary name and renamed on a clean exit
            (an exception inside the ``with`` block deletes the temporary file).
        shapes: ``{key: (C, H, W)}`` of one sample per key (other sample shapes, e.g. ``(4,)`` for
            per-sample metadata, are stored as ``N x ...`` datasets that readers list apart).
        attrs: provenance written as root attributes at the end (may be updated via ``.attrs``).

    Example::

        with PanCollectionWriter("train.h5", {"gt": (8, 64, 64), "pan": (1, 64, 64)}, attrs) as w:
            for batch in batches:
                w.append(batch)   # {key: n x C x H x W}
    """

    def __init__(
        self,
        path: "str | os.PathLike",
        shapes: Mapping[str, Sequence[int]],
        attrs: Mapping[str, Any] | None = None,
        compression: str | None = None,
        dtype=np.float64,
        overwrite: bool = True,
    ):
        self.path = Path(path)
        self.shapes = {k: tuple(int(n) for n in s) for k, s in shapes.items()}
        self.attrs = dict(attrs or {})
        self.compression = compression
        self.dtype = dtype
        self.overwrite = overwrite
        self.count = 0
        self._ctx = None
        self._file = None

    def __enter__(self) -> "PanCollectionWriter":
        self._ctx = atomic_path(self.path, overwrite=self.overwrite)
        tmp = self._ctx.__enter__()
        self._file = h5py.File(tmp, "w")
        for key, shape in self.shapes.items():
            image = len(shape) == 3
            self._file.create_dataset(
                key, shape=(0, *shape), maxshape=(None, *shape), dtype=self.dtype if image else np.int64,
                chunks=(1 if image else 1024, *shape), compression=self.compression,
            )
        return self

    def append(self, batch: Mapping[str, Any]) -> None:
        """Append ``{key: n x C x H x W}`` (every key of ``shapes``, the same ``n``)."""
        if self._file is None:
            raise RuntimeError("PanCollectionWriter.append called outside its `with` block")
        checked = _check_batch(batch, str(self.path), images_only=False)
        if set(checked) != set(self.shapes):
            raise ShapeError(f"{self.path}: batch keys {sorted(checked)} differ from the file's {sorted(self.shapes)}")
        n = next(iter(checked.values())).shape[0]
        for key, arr in checked.items():
            if arr.shape[1:] != self.shapes[key]:
                raise ShapeError(f"{self.path}: {key!r} samples must be {self.shapes[key]}; got {arr.shape[1:]}")
            ds = self._file[key]
            ds.resize(self.count + n, axis=0)
            ds[self.count:self.count + n] = arr
        self.count += n

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                attrs = {"format": "PanCollection", "layout": "N x C x H x W", "pansharpen_version": __version__}
                attrs.update(self.attrs)
                attrs["samples"] = self.count
                for key, value in attrs.items():
                    self._file.attrs[key] = _encode_attr(value)
        finally:
            self._file.close()
            self._file = None
        self._ctx.__exit__(exc_type, exc, tb)
