"""The one GeoTIFF writer: profile, clipping and casting, nodata, band metadata, overviews, COG.

Every GeoTIFF the project writes goes through :class:`GeoTiffWriter` (scene fusion writes tile
by tile; :func:`pansharpen.io.raster.write_image` writes a whole array) inside
:func:`pansharpen.io.atomic.atomic_path`, so files appear complete or not at all and get the
mode of a normally created file under the user's umask. What the writer adds:

* **profile**: tiled (256 x 256 blocks when the image is at least that large), BIGTIFF when
  needed, ``--compress`` (``lzw`` by default, ``deflate``, ``zstd`` or ``none``) with the horizontal
  predictor for integers and the floating-point predictor for floats, compression on every core
  (``NUM_THREADS=ALL_CPUS``), then ``--co KEY=VALUE`` options on top (as GDAL's ``-co``);
* **band metadata**: descriptions (band names) and colour interpretation carried over from the MS;
  where the MS says only gray/undefined, bands named Red, Green or Blue get that colour and the
  others keep gray (first band) / undefined, as GDAL assigns them;
* **provenance tags** ``PANSHARPEN_*`` (version, method or model and its card, sensor, ratio,
  command line) plus ``TIFFTAG_SOFTWARE``; :func:`read_provenance` reads them back;
* **internal overviews** (averaged, x2 steps down to under 256 pixels) unless disabled;
* **COG**: the finished file is copied through GDAL's COG driver with the same compression and
  predictor (the driver is copy-only).

The default codec (:data:`DEFAULT_COMPRESS`) was chosen from the measurement in
docs/performance.md (``bench/bench_codecs.py``, full WorldView-3 scene, same run): LZW writes in
0.28x DEFLATE's time for 1.13x its size and every TIFF reader decodes it; ZSTD is 0.79x / 0.95x
but needs a GDAL built with libzstd to read.
"""
from __future__ import annotations

import errno
import os
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import rasterio
from rasterio.enums import ColorInterp, Resampling
from rasterio.shutil import copy as rio_copy

from .._version import __version__
from ..errors import DataFormatError, PanSharpenError
from .windows import Window

__all__ = [
    "COMPRESSIONS", "DEFAULT_COMPRESS", "WriteOptions", "GeoTiffWriter", "TileEncoder", "output_profile", "clip_cast",
    "keep_valid_off_nodata", "colour_interpretation", "read_band_metadata", "read_provenance", "provenance_tags",
    "parse_creation_options",
]

COMPRESSIONS = ("deflate", "zstd", "lzw", "none")
#: chosen from docs/performance.md ("Output codecs")
DEFAULT_COMPRESS = "lzw"
#: ``--compress zstd`` writes at this ZSTD level (GDAL's default is 9): on the fused WV3 scene level 1
#: took a quarter of level 9's time and half of LZW's, in fewer bytes than LZW (docs/performance.md,
#: "Output codecs"); ``--co ZSTD_LEVEL=N`` overrides it
ZSTD_LEVEL = 1
TAG_PREFIX = "PANSHARPEN_"
BLOCK = 256


#: codec levels checked by :class:`WriteOptions` (GDAL takes a bad value silently)
_LEVEL_OPTIONS = {"ZSTD_LEVEL": (1, 22), "ZLEVEL": (1, 12)}  # ZLEVEL 10-12 with libdeflate


@dataclass
class WriteOptions:
    """How a GeoTIFF is written (the ``fuse`` options ``--compress``, ``--co``, ``--no-overviews``, ``--cog``)."""

    compress: str = DEFAULT_COMPRESS
    overviews: bool = True
    cog: bool = False
    creation_options: Mapping[str, str] = field(default_factory=dict)
    threads: str = "ALL_CPUS"

    def __post_init__(self):
        key = str(self.compress).lower()
        if key not in COMPRESSIONS:
            raise DataFormatError(f"unknown compression {self.compress!r}; use one of {', '.join(COMPRESSIONS)}")
        self.compress = key
        self.creation_options = {str(k).upper(): str(v) for k, v in dict(self.creation_options).items()}
        _check_creation_options(self.creation_options)
        if "COMPRESS" in self.creation_options:  # --co COMPRESS=X is --compress X (its level, overviews, COG)
            self.compress = self.creation_options.pop("COMPRESS").strip().lower()


