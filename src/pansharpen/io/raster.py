"""GeoTIFF images and PAN/MS pairs through rasterio, with the pair's grids checked.

A PAN/MS pair is usable when both rasters share a CRS, their grids are north-up (not rotated
or sheared), the MS pixel is an integer ``ratio`` times the PAN pixel and the two footprints
overlap. The MS pixel corners need not fall on PAN pixel corners: the MS origin is placed on
the nearest PAN corner and the sub-pixel rest is the grid's phase (:func:`pair_phase`, e.g.
half a PAN pixel for Landsat's centre-registered 15/30 m grids), which the fusion's
upsampling takes into account. :func:`read_pair` reads the overlap, cut to whole MS pixels,
so that the returned PAN is exactly ``ratio`` times the MS in each direction.

Rasters without georeferencing (identity transform, no CRS) are accepted when the PAN size
is exactly ``ratio`` times the MS size (the two are then assumed to cover the same area). So are
pairs whose georeferences are both placeholders (:func:`placeholder_grid`: each upper-left corner
half a pixel from the CRS origin, as MATLAB writes arrays it has no coordinates for):
their offsets are the writer's pixel-centre convention, not a measurement, and the pair is taken
as the arrays are, sharing pixel corners, with a warning.
"""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.windows
from rasterio._err import CPLE_BaseError

from ..errors import DataFormatError, ShapeError, WriteError
from .atomic import atomic_path, check_output, write_error
from .geotiff import DEFAULT_COMPRESS, GeoTiffWriter, WriteOptions, output_profile
from .windows import Window

__all__ = [
    "read_image", "raster_profile", "read_pair", "check_pair_grids", "pair_phase", "placeholder_grid", "PairInfo",
    "write_image", "find_pair", "atomic_path", "check_written", "to_physical",
]



def _open(path: "str | os.PathLike"):
    p = Path(path)
    if not p.is_file():
        raise DataFormatError(f"{p}: no such file; check the path")
    try:
        return rasterio.open(p)
    except rasterio.errors.RasterioIOError as exc:
        raise DataFormatError(f"{p}: not a readable raster (truncated or corrupt?): {exc}") from exc


def _check_dtype(path, dtype: str) -> None:
    if np.dtype(dtype).kind not in "uif":
        raise DataFormatError(f"{path}: pixel type {dtype} is not supported; images must be integer or real numbers")


def _read(ds, window=None, dtype=None) -> np.ndarray:
    try:
        arr = ds.read(window=window)
    except Exception as exc:  # rasterio raises RasterioIOError / CPLE_* for damaged strips
        raise DataFormatError(f"{ds.name}: reading pixels failed (truncated or corrupt file?): {exc}") from exc
    return arr if dtype is None else arr.astype(dtype, copy=False)


def read_image(path: "str | os.PathLike", dtype=None) -> tuple[np.ndarray, dict[str, Any]]:
    """Read a whole raster as ``(bands, rows, cols)`` and its rasterio profile.

    ``dtype`` None keeps the stored type (e.g. uint16 digital numbers); the profile carries
    ``crs``, ``transform``, ``nodata``, ``dtype`` plus ``descriptions`` (band names) and the band
    ``scales``/``offsets`` (stored values x scale + offset = physical values; see :func:`to_physical`).
    """
    with _open(path) as ds:
        _check_dtype(path, ds.dtypes[0])
        arr = _read(ds, dtype=dtype)
        profile = dict(ds.profile)
        profile["descriptions"] = tuple(ds.descriptions)
        profile["scales"], profile["offsets"] = tuple(ds.scales), tuple(ds.offsets)
    return arr, profile


def to_physical(arr: np.ndarray, profile: dict[str, Any]) -> np.ndarray:
    """``arr`` x band scale + band offset (float64) when the raster records them (e.g. a narrowed
    ``fuse --dtype uint8`` output), else ``arr`` unchanged."""
    scales = np.asarray(profile.get("scales") or (1.0,), dtype=np.float64)
    offsets = np.asarray(profile.get("offsets") or (0.0,), dtype=np.float64)
    if np.all(scales == 1.0) and np.all(offsets == 0.0):
        return arr
    return arr.astype(np.float64) * scales[:, None, None] + offsets[:, None, None]


