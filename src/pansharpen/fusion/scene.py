"""Scene fusion: PAN + MS rasters in, a fused GeoTIFF on the PAN grid out.

Tiles of ``tile`` PAN pixels are fused with a halo (the fuser's receptive field) and
cropped, so the result equals a whole-image run; peak memory depends on the tile
size, not on the scene. Output: PAN CRS/transform/size, the MS data type unless asked,
values clipped to the sensor range, nodata propagated (a pixel is nodata where the PAN
or any MS band under it is nodata, or where the MS does not cover it), band names,
colours and provenance tags, written by the one GeoTIFF writer
(:mod:`pansharpen.io.geotiff`: codec, overviews, COG). An MS grid that does not share the
PAN's pixel corners is fused at its sub-pixel phase (:attr:`PairGrid.phase`, passed to the
fuser as ``phase=``). The file is written under a temporary name in the destination
folder and renamed when complete, so an interrupted run never leaves a file at ``out``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import rasterio
from rasterio._err import CPLE_BaseError
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from ..errors import ModelError, OutputExistsError, PanSharpenError, ShapeError
from ..io.atomic import atomic_path, write_error
from ..io.geotiff import (
    GeoTiffWriter,
    TileEncoder,
    WriteOptions,
    output_profile,
    provenance_tags,
    read_band_metadata,
)
from ..io.grid import PairGrid
from ..io.raster import check_written
from ..io.sources import ArraySource, RasterSource, _Source
from ..io.windows import Window
from ..runtime import compute_threads, ordered_map, preload, thread_budget
from .checks import check_fuse_options, check_input_values, output_scale
from .distributed import map_on_dask, threads_for
from .pipeline import WriteBehind, pipeline_enabled, prefetch


@dataclass
class TileJob:
    """Everything a worker needs to fuse one tile (picklable)."""

    window: Window  # on the PAN grid (may extend past the scene)
    grid: PairGrid
    pan: _Source
    ms: _Source
    fill: tuple[np.ndarray, float]  # per-band MS fill values, PAN fill value
    out_nodata: float | None


def _masks(block: np.ndarray, nodata: float | None, dtype=None) -> np.ndarray:
    """Pixels (rows, cols) where any band is nodata or non-finite; ``dtype``: the raster's type, whose
    integers (read as float64) cannot be non-finite, so only the nodata test runs."""
    if dtype is not None and np.dtype(dtype).kind in "iub":
        bad = block == nodata if nodata is not None else np.zeros(block.shape, dtype=bool)
    else:
        bad = ~np.isfinite(block)
        if nodata is not None:
            bad |= block == nodata
    return bad.any(axis=0)


@dataclass
class TileBlocks:
    """One tile's haloed inputs, read and with nodata filled: the part of a tile that needs no fuser
    (:func:`read_tile`; the pipelined path reads the next tiles in a thread while the fuser computes)."""

    window: Window  # the tile, on the PAN grid
    pan_win: Window  # the tile and its halo
    ms: np.ndarray | None  # (C, h, w) float64 DN; None when every pixel of the tile is nodata
    pan: np.ndarray | None  # (1, R*h, R*w)
    mask: np.ndarray  # (th, tw) nodata of the tile
    halo: int  # PAN pixels, a multiple of R
    phase: tuple[float, float]
    bands: int


def tile_halo(fuser, grid: PairGrid) -> int:
    """PAN pixels of context a tile reads on each side: the fuser's halo, one MS pixel more at a
    sub-pixel phase (it moves the interpolation by under a PAN pixel), rounded up to whole MS
    pixels so that the MS window stays aligned."""
    halo = fuser.halo + (grid.ratio if any(grid.phase) else 0)
    return -(-int(halo) // grid.ratio) * grid.ratio


def read_tile(job: TileJob, halo: int) -> TileBlocks:
    """Read the tile's PAN and MS windows with ``halo`` PAN pixels around it (mirrored outside the
    scene), its nodata mask, and the inputs with nodata pixels set to the scene fill values."""
    grid = job.grid
    pan_win = job.window.expand(halo)
    ms_win = grid.ms_window(pan_win)
    pan = job.pan.read(pan_win)
    ms = job.ms.read(ms_win)
    ratio = grid.ratio
    ms_nodata = _masks(ms, job.ms.info.nodata, job.ms.info.dtype)  # outside the MS: mirrored, not filled
    ms_bad = ms_nodata | ~job.ms.valid(ms_win)
    pan_bad = _masks(pan, job.pan.info.nodata, job.pan.info.dtype)
    bad = pan_bad | np.repeat(np.repeat(ms_bad, ratio, axis=0), ratio, axis=1)
    mask = bad[job.window.slices_in(pan_win)]
    blocks = TileBlocks(job.window, pan_win, None, None, mask, halo, grid.phase, ms.shape[0])
    if mask.all():
        return blocks
    ms_fill, pan_fill = job.fill
    if ms_nodata.any():
        ms = np.where(ms_nodata[None], ms_fill[:, None, None], ms)
    if pan_bad.any():
        pan = np.where(pan_bad[None], pan_fill, pan)
    blocks.ms, blocks.pan = ms, pan
    return blocks


def compute_tile(blocks: TileBlocks, fuser: Callable[..., np.ndarray]) -> tuple[Window, np.ndarray, np.ndarray]:
    """Fuse one read tile; returns ``(window, fused (C, th, tw) float64 DN, nodata mask (th, tw))``."""
    if blocks.ms is None:
        return blocks.window, np.zeros((blocks.bands, *blocks.window.shape)), blocks.mask
    phase, pan_win = blocks.phase, blocks.pan_win
    extra = {"margin": blocks.halo} if getattr(fuser, "accepts_margin", False) else {}
    if any(phase):
        if not getattr(fuser, "accepts_phase", False):
            raise ShapeError(
                f"the MS grid lies {phase[0]:+.3f}, {phase[1]:+.3f} PAN pixels off the PAN pixel corners and "
                f"{getattr(fuser, 'name', 'this fuser')} cannot take a sub-pixel phase; resample the MS onto the "
                "PAN's pixel corners (gdalwarp -tap) or use a pansharpen fuser"
            )
        extra["phase"] = phase
    fused = np.asarray(fuser(blocks.ms, blocks.pan, origin=(pan_win.row0, pan_win.col0), **extra), dtype=np.float64)
    if fused.shape[1:] != blocks.pan.shape[1:]:
        raise ShapeError(f"fuser returned {fused.shape} for a PAN block of {blocks.pan.shape}")
    return blocks.window, fused[(slice(None), *blocks.window.slices_in(pan_win))], blocks.mask


def fuse_tile(job: TileJob, fuser: Callable[..., np.ndarray]) -> tuple[Window, np.ndarray, np.ndarray]:
    """Fuse one tile (read, then compute); returns ``(window, fused (C, th, tw) float64 DN, nodata mask (th, tw))``."""
    return compute_tile(read_tile(job, tile_halo(fuser, job.grid)), fuser)


def _run_serial(jobs: list[TileJob], fuser) -> Iterator[tuple[Window, np.ndarray, np.ndarray]]:
    for job in jobs:
        yield fuse_tile(job, fuser)


#: the most tile threads chosen by default: each holds one tile's working set (about 100-150 MB
#: of float64 at the default 512-pixel tile with an 8-band MS), so many-core machines stay bounded
DEFAULT_TILE_THREADS_MAX = 4


def resolve_tile_threads(fuser, threads: int | None = None) -> int:
    """Threads that compute tiles at once: ``threads`` when given, else ``$PANSHARPEN_TILE_THREADS``,
    else the process's thread budget (:func:`~pansharpen.runtime.thread_budget`) up to :data:`DEFAULT_TILE_THREADS_MAX`,
    for a fuser that declares ``parallel_tiles`` (a pure numpy/scipy function of the block, which
    release the GIL: the classical methods); 1 for the others (networks use torch's own threads
    inside each tile).

    Two threads on the idle 2-core machine made the full-scene classical fusions 1.1-1.6x faster
    with the same bytes (docs/performance.md, "Polyphase interpolation and tile threads"); with the
    CLI's allocator setting (one arena, :func:`pansharpen.runtime.retain_freed_memory`) the peaks
    stay those of one thread. ``PANSHARPEN_TILE_THREADS=1`` computes one tile at a time.
    """
    if threads is None:
        if not getattr(fuser, "parallel_tiles", False):
            return 1
        env = os.environ.get("PANSHARPEN_TILE_THREADS", "").strip()
        if not env:
            return max(1, min(thread_budget(), DEFAULT_TILE_THREADS_MAX))
        try:
            threads = int(env)
        except ValueError:
            threads = 0
        if threads < 1:
            raise PanSharpenError(f"PANSHARPEN_TILE_THREADS must be a positive whole number of threads (1: one tile at "
                                  f"a time); got {env!r}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise PanSharpenError(f"tile_threads must be a positive number of threads; got {threads!r}")
    return threads


def blas_threads(fuser):
    """A context with one BLAS (OpenBLAS/MKL) thread for a fuser that declares ``parallel_tiles``, else nothing.

    Those fusers' BLAS calls are small (an intensity ``tensordot`` over a tile's bands, Gram
    products of the statistics): on the 2-core machine under load, OpenBLAS's own threads made
    such a ``tensordot`` 8x slower (0.9 ms on one thread, 8 ms on two), and tile threads bring the
    parallelism instead. The results are bitwise the same (OpenBLAS splits outputs among its
    threads, not sums). Set once around the scene: the limit is process-wide.
    """
    if getattr(fuser, "parallel_tiles", False):
        return threadpool_limits(1, user_api="blas")
    return contextlib.nullcontext()


def _run_threaded(jobs: list[TileJob], fuser, grid: PairGrid, threads: int):
    """Tiles read in order in this thread, computed by ``threads`` threads, yielded in order
    (:func:`~pansharpen.runtime.ordered_map`): each tile is the same computation as in
    :func:`_run_serial`, so the file is the same."""
    halo = tile_halo(fuser, grid)
    reads = (read_tile(job, halo) for job in jobs)
    return ordered_map(reads, functools.partial(compute_tile, fuser=fuser), threads)


def _scene_fill(ms: _Source, pan: _Source, ms_small=None, pan_small=None) -> tuple[np.ndarray, float]:
    """Per-band means of valid pixels (from a decimated read, or the one given): the neutral value for nodata pixels."""
    ms_small = ms.read_decimated(1_000_000) if ms_small is None else ms_small
    bad = _masks(ms_small, ms.info.nodata)
    fill = np.array([b[~bad].mean() if (~bad).any() else 0.0 for b in ms_small])
    pan_small = pan.read_decimated(1_000_000) if pan_small is None else pan_small
    pbad = _masks(pan_small, pan.info.nodata)
    return fill, float(pan_small[0][~pbad].mean()) if (~pbad).any() else 0.0


def _prepare_blocks(ms: _Source, pan: _Source, fill: tuple[np.ndarray, float]) -> tuple[np.ndarray, np.ndarray]:
    """Decimated MS and PAN for ``fuser.prepare`` with nodata and NaN/inf pixels set to the fill values."""
    ms_small, pan_small = ms.read_decimated(4_000_000), pan.read_decimated(16_000_000)
    ms_bad, pan_bad = _masks(ms_small, ms.info.nodata), _masks(pan_small, pan.info.nodata)
    if ms_bad.any():
        ms_small = np.where(ms_bad[None], fill[0][:, None, None], ms_small)
    if pan_bad.any():
        pan_small = np.where(pan_bad[None], fill[1], pan_small)
    return ms_small, pan_small


def _one_pixel_scene(fill: tuple[np.ndarray, float], ratio: int) -> tuple[np.ndarray, np.ndarray]:
    """An MS pixel and its PAN block at the fill values: what ``prepare`` sees for a method whose
    parameters do not depend on the scene (``fuser.reads_scene`` False; the full-resolution PAN read
    of :func:`_prepare_blocks` took 0.1 s of a full WV3 scene's EXP)."""
    return fill[0][:, None, None].astype(np.float64), np.full((1, ratio, ratio), float(fill[1]))


def _writable_destination(out: Path, overwrite: bool, inputs: Iterable[str]) -> None:
    for src in inputs:
        if src and Path(src).exists() and out.exists() and os.path.samefile(src, out):
            raise OutputExistsError(f"the output {out} is one of the inputs; choose another output path")
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists; pass --overwrite (overwrite=True) to replace it")
    if not out.parent.exists():
        raise PanSharpenError(f"the output folder {out.parent} does not exist; create it first")
    if not os.access(out.parent, os.W_OK):
        raise PanSharpenError(f"cannot write into {out.parent} (read-only or no permission); choose another output")


def fuse_scene(
    pan: "str | os.PathLike | _Source",
    ms: "str | os.PathLike | _Source",
    out: "str | os.PathLike",
    fuser,
    *,
    tile: int = 512,
    dtype: str | None = None,
    max_value: float | None = None,
    cog: bool = False,
    overwrite: bool = False,
    workers: int | None = None,
    scheduler: str | None = None,
    quiet: bool = True,
    options: WriteOptions | None = None,
    provenance: dict | None = None,
    band_names: tuple | None = None,
    threads_per_worker: int | None = None,
    check_range: bool = True,
    pipeline: bool | None = None,
    tile_threads: int | None = None,
) -> Path:
    """Fuse a PAN/MS pair with ``fuser`` (a :class:`~pansharpen.fusion.network_fuser.NetworkFuser` or
    :class:`~pansharpen.fusion.fusers.ClassicalFuser`) tile by tile into ``out``.

    ``max_value`` clips the output to ``[0, max_value]`` (the sensor range); ``workers``/``scheduler``
    run tiles as Dask tasks (one writer, this process) with ``threads_per_worker`` torch threads each
    (default: cores / workers). ``options`` say how the GeoTIFF is written
    (:class:`~pansharpen.io.geotiff.WriteOptions`: codec, overviews, COG, creation options; ``cog``
    is a shortcut); ``provenance`` adds ``PANSHARPEN_*`` tags (sensor, ...) to the method/model,
    ratio, version and command line recorded always; ``band_names`` name the bands when the MS
    does not. ``pipeline`` (default ``$PANSHARPEN_PIPELINE``, off): without ``workers``, read the
    next tiles in a thread and write finished ones in another while this thread computes
    (:mod:`pansharpen.fusion.pipeline`; the same bytes as ``pipeline=False``, which runs the three
    steps one after another). ``tile_threads`` (classical methods; default the process's thread budget up to
    4, or ``$PANSHARPEN_TILE_THREADS``: :func:`resolve_tile_threads`): without ``workers`` or ``pipeline``, tiles are read and
    written in order in this thread and computed that many at once in threads, and the statistics'
    band loops use as many (the same bytes as one at a time). Returns the output path.

    Options and input values are checked first (:mod:`pansharpen.fusion.checks`): reflectance or
    [0, 1] inputs and PAN/MS scale mismatches are refused unless ``check_range=False``; NaN/inf
    pixels become nodata; an integer ``dtype`` too narrow for the data gets the values scaled
    into its range (the factor recorded as the band scale). The closed GeoTIFF is checked
    (:func:`~pansharpen.io.raster.check_written`) before it is published.
    """
    out = Path(out)
    preload(getattr(fuser, "imports", ()))  # in a thread, while the inputs are read and checked
    pan_src = pan if isinstance(pan, _Source) else RasterSource(pan)
    ms_src = ms if isinstance(ms, _Source) else RasterSource(ms)
    _writable_destination(out, overwrite, (getattr(pan_src, "path", ""), getattr(ms_src, "path", "")))
    grid = PairGrid.from_infos(pan_src.info, ms_src.info, ratio=fuser.ratio)
    tile = check_fuse_options(tile=tile, ratio=grid.ratio, workers=workers, scheduler=scheduler, dtype=dtype)
    if ms_src.info.count != fuser.bands:
        raise ModelError(
            f"{fuser.name} fuses {fuser.bands} bands but the MS has {ms_src.info.count}; use a model or method for "
            f"{ms_src.info.count} bands"
        )
    dtype = dtype or ms_src.info.dtype
    if workers or scheduler:
        threads_for(workers, threads_per_worker)  # a bad value fails before any work
    threads = resolve_tile_threads(fuser, tile_threads)
    pan_small, ms_small = pan_src.read_decimated(1_000_000), ms_src.read_decimated(1_000_000)
    data_max = check_input_values(pan_small, ms_small, pan_src.info, ms_src.info, check_range=check_range,
                                  max_value=max_value, scale_free=getattr(fuser, "scale_free", False))
    scale = output_scale(dtype, data_max, max_value)  # > 1 when an integer dtype is too narrow
    fill = _scene_fill(ms_src, pan_src, ms_small, pan_small)
    del pan_small, ms_small
    with blas_threads(fuser), compute_threads(threads):  # the statistics' band loops in the tile threads' number
        fuser.prepare(*(_prepare_blocks(ms_src, pan_src, fill) if getattr(fuser, "reads_scene", True)
                        else _one_pixel_scene(fill, grid.ratio)))
    windows = grid.tiles(tile)
    nodata = ms_src.info.nodata if ms_src.info.nodata is not None else pan_src.info.nodata
    covers = _ms_covers_pan(grid, ms_src)
    if nodata is None and not covers:
        nodata = 0
    jobs = [TileJob(w, grid, pan_src, ms_src, fill, nodata) for w in windows]
    options = options or WriteOptions()
    if cog and not options.cog:
        options = dataclasses.replace(options, cog=True)
    profile = output_profile(pan_src.info.width, pan_src.info.height, fuser.bands, dtype, crs=pan_src.info.crs,
                             transform=pan_src.info.transform, nodata=nodata, options=options)
    descriptions, colours = read_band_metadata(ms_src.path) if isinstance(ms_src, RasterSource) else ((), ())
    descriptions = tuple(ms_src.info.descriptions) if any(ms_src.info.descriptions) else descriptions
    if band_names and not any(descriptions) and len(band_names) == fuser.bands:
        descriptions = tuple(band_names)
    nonfinite = None  # nodata for NaN/inf input pixels when the inputs record none
    if nodata is None and any(np.dtype(s.info.dtype).kind == "f" for s in (pan_src, ms_src)):
        nonfinite = float("nan") if np.dtype(dtype).kind == "f" else 0
    if scale != 1.0:
        warnings.warn(
            f"{dtype} cannot hold the data (0-{scale * np.iinfo(dtype).max:.0f}): values are divided by {scale:.4g} "
            f"and the band scale {scale:.4g} is recorded (digital numbers = value x scale)", UserWarning, stacklevel=2,
        )
    tags = provenance_tags(**_fuser_provenance(fuser), ratio=grid.ratio, **(provenance or {}))
    try:
        with atomic_path(out, overwrite=overwrite) as tmp, blas_threads(fuser):
            with GeoTiffWriter(tmp, profile, options, descriptions=descriptions, colorinterp=colours, tags=tags,
                               max_value=max_value, scale=scale, nonfinite_nodata=nonfinite) as writer:
                if workers or scheduler:
                    _write_encoded_tiles(writer, _run_distributed(jobs, fuser, writer.encoder, workers, scheduler,
                                                                  threads_per_worker), len(jobs), quiet)
                elif pipeline_enabled(pipeline):
                    _fuse_pipelined(writer, jobs, fuser, grid, quiet)
                elif threads > 1:
                    _write_tiles(writer, _run_threaded(jobs, fuser, grid, threads), len(jobs), grid, quiet)
                else:
                    _write_tiles(writer, _run_serial(jobs, fuser), len(jobs), grid, quiet)
            check_written(tmp, out)
    except PanSharpenError:
        raise
    except (OSError, rasterio.errors.RasterioError, CPLE_BaseError) as exc:  # write, flush or close; the COG copy
        raise write_error(out, exc) from None
    finally:
        for src in (pan_src, ms_src):
            if hasattr(src, "close"):
                src.close()
    return out


def _ms_covers_pan(grid: PairGrid, ms: _Source) -> bool:
    r0, c0 = grid.row_offset, grid.col_offset
    return (
        r0 <= 0
        and c0 <= 0
        and r0 + ms.info.height * grid.ratio >= grid.pan_height
        and c0 + ms.info.width * grid.ratio >= grid.pan_width
    )


def _fuser_provenance(fuser) -> dict:
    """``method`` (classical) or ``model`` and ``card`` (network) for the output's tags."""
    card = getattr(fuser, "card", None)
    if card is None:
        return {"method": fuser.name}
    return {"model": getattr(card, "arch", None) or fuser.name, "card": fuser.name}


def scene_part(result: tuple[Window, np.ndarray, np.ndarray], grid: PairGrid) -> tuple[Window, np.ndarray, np.ndarray]:
    """The part of a fused tile ``(window, fused, mask)`` that lies in the scene, the same triple
    (an empty window for a tile wholly past the scene: nothing to write)."""
    window, fused, mask = result
    inside = window.intersect(grid.pan_window)
    if inside.is_empty:
        return inside, fused[:, :0, :0], mask[:0, :0]
    crop = inside.slices_in(window)
    return inside, fused[(slice(None), *crop)], mask[crop]


def _write_tile(writer: GeoTiffWriter, grid: PairGrid, result: tuple[Window, np.ndarray, np.ndarray]) -> None:
    """Write the part of a fused tile that lies in the scene."""
    inside, block, mask = scene_part(result, grid)
    if not inside.is_empty:
        writer.write(block, window=inside, mask=mask)


def _write_tiles(writer: GeoTiffWriter, results, total: int, grid: PairGrid, quiet: bool) -> None:
    for result in tqdm(results, total=total, disable=quiet, desc="fusing", unit="tile"):
        _write_tile(writer, grid, result)


def _fuse_pipelined(writer: GeoTiffWriter, jobs: list[TileJob], fuser, grid: PairGrid, quiet: bool,
                    depth: int = 2) -> None:
    """Tiles read ``depth`` ahead in a thread, computed here (the fuser's torch threads), written
    in order by another thread with at most ``depth`` waiting (:mod:`pansharpen.fusion.pipeline`)."""
    halo = tile_halo(fuser, grid)  # measured here (a network's receptive field), not in the reader
    reads = prefetch(jobs, functools.partial(read_tile, halo=halo), depth)
    with contextlib.closing(reads), WriteBehind(functools.partial(_write_tile, writer, grid), depth) as behind:
        for blocks in tqdm(reads, total=len(jobs), disable=quiet, desc="fusing", unit="tile"):
            behind.submit(compute_tile(blocks, fuser))


@dataclass(frozen=True)
class EncodingFuser:
    """What a Dask worker needs for :func:`fuse_and_encode_tile`: the fuser and the writer's
    :class:`~pansharpen.io.geotiff.TileEncoder` (sent to each worker once)."""

    fuser: Callable[..., np.ndarray]
    encoder: TileEncoder


def fuse_and_encode_tile(job: TileJob, work: EncodingFuser) -> tuple[Window, np.ndarray, np.ndarray]:
    """Fuse one tile and convert its part inside the scene to the output type, as the writer would
    (:func:`fuse_tile`, then :class:`~pansharpen.io.geotiff.TileEncoder`): ``(window in the scene, block
    in the output dtype, nodata mask)``; the window is empty for a tile wholly past the scene. A
    worker's result is then 4x smaller for uint16 output than the float64 tile (same bytes written)."""
    inside, block, mask = scene_part(fuse_tile(job, work.fuser), job.grid)
    return inside, (work.encoder(block, mask) if not inside.is_empty else block), mask


def _write_encoded_tiles(writer: GeoTiffWriter, results, total: int, quiet: bool) -> None:
    for window, block, mask in tqdm(results, total=total, disable=quiet, desc="fusing", unit="tile"):
        if not window.is_empty:
            writer.write_encoded(block, window=window, mask=mask)


def _run_distributed(jobs, fuser, encoder, workers, scheduler, threads_per_worker=None):
    return map_on_dask(fuse_and_encode_tile, jobs, EncodingFuser(fuser, encoder), workers=workers, scheduler=scheduler,
                       threads_per_worker=threads_per_worker)


def fuse_sources(pan_src: _Source, ms_src: _Source, fuser, *, tile: int = 512) -> np.ndarray:
    """In-memory tiled fusion of two sources (no clipping, casting or nodata): ``(C, H, W)`` float64."""
    grid = PairGrid.from_infos(pan_src.info, ms_src.info, ratio=fuser.ratio)
    fill = _scene_fill(ms_src, pan_src)
    fuser.prepare(*_prepare_blocks(ms_src, pan_src, fill))
    out = np.zeros((ms_src.info.count, grid.pan_height, grid.pan_width))
    for job in (TileJob(w, grid, pan_src, ms_src, fill, None) for w in grid.tiles(tile)):
        window, fused, _ = fuse_tile(job, fuser)
        inside = window.intersect(grid.pan_window)
        out[(slice(None), *inside.slices())] = fused[(slice(None), *inside.slices_in(window))]
    return out


def fuse_arrays(pan: np.ndarray, ms: np.ndarray, fuser, *, tile: int = 512) -> np.ndarray:
    """In-memory tiled fusion of arrays: ``pan (1,H,W)``, ``ms (C,h,w)`` -> ``(C,H,W)`` float64 (no clipping)."""
    return fuse_sources(ArraySource(pan, path="pan"), ArraySource(ms, path="ms"), fuser, tile=tile)