def _check_creation_options(options: Mapping[str, str]) -> None:
    """Refuse creation options that GDAL would take silently (a bad level, thread count) or that
    would fail halfway through the write (a lossy or unknown codec given as ``--co COMPRESS``)."""
    for name, (lo, hi) in _LEVEL_OPTIONS.items():
        value = options.get(name)
        if value is not None and not (value.strip().isdigit() and lo <= int(value) <= hi):
            raise DataFormatError(f"--co {name} must be a whole number from {lo} to {hi}; got {value!r}")
    codec = options.get("COMPRESS")
    if codec is not None and codec.strip().lower() not in COMPRESSIONS:
        raise DataFormatError(f"--co COMPRESS={codec} is not one of the lossless codecs fuse writes; use --compress "
                              f"{'|'.join(COMPRESSIONS)}")
    threads = options.get("NUM_THREADS")
    if threads is not None and not (threads.strip().upper() == "ALL_CPUS" or (threads.strip().isdigit() and int(threads) > 0)):
        raise DataFormatError(f"--co NUM_THREADS must be ALL_CPUS or a positive whole number; got {threads!r}")
    predictor = options.get("PREDICTOR")
    if predictor is not None and predictor.strip() not in ("1", "2", "3"):
        raise DataFormatError(f"--co PREDICTOR must be 1 (none), 2 (integers) or 3 (floating point); got {predictor!r}")


def parse_creation_options(items: Iterable[str]) -> dict[str, str]:
    """``["KEY=VALUE", ...]`` (GDAL ``-co`` syntax) -> ``{"KEY": "VALUE"}``."""
    out = {}
    for item in items or ():
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip() or not re.fullmatch(r"[A-Za-z0-9_]+", key.strip()):
            raise DataFormatError(f"creation option {item!r} is not KEY=VALUE (e.g. --co BLOCKXSIZE=512)")
        out[key.strip().upper()] = value.strip()
    return out


def _predictor(dtype: str) -> int:
    return 2 if np.dtype(dtype).kind in "iu" else 3


def output_profile(
    width: int, height: int, count: int, dtype: str, *, crs=None, transform=None, nodata=None,
    options: WriteOptions | None = None,
) -> dict[str, Any]:
    """The rasterio profile of a GeoTIFF written with ``options`` (module docstring)."""
    options = options or WriteOptions()
    profile: dict[str, Any] = {
        "driver": "GTiff", "width": width, "height": height, "count": count, "dtype": dtype,
        "crs": crs, "transform": transform, "nodata": nodata, "BIGTIFF": "IF_SAFER",
    }
    if options.compress != "none":
        # every core: single-threaded DEFLATE was 3.2 s of a 5.5 s EXP run of the full scene
        profile.update(compress=options.compress, predictor=_predictor(dtype), NUM_THREADS=options.threads)
        if options.compress == "zstd":
            profile["ZSTD_LEVEL"] = str(ZSTD_LEVEL)
    if height >= BLOCK and width >= BLOCK:
        profile.update(tiled=True, blockxsize=BLOCK, blockysize=BLOCK)
    for key, value in options.creation_options.items():
        profile[key.lower() if key.lower() in ("compress", "predictor", "tiled", "blockxsize", "blockysize") else key] = value
    if transform is None:
        profile.pop("transform")
    return profile