def raster_profile(path: "str | os.PathLike") -> dict[str, Any]:
    """The rasterio profile of a raster (size, count, dtype, CRS, transform) without reading pixels."""
    with _open(path) as ds:
        _check_dtype(path, ds.dtypes[0])
        return dict(ds.profile, descriptions=tuple(ds.descriptions))


def write_image(
    path: "str | os.PathLike",
    array: np.ndarray,
    profile: dict[str, Any] | None = None,
    overwrite: bool = False,
    *,
    compress: str = DEFAULT_COMPRESS,
    overviews: bool = False,
    cog: bool = False,
    tags: dict[str, str] | None = None,
    **options: Any,
) -> Path:
    """Write ``array`` ``(bands, rows, cols)`` as a GeoTIFF, atomically, with the one GeoTIFF
    writer (:mod:`pansharpen.io.geotiff`: tiling, predictor, band names and colours, tags).

    ``profile`` gives ``crs``/``transform``/``nodata`` and ``descriptions`` (e.g. from
    :func:`read_image`); size, count and dtype come from ``array``. ``compress``: ``lzw`` (the
    measured default), ``deflate``, ``zstd`` or ``none``; ``overviews``/``cog`` as for ``fuse``; extra ``options`` are
    GDAL creation options (``blockxsize=512``...).
    """
    arr = np.asarray(array)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ShapeError(f"write_image: array must be (bands, rows, cols); got shape {arr.shape}")
    out = check_output(path, overwrite)
    given = profile or {}
    opts = WriteOptions(compress=compress, overviews=overviews, cog=cog, creation_options=options)
    prof = output_profile(arr.shape[2], arr.shape[1], arr.shape[0], arr.dtype.name, crs=given.get("crs"),
                          transform=given.get("transform"), nodata=given.get("nodata"), options=opts)
    with atomic_path(out, overwrite=overwrite) as tmp:
        try:
            with GeoTiffWriter(tmp, prof, opts, descriptions=given.get("descriptions") or (), tags=tags) as writer:
                writer.write(arr)
        except rasterio.errors.RasterioError as exc:
            raise write_error(out, exc) from None
        check_written(tmp, out)
    return out