def clip_cast(block: np.ndarray, dtype: str, max_value: float | None, scale: float = 1.0) -> np.ndarray:
    """Clip to ``[0, max_value]`` (else the dtype's range times ``scale``; negative values kept for
    signed types without a ``max_value``), divide by ``scale`` (a narrowing output type,
    :func:`pansharpen.fusion.checks.output_scale`), round for integer types, cast."""
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    hi = max_value if max_value is not None else (info.max * scale if info else None)
    lo = 0.0 if (info is None or info.min >= 0 or max_value is not None) else info.min * scale
    block = np.clip(block, lo, hi) if hi is not None else np.maximum(block, lo)  # a new array: in place below
    if scale != 1.0:
        np.divide(block, scale, out=block)
    if info is not None:
        np.rint(block, out=block)
        # the clip and the division are monotonic, so the rounded values lie in [rint(lo / scale),
        # rint(hi / scale)]; the type's clip changes nothing when that is inside its range
        if not (hi is not None and info.min <= np.rint(lo / scale) and np.rint(hi / scale) <= info.max):
            np.clip(block, info.min, info.max, out=block)
    return block.astype(dtype)


def keep_valid_off_nodata(block: np.ndarray, nodata: float) -> None:
    """Valid pixels that land on the nodata value (e.g. clipped to 0) move one step into the valid range."""
    clash = block == nodata
    if clash.any():
        step = 1 if np.dtype(block.dtype).kind in "iu" else np.finfo(block.dtype).eps * max(1.0, abs(nodata))
        upper = np.iinfo(block.dtype).max if np.dtype(block.dtype).kind in "iu" else np.inf
        block[clash] = nodata + step if nodata < upper else nodata - step