def check_written(path: "str | os.PathLike", out: "str | os.PathLike | None" = None) -> None:
    """Raise :class:`~pansharpen.errors.WriteError` unless the GeoTIFF at ``path`` (just closed) is complete.

    libtiff reports a failed write (a full disk, typically) from GDAL's compression threads or at
    dataset close, where rasterio does not raise: the file then lacks blocks, holds cut blocks, or
    lacks its directory. Always checked (no pixel decoded, about 5 microseconds a block): the file
    opens and every block's recorded offset + size lies inside it. When the file system has less
    free space than the file's size (the only state in which a full disk can have cut a block; a
    failed write leaves it full) every block is also decoded, one block row at a time.
    ``out`` names the final path in the message.
    """
    path, out = Path(path), Path(out) if out is not None else Path(path)
    try:
        size = path.stat().st_size
        with rasterio.open(path) as ds:
            bh, bw = ds.block_shapes[0]
            pixel = ds.count == 1 or ds.interleaving is None or ds.interleaving.name == "pixel"
            for b in [1] if pixel else range(1, ds.count + 1):
                for i in range(-(-ds.height // bh)):
                    for j in range(-(-ds.width // bw)):
                        offset = ds.get_tag_item(f"BLOCK_OFFSET_{j}_{i}", "TIFF", bidx=b)
                        nbytes = ds.get_tag_item(f"BLOCK_SIZE_{j}_{i}", "TIFF", bidx=b)
                        if not offset or not nbytes or int(offset) + int(nbytes) > size:
                            raise write_error(out, f"block {i},{j} of band {b} is missing")
            if _nearly_full(path, size):
                for r0 in range(0, ds.height, bh):
                    ds.read(window=rasterio.windows.Window(0, r0, ds.width, min(bh, ds.height - r0)))
    except (rasterio.errors.RasterioError, CPLE_BaseError, OSError) as exc:
        if isinstance(exc, WriteError):
            raise
        raise write_error(out, exc) from None


def _nearly_full(path: Path, size: int) -> bool:
    try:
        stat = os.statvfs(path.parent)
    except (OSError, AttributeError):
        return True
    return stat.f_bavail * stat.f_frsize < max(size, 1 << 26)


@dataclass
class PairInfo:
    """Geometry of a checked PAN/MS pair (what :func:`read_pair` read).

    ``pan_window``/``ms_window`` are :class:`~pansharpen.io.windows.Window` in each raster's pixels;
    ``transform`` is the PAN grid transform of the returned PAN array, ``ms_transform`` that
    of the returned MS array.
    """

    ratio: int
    crs: Any
    transform: Any
    ms_transform: Any
    pan_window: Window
    ms_window: Window
    georeferenced: bool
    pan_profile: dict[str, Any] = field(repr=False)
    ms_profile: dict[str, Any] = field(repr=False)
    phase: tuple[float, float] = (0.0, 0.0)

    @property
    def nodata(self) -> tuple[Any, Any]:
        return self.pan_profile.get("nodata"), self.ms_profile.get("nodata")

    def as_dict(self) -> dict[str, Any]:
        return {
            "ratio": self.ratio,
            "crs": self.crs.to_string() if self.crs else None,
            "transform": list(self.transform)[:6],
            "pan_window": self.pan_window.as_pairs(),
            "ms_window": self.ms_window.as_pairs(),
            "georeferenced": self.georeferenced,
            **({"phase": list(self.phase)} if any(self.phase) else {}),
        }


def _is_georeferenced(ds) -> bool:
    return ds.crs is not None or not ds.transform.is_identity


#: MS origins within this many PAN pixels of a PAN pixel corner count as aligned (phase 0)
ALIGN_TOL = 1e-3
#: an MS pixel size within this many PAN pixels, over the MS's width or height, of a whole ratio of the
#: PAN's is fused at that ratio (with a warning above ALIGN_TOL): grids resampled by other tools carry
#: such sizes (pansharpen_r's Landsat-8 pair: 29.9976 x 30.0016 m on 15.0004 x 14.9994 m, 0.08 px over
#: 399 x 310 MS pixels); beyond it the pixels would land visibly off and the pair is refused
RATIO_DRIFT_TOL = 0.25


def placeholder_grid(ds) -> bool:
    """True for MATLAB's placeholder georeference, which only numbers the pixels: a north-up grid whose
    pixel ``(1, 1)`` has its centre one pixel size from the CRS origin, i.e. its upper-left corner half
    a pixel from ``(0, 0)`` (to :data:`ALIGN_TOL` of a pixel).

    MATLAB writes an array it has no coordinates for that way: the PAirMax reduced-resolution
    GeoTIFFs have the PAN corner at (+0.62, -0.62) m (1.24 m pixels) and the MS corner at
    (+2.48, -2.48) m (4.96 m), which read as real coordinates put the MS 1.5 PAN pixels off the
    PAN. No image of the Earth has its corner there in a projected CRS (UTM's origin lies 500 km
    outside every zone), nor at half a pixel from (0 deg, 0 deg) in a geographic one. A corner at
    the origin itself (``from_origin(0, 0, ...)``, synthetic grids) is not this pattern.
    """
    t = ds.transform
    return (_is_georeferenced(ds) and not (t.b or t.d)
            and abs(t.c - t.a / 2) <= ALIGN_TOL * abs(t.a) and abs(t.f - t.e / 2) <= ALIGN_TOL * abs(t.e))


def _placeholder_pair(pan_ds, ms_ds) -> bool:
    """Both georeferences are placeholders (:func:`placeholder_grid`): the pair is taken as its arrays are."""
    return placeholder_grid(pan_ds) and placeholder_grid(ms_ds)


def _ms_origin(pan_ds, ms_ds) -> tuple[float, float]:
    """MS origin minus PAN origin in PAN pixels ``(rows, cols)`` (north-up grids)."""
    pt, mt = pan_ds.transform, ms_ds.transform
    return (mt.f - pt.f) / pt.e, (mt.c - pt.c) / pt.a


def _split_offset(offset: float) -> tuple[int, float]:
    """``offset = whole + phase`` with ``phase`` in [-0.5, 0.5] (0 within :data:`ALIGN_TOL`)."""
    whole = round(offset)
    phase = offset - whole
    return whole, 0.0 if abs(phase) <= ALIGN_TOL else phase


def pair_phase(pan_ds, ms_ds) -> tuple[float, float]:
    """Sub-pixel phase ``(rows, cols)`` of the MS grid on the PAN grid, in PAN pixels, in [-0.5, 0.5].

    The MS origin lies at ``whole + phase`` PAN pixels from the PAN origin; :func:`check_pair_grids`
    works with the whole part, and the upsampling is told the phase
    (:func:`pansharpen.protocol.interp.interp23tap`). ``(0, 0)`` for grids that share pixel
    corners (to :data:`ALIGN_TOL`) and for rasters without georeferencing. Example: a Landsat
    product (15 m PAN and 30 m MS registered at pixel centres) has ``(-0.5, -0.5)``.
    """
    if not (_is_georeferenced(pan_ds) and _is_georeferenced(ms_ds)) or _placeholder_pair(pan_ds, ms_ds):
        return 0.0, 0.0
    row_off, col_off = _ms_origin(pan_ds, ms_ds)
    return _split_offset(row_off)[1], _split_offset(col_off)[1]


def check_pair_grids(pan_ds, ms_ds, ratio: int | None = None) -> tuple[int, Window, Window]:
    """Check that two open rasters form a PAN/MS pair; return ``(ratio, pan_window, ms_window)``.

    The :class:`~pansharpen.io.windows.Window` s cover the footprint overlap, cut to whole
    MS pixels, with the MS origin rounded to the nearest PAN pixel corner; a sub-pixel rest
    (grids that do not share pixel corners) is :func:`pair_phase`. Raises :class:`ShapeError`
    (band counts, ratio, no overlap) or :class:`DataFormatError` (CRS differs, rotated or sheared
    grids: both say to warp with ``gdalwarp``).
    """
    pan_name, ms_name = Path(pan_ds.name).name, Path(ms_ds.name).name
    if pan_ds.count != 1:
        raise ShapeError(
            f"PAN {pan_name} has {pan_ds.count} bands; the panchromatic image must have 1 "
            "(did you swap PAN and MS?)"
        )
    geo_pan, geo_ms = _is_georeferenced(pan_ds), _is_georeferenced(ms_ds)
    if not (geo_pan or geo_ms):
        return _check_plain_sizes(pan_ds, ms_ds, ratio)
    if _placeholder_pair(pan_ds, ms_ds):
        # the placeholders' pixel sizes are the GSDs: their ratio is what the array sizes must show
        pixel_ratio = round(abs(ms_ds.transform.a / pan_ds.transform.a))
        sizes = _check_plain_sizes(pan_ds, ms_ds, ratio if ratio is not None else pixel_ratio or None,
                                   "with placeholder georeferences")
        # stacklevel 1: one warning location whichever command checks the pair (each shown once a process)
        warnings.warn(
            f"PAN {pan_name} and MS {ms_name} have placeholder georeferences (upper-left corners half a pixel from "
            f"the CRS origin, as MATLAB writes arrays without coordinates), so they are taken as their arrays are, "
            f"sharing pixel corners, not {_offset_text(pan_ds, ms_ds)} apart as the placeholders say; give them real "
            "coordinates (e.g. gdal_edit.py -a_ullr) to use a measured offset", UserWarning, stacklevel=1)
        return sizes
    if geo_pan != geo_ms:
        raise DataFormatError(
            f"only one of PAN {pan_name} and MS {ms_name} is georeferenced; give both with a CRS and "
            "transform, or both without (then the sizes must differ exactly by the ratio)"
        )
    if (pan_ds.crs is None) != (ms_ds.crs is None) or (pan_ds.crs and pan_ds.crs != ms_ds.crs):
        raise DataFormatError(
            f"PAN {pan_name} and MS {ms_name} have different CRS ({pan_ds.crs} vs {ms_ds.crs}); "
            "reproject the MS onto the PAN's CRS first (e.g. gdalwarp -t_srs)"
        )
    pt, mt = pan_ds.transform, ms_ds.transform
    if pt.b or pt.d or mt.b or mt.d:
        raise DataFormatError(
            f"PAN {pan_name} or MS {ms_name} has a rotated or sheared grid; warp both to a north-up grid first "
            "(e.g. gdalwarp -t_srs EPSG:XXXX, with the PAN's pixel size for the PAN and R times it for the MS)"
        )
    rx, ry = mt.a / pt.a, mt.e / pt.e
    found = round(rx)
    # fused as ratio `found`: MS pixel i is placed at R i PAN pixels, R i (rx / R - 1) off where it lies
    drift = max(abs(rx - found) * ms_ds.width, abs(ry - found) * ms_ds.height)
    if found < 1 or drift > RATIO_DRIFT_TOL:
        raise ShapeError(
            f"the MS pixel ({abs(mt.a):g} x {abs(mt.e):g}) is not an integer multiple of the PAN pixel "
            f"({abs(pt.a):g} x {abs(pt.e):g}) of the same orientation (ratio {rx:.6g} x {ry:.6g}"
            + (f"; as ratio {found} the MS would drift up to {drift:.2g} PAN pixels off across the scene, over the "
               f"{RATIO_DRIFT_TOL:g} allowed" if found >= 1 else "")
            + "); resample the MS to an integer ratio of the PAN grid"
        )
    if drift > ALIGN_TOL:
        warnings.warn(
            f"the MS pixel of {ms_name} is {rx:.6g} x {ry:.6g} PAN pixels, not exactly {found}: fused as ratio {found}, "
            f"which places its pixels up to {drift:.2g} PAN pixels off across the scene", UserWarning, stacklevel=1)
    if ratio is not None and found != ratio:
        raise ShapeError(
            f"the pixel sizes give a PAN/MS ratio of {found}, not the requested {ratio}; "
            f"pass ratio {found} (--ratio {found}) or check the inputs"
        )
    # MS origin in PAN pixels: the whole part places the windows, the rest is the phase
    row_off, col_off = (_split_offset(v)[0] for v in _ms_origin(pan_ds, ms_ds))
    # overlap in MS pixels: MS pixel i covers PAN rows row_off + R*i .. + R
    r = found
    i0 = max(0, math.ceil(-row_off / r))
    j0 = max(0, math.ceil(-col_off / r))
    i1 = min(ms_ds.height, (pan_ds.height - row_off) // r)
    j1 = min(ms_ds.width, (pan_ds.width - col_off) // r)
    if i1 <= i0 or j1 <= j0:
        raise ShapeError(
            f"PAN {pan_name} and MS {ms_name} do not overlap (no whole MS pixel lies inside the PAN); "
            "check that they show the same area"
        )
    ms_window = Window(i0, i1, j0, j1)
    return found, ms_window.scale(r).shift(row_off, col_off), ms_window


def _offset_text(pan_ds, ms_ds) -> str:
    rows, cols = _ms_origin(pan_ds, ms_ds)
    return f"{rows:+.3g}, {cols:+.3g} PAN pixels"


def _check_plain_sizes(pan_ds, ms_ds, ratio, how: str = "without georeferencing"):
    ph, pw, mh, mw = pan_ds.height, pan_ds.width, ms_ds.height, ms_ds.width
    r = ratio if ratio is not None else (ph // mh if mh else 0)
    if r < 1 or (ph, pw) != (mh * r, mw * r):
        raise ShapeError(
            f"PAN is {ph} x {pw} and MS is {mh} x {mw}: {how} the PAN must be exactly "
            f"ratio x the MS size{f' (ratio {ratio})' if ratio else ''}; crop them or add georeferencing"
        )
    return r, Window.of_shape(ph, pw), Window.of_shape(mh, mw)


def read_pair(
    pan_path: "str | os.PathLike",
    ms_path: "str | os.PathLike",
    ratio: int | None = None,
    dtype=None,
) -> tuple[np.ndarray, np.ndarray, PairInfo]:
    """Read a PAN/MS GeoTIFF pair after checking their grids.

    Returns ``pan (1, H, W)``, ``ms (C, h, w)`` with ``H = ratio * h`` and ``W = ratio * w``
    (the footprint overlap, in whole MS pixels) and a :class:`PairInfo`. ``dtype`` None keeps
    the stored pixel type. ``ratio`` None infers it from the pixel sizes.
    """
    with _open(pan_path) as pan_ds, _open(ms_path) as ms_ds:
        _check_dtype(pan_path, pan_ds.dtypes[0])
        _check_dtype(ms_path, ms_ds.dtypes[0])
        r, pw, mw = check_pair_grids(pan_ds, ms_ds, ratio)
        pan_win, ms_win = pw.to_rasterio(), mw.to_rasterio()
        pan = _read(pan_ds, pan_win, dtype)
        ms = _read(ms_ds, ms_win, dtype)
        pan_profile = dict(pan_ds.profile, descriptions=tuple(pan_ds.descriptions))
        ms_profile = dict(ms_ds.profile, descriptions=tuple(ms_ds.descriptions))
        info = PairInfo(
            ratio=r,
            crs=pan_ds.crs,
            transform=pan_ds.window_transform(pan_win),
            ms_transform=ms_ds.window_transform(ms_win),
            pan_window=pw,
            ms_window=mw,
            georeferenced=_is_georeferenced(pan_ds),
            pan_profile=pan_profile,
            ms_profile=ms_profile,
            phase=pair_phase(pan_ds, ms_ds),
        )
    if any(info.phase):
        warnings.warn(
            f"the MS grid of {Path(ms_path).name} lies {info.phase[0]:+.3f}, {info.phase[1]:+.3f} PAN pixels off the "
            "PAN pixel corners: the arrays are cut on the nearest whole-pixel overlap and keep that offset "
            "(PairInfo.phase; `pansharpen fuse` interpolates the MS at it)", UserWarning, stacklevel=2)
    return pan, ms, info


_TIFF_SUFFIXES = (".tif", ".tiff")


def find_pair(folder: "str | os.PathLike") -> tuple[Path, Path]:
    """Find the PAN and MS GeoTIFFs in ``folder`` (searched two levels deep).

    The PAN is the single-band raster; the MS the multi-band raster with an integer ratio to
    it and the same footprint (a product's SWIR or browse images are skipped). Raises
    :class:`DataFormatError` when none or several candidates remain: then name them as
    ``pan.tif:ms.tif``.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DataFormatError(f"{root}: not a folder")
    files = sorted(
        p for p in [*root.glob("*"), *root.glob("*/*")] if p.is_file() and p.suffix.lower() in _TIFF_SUFFIXES
    )
    pans, mss = [], []
    for p in files:
        try:
            with _open(p) as ds:
                (pans if ds.count == 1 else mss).append(p)
        except DataFormatError:
            continue
    if len(pans) != 1:
        raise DataFormatError(
            f"{root}: found {len(pans)} single-band GeoTIFFs ({', '.join(p.name for p in pans) or 'none'}); "
            "give the pair explicitly as PAN.tif:MS.tif"
        )
    fitting = []
    with _open(pans[0]) as pan_ds:
        for m in mss:
            with _open(m) as ms_ds:
                try:
                    _, pw, _ = check_pair_grids(pan_ds, ms_ds)
                except (ShapeError, DataFormatError):
                    continue
                covered = pw.height * pw.width
                fitting.append((covered, m))
    if not fitting:
        raise DataFormatError(f"{root}: no multi-band GeoTIFF fits the PAN {pans[0].name}; give PAN.tif:MS.tif")
    fitting.sort(key=lambda t: -t[0])
    if len(fitting) > 1 and fitting[0][0] == fitting[1][0]:
        raise DataFormatError(
            f"{root}: several MS candidates ({', '.join(m.name for _, m in fitting)}); give PAN.tif:MS.tif"
        )
    return pans[0], fitting[0][1]