@dataclass(frozen=True)
class TileEncoder:
    """A fused block's conversion to the output: :func:`clip_cast` to ``dtype`` (``max_value``,
    ``scale``), then, with a ``nodata`` value, valid pixels moved off it and ``mask`` (True = nodata)
    pixels set to it. What :meth:`GeoTiffWriter.write` applies; picklable, so Dask workers encode their
    own tiles and send the output type (uint16: 4x less than float64) to the one writer."""

    dtype: str
    nodata: float | None = None
    max_value: float | None = None
    scale: float = 1.0

    def __call__(self, block: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        plain = block.dtype == np.dtype(self.dtype) and self.max_value is None and self.scale == 1.0
        out = block if plain else clip_cast(block, self.dtype, self.max_value, self.scale)
        if self.nodata is not None and mask is not None:
            out = out.copy() if out is block else out
            keep_valid_off_nodata(out, self.nodata)
            out[:, mask] = self.nodata
        return out


_COLOUR_WORDS = {"red": "red", "green": "green", "blue": "blue"}


def colour_interpretation(count: int, descriptions: Sequence[str | None] = (), source: Sequence[Any] = ()) -> list:
    """Colour interpretation of ``count`` output bands.

    Band names (``descriptions``) decide first: a band whose name is a colour word, alone or as a
    word of the name (``Red``, ``B4_Red``, ``red``), gets that colour; the others are gray for the
    first band and undefined after it (GDAL's default for a multi-band GeoTIFF). Without colour
    names, ``source`` (the MS bands' :class:`rasterio.enums.ColorInterp`) is kept when it says
    more than gray/undefined. (Names win because GDAL tags the first three bands of any
    pixel-interleaved MS Red/Green/Blue, e.g. Coastal/Blue/Green of a WorldView-3 product.)
    """
    out = [ColorInterp.gray] + [ColorInterp.undefined] * (count - 1)
    used = set()
    for i, name in enumerate(list(descriptions or ())[:count]):
        words = re.split(r"[^a-z]+", str(name or "").lower())
        colour = next((_COLOUR_WORDS[w] for w in words if w in _COLOUR_WORDS), None)
        if colour and colour not in used:
            out[i] = getattr(ColorInterp, colour)
            used.add(colour)
    src = list(source or ())
    if not used and len(src) == count and any(c not in (ColorInterp.gray, ColorInterp.undefined) for c in src):
        return src
    return out


def read_band_metadata(path: "str | os.PathLike") -> tuple[tuple, tuple]:
    """``(descriptions, colorinterp)`` of a raster's bands (empty tuples when it cannot be read)."""
    try:
        with rasterio.open(path) as ds:
            return tuple(ds.descriptions), tuple(ds.colorinterp)
    except Exception:  # an in-memory or unreadable source: nothing to carry over
        return (), ()


def provenance_tags(**fields: Any) -> dict[str, str]:
    """``PANSHARPEN_*`` tags: version and command line plus the given fields (None values dropped)."""
    tags = {"VERSION": __version__, "COMMAND": " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).name, *sys.argv[1:]])}
    tags.update({k.upper(): str(v) for k, v in fields.items() if v is not None})
    return {TAG_PREFIX + k: v for k, v in tags.items()}


def read_provenance(path: "str | os.PathLike") -> dict[str, str]:
    """The ``PANSHARPEN_*`` tags of a GeoTIFF, lower-case keys without the prefix (``{}`` if none)."""
    try:
        with rasterio.open(path) as ds:
            tags = ds.tags()
    except Exception:
        return {}
    return {k[len(TAG_PREFIX):].lower(): v for k, v in tags.items() if k.startswith(TAG_PREFIX)}


class GeoTiffWriter:
    """Write a GeoTIFF window by window; :meth:`close` adds overviews and the COG layout.

    Use inside :func:`~pansharpen.io.atomic.atomic_path` (``path`` is its temporary file)::

        with atomic_path(out) as tmp, GeoTiffWriter(tmp, profile, options, ...) as w:
            w.write(block, window=Window(r0, r1, c0, c1))
    """

    def __init__(self, path: "str | os.PathLike", profile: Mapping[str, Any], options: WriteOptions | None = None, *,
                 descriptions: Sequence[str | None] = (), colorinterp: Sequence[Any] = (),
                 tags: Mapping[str, str] | None = None, max_value: float | None = None, scale: float = 1.0,
                 nonfinite_nodata: float | None = None):
        """``scale``: values are divided by it and it is recorded as the band scale (``DN = value x scale``);
        ``nonfinite_nodata``: the nodata value for ``mask`` pixels when the profile has none, recorded
        once a masked pixel is written (NaN/inf input pixels)."""
        self.path = Path(path)
        self.options = options or WriteOptions()
        self.profile = dict(profile)
        self.max_value = max_value
        self.scale = float(scale)
        self.nonfinite_nodata = nonfinite_nodata
        self._used_nonfinite = False
        try:
            self._ds = rasterio.open(self.path, "w", **self.profile)
        except rasterio.errors.RasterioIOError as exc:
            raise PanSharpenError(f"cannot create {self.path}: {exc}") from None
        except (rasterio.errors.RasterioError, ValueError) as exc:
            raise DataFormatError(f"the GeoTIFF options are not valid ({exc}); check --co/--compress") from None
        count = self.profile["count"]
        if self.scale != 1.0:
            self._ds.scales = (self.scale,) * count
        names = list(descriptions or ())[:count]
        for i, name in enumerate(names, start=1):
            if name:
                self._ds.set_band_description(i, str(name))
        self._ds.colorinterp = colour_interpretation(count, names, colorinterp)
        if tags:
            self._ds.update_tags(**tags)
        self._ds.update_tags(TIFFTAG_SOFTWARE=f"pansharpen {tags.get(TAG_PREFIX + 'VERSION', '') if tags else ''}".strip())

    def __enter__(self) -> "GeoTiffWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._ds.close()

    @property
    def encoder(self) -> TileEncoder:
        """The conversion :meth:`write` applies (for blocks encoded elsewhere, :meth:`write_encoded`)."""
        nodata = self.profile.get("nodata")
        return TileEncoder(self.profile["dtype"], self.nonfinite_nodata if nodata is None else nodata,
                           self.max_value, self.scale)

    def write(self, block: np.ndarray, window: Window | None = None, mask: np.ndarray | None = None) -> None:
        """Write ``block (C, window.height, window.width)`` (float or the output dtype) at ``window``
        (None: the whole raster).

        The block is clipped/cast to the output type (:func:`clip_cast`); with a nodata value,
        valid pixels are moved off it and ``mask`` (True = nodata) pixels set to it (:class:`TileEncoder`).
        """
        self.write_encoded(self.encoder(block, mask), window, mask)

    def write_encoded(self, block: np.ndarray, window: Window | None = None, mask: np.ndarray | None = None) -> None:
        """Write a block that :attr:`encoder` has converted already (``mask``: the one it was given)."""
        if self.profile.get("nodata") is None and self.nonfinite_nodata is not None:
            self._used_nonfinite |= mask is not None and bool(mask.any())
        try:
            self._ds.write(block, window=None if window is None else window.to_rasterio())
        except rasterio.errors.RasterioIOError as exc:  # atomic_path names the output (WriteError)
            raise OSError(errno.ENOSPC if "No space left" in str(exc) else errno.EIO, str(exc)) from None

    def close(self) -> None:
        """Build the overviews, close the file, and rewrite it as a COG if asked."""
        if self._used_nonfinite:
            self._ds.nodata = self.nonfinite_nodata
        if self.options.overviews:
            self._build_overviews()
        self._ds.close()
        if self.options.cog:
            to_cog(self.path, self.profile, self.options)

    def _build_overviews(self) -> None:
        size = max(self.profile["width"], self.profile["height"])
        if size <= BLOCK:
            return
        factors = [2]
        while -(-size // factors[-1]) > BLOCK:  # down to one block, as gdaladdo without levels
            factors.append(2 * factors[-1])
        env = {"GDAL_NUM_THREADS": self.options.threads}
        if self.options.compress != "none":
            env.update(COMPRESS_OVERVIEW=self.options.compress.upper(),
                       PREDICTOR_OVERVIEW=str(_predictor(self.profile["dtype"])))
            if self.options.compress == "zstd":
                env["ZSTD_LEVEL_OVERVIEW"] = str(self.profile.get("ZSTD_LEVEL", ZSTD_LEVEL))
        with rasterio.Env(**env):
            self._ds.build_overviews(factors, Resampling.average)


def to_cog(path: Path, profile: Mapping[str, Any], options: WriteOptions) -> None:
    """Rewrite a GeoTIFF as a Cloud-Optimised GeoTIFF in place, keeping codec and predictor."""
    cog_opts: dict[str, Any] = {"BIGTIFF": "IF_SAFER", "NUM_THREADS": options.threads,
                                "OVERVIEWS": "AUTO" if options.overviews else "NONE"}
    if options.compress != "none":
        cog_opts.update(COMPRESS=options.compress.upper(),
                        PREDICTOR="YES" if _predictor(profile["dtype"]) == 2 else "FLOATING_POINT")
        if options.compress == "zstd":
            cog_opts["LEVEL"] = options.creation_options.get("ZSTD_LEVEL", str(ZSTD_LEVEL))
    else:
        cog_opts["COMPRESS"] = "NONE"
    given = options.creation_options
    if "BLOCKXSIZE" in given and "BLOCKSIZE" not in given:  # the COG driver has one square block size
        cog_opts["BLOCKSIZE"] = given["BLOCKXSIZE"]
    cog_opts.update({k: v for k, v in given.items() if k not in ("TILED", "BLOCKXSIZE", "BLOCKYSIZE", "ZSTD_LEVEL")})
    cog_tmp = path.with_name(path.name + ".cog.tif")
    try:
        rio_copy(str(path), str(cog_tmp), driver="COG", **cog_opts)
        os.replace(cog_tmp, path)
    finally:
        cog_tmp.unlink(missing_ok=True)
