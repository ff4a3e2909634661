"""Training / validation / test sets from real PAN + MS products by Wald's protocol.

For each product (MS ``C x h x w``, PAN ``1 x rh x rw``, ratio ``r``):

* ``gt``  = the MS itself (the reference at reduced resolution);
* ``ms``  = ``decimate(MTF_sensor(MS))`` -- the MS blurred with the sensor's MTF-matched
  filters and decimated by ``r`` at phase ``r/2`` (``C x h/r x w/r``);
* ``pan`` = ``imresize(PAN, 1/r)`` -- antialiased bicubic, the 2020 toolbox default (``1 x h x w``);
* ``lms`` = ``interp23tap(ms, r)`` computed over the whole block and then cut into patches (a
  patch interpolated on its own would differ at its border).

This is ``resize_images.m`` (metrics-reference section 3.3) with the MS and PAN each given at
their own scale; it uses the protocol's ``mtf_filter``, ``decimate`` and ``imresize``.

Split geometry (per product, at the reduced-resolution ``gt`` scale, rows from the top; the
product is first cropped to whole multiples of ``r``)::

    rows [0, t)        training block   -> 64 x 64 patches every `stride` pixels
    rows [t, v)        validation block -> patches every `stride` pixels inside it
    rows [v, h)        test strip       -> square test images of `test_block` pixels side by side

Each block is simulated on its own (its own MTF filtering, decimation and interpolation, with
the reference's replicate/periodic borders at the block edge), so no training patch overlaps or
depends on any validation or test pixel. Outputs are three PanCollection files
``SET_train.h5``, ``SET_valid.h5``, ``SET_test.h5`` (keys ``gt``, ``ms``, ``lms``, ``pan``,
``N x C x H x W`` float64 digital numbers, readable by
:func:`pansharpen.io.pancollection.open_pancollection`); each also holds ``origin``
(``N x 4`` int: source index, row, column at the ``gt`` scale of that source, transform id)
and root attributes with the provenance.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .._version import __version__
from ..errors import DataFormatError, OutputExistsError, ShapeError, ValueRangeError
from ..io.pancollection import PanCollectionWriter
from ..io.raster import find_pair, read_pair
from ..io.samples import sample_product
from ..protocol.interp import interp23tap
from ..protocol.policy import resolve_sensor
from ..protocol.wald import wald_degrade

SPLITS = ("train", "valid", "test")
PROTOCOL = (
    "Wald: gt = MS; ms = decimate(MTF_sensor(MS), ratio, offset ratio//2); pan = imresize(PAN, 1/ratio, "
    "bicubic, antialias); lms = interp23tap(ms) over each block, then cut"
)
#: dihedral transform ids: k quarter turns (id % 4), flipped left-right first when id >= 4
N_TRANSFORMS = 8
_BATCH = 32


# ------------------------------------------------------------------------------------ sources
@dataclass
class Product:
    """One PAN + MS product to simulate from."""

    name: str
    pan_path: Path
    ms_path: Path
    sensor: str | None

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sensor": self.sensor,
            "pan": _file_record(self.pan_path),
            "ms": _file_record(self.ms_path),
        }


def _file_record(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return {"file": path.name, "bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def resolve_source(spec: "str | Path", sensor: str | None = None) -> Product:
    """A SOURCE argument as a :class:`Product`.

    Accepted: ``dgsamples:WV3`` / ``dgsamples:WV2`` (the sample products), ``PAN.tif:MS.tif``, or a
    folder holding one PAN and one MS GeoTIFF. The sensor is ``sensor`` when given, else the
    sample product's, else None: the sensor policy decides from the product's metadata
    (:func:`pansharpen.protocol.policy.resolve_sensor`).
    """
    text = str(spec)
    if text.lower().startswith("dgsamples:"):
        which = text.split(":", 1)[1]
        pan, ms = sample_product(which)
        return Product(text, pan, ms, sensor or which.upper())
    path = Path(text)
    if path.is_dir():
        pan, ms = find_pair(path)
    elif ":" in text and not path.exists():
        left, right = text.split(":", 1)
        pan, ms = Path(left), Path(right)
        for p in (pan, ms):
            if not p.is_file():
                raise DataFormatError(f"{p}: no such file (source {text!r})")
    else:
        raise DataFormatError(
            f"source {text!r}: give PAN.tif:MS.tif, a folder with one PAN and one MS GeoTIFF, or dgsamples:WV3"
        )
    return Product(text, pan, ms, sensor)


# ------------------------------------------------------------------------------------ numerics
def degrade_pair(ms: np.ndarray, pan: np.ndarray, sensor, ratio: int) -> tuple[np.ndarray, np.ndarray]:
    """Wald degradation of a full-resolution pair given at its own scales.

    Args:
        ms: ``(C, h, w)`` digital numbers, ``h`` and ``w`` multiples of ``ratio``.
        pan: ``(1, ratio*h, ratio*w)``.
        sensor: :class:`~pansharpen.protocol.sensors.Sensor` (MS MTF gains).

    Returns:
        ``ms_lr (C, h/ratio, w/ratio)`` = decimate(MTF(ms)) and ``pan_lr (1, h, w)`` =
        imresize(pan, 1/ratio) (bicubic, antialiased).
    """
    ms_lr, pan_lr = wald_degrade(ms, pan, sensor, ratio)
    return np.asarray(ms_lr, dtype=np.float64), np.asarray(pan_lr, dtype=np.float64)


@dataclass
class Block:
    """A simulated block: the four PanCollection arrays of one region of one product."""

    gt: np.ndarray  # (C, H, W)
    ms: np.ndarray  # (C, H/r, W/r)
    lms: np.ndarray  # (C, H, W)
    pan: np.ndarray  # (1, H, W)
    row: int  # top-left of the block in gt pixels of the product
    col: int


def simulate_block(ms: np.ndarray, pan: np.ndarray, sensor, ratio: int, row: int = 0, col: int = 0) -> Block:
    """Simulate one block: ``ms (C, h, w)`` and ``pan (1, r*h, r*w)`` at full resolution."""
    ms_lr, pan_lr = degrade_pair(ms, pan, sensor, ratio)
    lms = np.asarray(interp23tap(ms_lr, ratio), dtype=np.float64)
    return Block(np.asarray(ms, dtype=np.float64), ms_lr, lms, pan_lr, row, col)


def transform(x: np.ndarray, t: int) -> np.ndarray:
    """Dihedral transform ``t`` (0..7) of the last two axes: flip left-right if ``t >= 4``, then ``t % 4`` quarter turns."""
    if t >= 4:
        x = x[..., ::-1]
    return np.ascontiguousarray(np.rot90(x, t % 4, axes=(-2, -1)))


def patch_origins(rows: int, cols: int, patch: int, stride: int) -> list[tuple[int, int]]:
    """Top-left corners of ``patch x patch`` patches every ``stride`` pixels inside ``rows x cols``."""
    if rows < patch or cols < patch:
        return []
    return [(r, c) for r in range(0, rows - patch + 1, stride) for c in range(0, cols - patch + 1, stride)]


def cut(block: Block, r: int, c: int, patch: int, ratio: int) -> dict[str, np.ndarray]:
    """The patch at ``(r, c)`` (gt pixels inside the block; multiples of ``ratio``)."""
    q, lr, lc = patch // ratio, r // ratio, c // ratio
    return {
        "gt": block.gt[:, r:r + patch, c:c + patch],
        "ms": block.ms[:, lr:lr + q, lc:lc + q],
        "lms": block.lms[:, r:r + patch, c:c + patch],
        "pan": block.pan[:, r:r + patch, c:c + patch],
    }


# ------------------------------------------------------------------------------------ layout
@dataclass(frozen=True)
class SplitGeometry:
    """Row ranges (gt pixels, after the crop to multiples of ``ratio``) of one product's splits."""

    rows: int
    cols: int
    train: tuple[int, int]
    valid: tuple[int, int]
    test: tuple[int, int]
    test_tiles: tuple[tuple[int, int], ...]  # (row, col) of each test image

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "cols": self.cols, "train_rows": list(self.train),
                "valid_rows": list(self.valid), "test_rows": list(self.test),
                "test_tiles": [list(t) for t in self.test_tiles]}


def split_geometry(rows: int, cols: int, ratio: int, patch: int, val_fraction: float, test_block: int) -> SplitGeometry:
    """Train / validation / test row ranges of a ``rows x cols`` (gt scale) product.

    The test strip is ``test_block`` rows at the bottom (0: none), cut into square images; the
    validation strip above it has ``val_fraction`` of the rows, rounded up to a multiple of
    ``ratio`` and at least one patch high (0: none); the rest, at the top, is for training.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueRangeError(f"val_fraction must be in [0, 1); got {val_fraction}")
    if test_block < 0 or test_block % ratio:
        raise ShapeError(f"test_block must be a non-negative multiple of the ratio {ratio}; got {test_block}")
    if test_block and (test_block > cols or test_block > rows):
        raise ShapeError(
            f"a {test_block} x {test_block} test block does not fit a {rows} x {cols} product (MS pixels); "
            "pass a smaller --test-block or 0 for no test set"
        )
    val_rows = 0
    if val_fraction > 0:
        val_rows = max(patch, -(-int(np.ceil(val_fraction * rows)) // ratio) * ratio)
    test0 = rows - test_block
    val0 = test0 - val_rows
    if val0 < patch:
        raise ShapeError(
            f"a {rows}-row product leaves {max(val0, 0)} rows for training after {val_rows} validation and "
            f"{test_block} test rows; a {patch}-pixel patch needs more: lower --val-fraction / --test-block "
            "or use a larger product"
        )
    tiles = tuple((test0, c) for c in range(0, cols - test_block + 1, test_block)) if test_block else ()
    return SplitGeometry(rows, cols, (0, val0), (val0, test0), (test0, rows), tiles)


# ------------------------------------------------------------------------------------ run
def split_paths(out: "str | Path") -> dict[str, Path]:
    """``SET.h5`` -> ``{"train": SET_train.h5, "valid": SET_valid.h5, "test": SET_test.h5}``."""
    out = Path(out)
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    suffix = out.suffix or ".h5"
    return {s: out.with_name(f"{stem}_{s}{suffix}") for s in SPLITS}


def _read_product(product: Product, ratio: int):
    pan, ms, info = read_pair(product.pan_path, product.ms_path, ratio=ratio)
    for arr, path in ((pan, product.pan_path), (ms, product.ms_path)):
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ValueRangeError(
                f"{path} contains NaN or inf; fill them or set a nodata value (patches touching nodata are skipped)"
            )
    nodata_pan, nodata_ms = info.nodata
    valid = np.ones(ms.shape[1:], dtype=bool)  # gt-scale mask of usable pixels
    if nodata_ms is not None:
        valid &= ~(ms == nodata_ms).any(axis=0)
    if nodata_pan is not None:
        bad = (pan[0] == nodata_pan).reshape(ms.shape[1], ratio, ms.shape[2], ratio).any(axis=(1, 3))
        valid &= ~bad
    h, w = ms.shape[1] - ms.shape[1] % ratio, ms.shape[2] - ms.shape[2] % ratio
    ms = ms[:, :h, :w].astype(np.float64)
    pan = pan[:, : h * ratio, : w * ratio].astype(np.float64)
    return ms, pan, valid[:h, :w], info


def simulate(
    sources: Sequence["str | Path"],
    out: "str | Path",
    sensor: str | None = None,
    ratio: int = 4,
    patch: int = 64,
    stride: int = 32,
    augment: bool = False,
    val_fraction: float = 0.1,
    test_block: int = 128,
    seed: int = 0,
    max_patches: int | None = None,
    compression: str | None = None,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Write ``SET_train.h5``, ``SET_valid.h5`` and ``SET_test.h5`` from PAN + MS products.

    Args:
        sources: ``dgsamples:WV3``, ``PAN.tif:MS.tif`` or folders (see :func:`resolve_source`).
        out: ``SET.h5``; the split files are named after it (:func:`split_paths`).
        sensor: MTF gains for every source (default: each source's own, from the sample product
            or the ``.IMD`` beside it).
        ratio, patch, stride: PAN/MS ratio; patch side and stride in gt (= reduced-resolution
            PAN) pixels; both multiples of ``ratio``.
        augment: add one seeded random flip/rotation copy of every training patch (its ``lms`` is
            transformed, not re-interpolated; ``origin[:, 3]`` says which transform).
        val_fraction, test_block: split geometry (:func:`split_geometry`); 0 disables a split.
        seed: seeds the augmentation and the ``max_patches`` subset.
        max_patches: keep at most this many training patches per source (random, seeded).
        compression: h5py filter (``"gzip"``, ``"lzf"``) or None.

    Returns:
        ``{split: path}`` of the files written (a split with no data is not written).
    """

    if not sources:
        raise DataFormatError("give at least one source (PAN.tif:MS.tif, a folder, or dgsamples:WV3)")
    for name, value in (("patch", patch), ("stride", stride)):
        if value <= 0 or value % ratio:
            raise ShapeError(f"--{name} must be a positive multiple of the ratio {ratio}; got {value}")
    paths = split_paths(out)
    for p in paths.values():
        if p.exists() and not overwrite:
            raise OutputExistsError(f"{p} exists; pass --overwrite to replace it")
    products = [resolve_source(s, sensor) for s in sources]
    rng = np.random.default_rng(seed)
    say = progress or (lambda msg: None)

    records: list[dict[str, Any]] = []
    sensors: list[str] = []
    max_values: list[int] = []
    writers: dict[str, PanCollectionWriter] = {}
    counts = {s: 0 for s in SPLITS}
    band_count: int | None = None
    try:
        for index, product in enumerate(products):
            say(f"reading {product.name}")
            ms, pan, valid, info = _read_product(product, ratio)
            # the sensor policy (a refusal says what to pass; nothing half-written stays)
            sens, _ = resolve_sensor(product.sensor, pan_path=product.pan_path, ms_path=product.ms_path,
                                     nbands=ms.shape[0])
            if band_count is None:
                band_count = ms.shape[0]
            elif ms.shape[0] != band_count:
                raise ShapeError(
                    f"source {product.name} has {ms.shape[0]} bands but the first source has {band_count}; "
                    "one set holds one band layout"
                )
            geom = split_geometry(ms.shape[1], ms.shape[2], ratio, patch, val_fraction, test_block)
            say(f"simulating {product.name} ({sens.name}, {ms.shape[1]} x {ms.shape[2]} MS pixels)")
            dropped = 0
            for split, blocks in _split_blocks(ms, pan, geom, sens, ratio):
                for block, tile in blocks:
                    if split == "test":
                        origins = [(0, 0)]
                        size = tile
                    else:
                        origins = patch_origins(block.gt.shape[1], block.gt.shape[2], patch, stride)
                        size = patch
                    usable = [(r, c) for r, c in origins
                              if valid[block.row + r:block.row + r + size, block.col + c:block.col + c + size].all()]
                    dropped += len(origins) - len(usable)
                    if split == "train" and max_patches is not None and len(usable) > max_patches:
                        keep = np.sort(rng.choice(len(usable), size=max_patches, replace=False))
                        usable = [usable[i] for i in keep]
                    if not usable:
                        continue
                    writer = writers.get(split)
                    if writer is None:
                        shapes = {"gt": (band_count, size, size), "ms": (band_count, size // ratio, size // ratio),
                                  "lms": (band_count, size, size), "pan": (1, size, size), "origin": (4,)}
                        writer = PanCollectionWriter(paths[split], shapes, compression=compression, overwrite=overwrite)
                        writer.__enter__()
                        writers[split] = writer
                    for batch in _batches(block, usable, size, ratio, index, augment and split == "train", rng):
                        writer.append(batch)
                        counts[split] += len(batch["origin"])
            sensors.append(sens.name)
            max_values.append(sens.max_value)
            records.append({**product.describe(), "sensor": sens.name, "ratio": info.ratio,
                            "grid": info.as_dict(), "split_geometry": geom.as_dict(),
                            "patches_dropped_for_nodata": dropped})
        if not writers:
            raise ShapeError("no patch could be cut from the sources; use a smaller --patch / --stride or larger products")
        common = {
            "protocol": PROTOCOL,
            "ratio": ratio,
            "patch": patch,
            "stride": stride,
            "augment": augment,
            "val_fraction": val_fraction,
            "test_block": test_block,
            "seed": seed,
            "max_patches": max_patches,
            "sources": records,
            "sensors": sensors,
            "max_value": max(max_values),
            "split_layout": "per source, gt-scale rows from the top: train | valid | test strip of square images; "
                            "each block simulated on its own",
            "origin_columns": ["source", "row", "col", "transform"],
            "pansharpen_version": __version__,
        }
        if len(set(sensors)) == 1:
            common["sensor"] = sensors[0]
        for split, writer in writers.items():
            writer.attrs.update(common, split=split)
        failed = None
    except BaseException as exc:
        failed = exc
        raise
    finally:
        for writer in writers.values():
            if failed is None:
                writer.__exit__(None, None, None)
            else:
                writer.__exit__(type(failed), failed, failed.__traceback__)
    return {s: paths[s] for s in SPLITS if s in writers}


def _split_blocks(ms, pan, geom: SplitGeometry, sensor, ratio) -> Iterator[tuple[str, list]]:
    """``(split, [(block, test_size)])`` -- every block simulated on its own."""
    def block(r0, r1, c0, c1):
        return simulate_block(ms[:, r0:r1, c0:c1], pan[:, r0 * ratio:r1 * ratio, c0 * ratio:c1 * ratio],
                              sensor, ratio, r0, c0)

    yield "train", [(block(*geom.train, 0, geom.cols), 0)]
    if geom.valid[1] > geom.valid[0]:
        yield "valid", [(block(*geom.valid, 0, geom.cols), 0)]
    size = geom.test[1] - geom.test[0]
    yield "test", [(block(r, r + size, c, c + size), size) for r, c in geom.test_tiles]


def _batches(block: Block, origins, size, ratio, source_index, augment, rng) -> Iterator[dict[str, np.ndarray]]:
    for start in range(0, len(origins), _BATCH):
        chunk = origins[start:start + _BATCH]
        patches = [cut(block, r, c, size, ratio) for r, c in chunk]
        ids = [0] * len(chunk)
        if augment:
            extra = rng.integers(1, N_TRANSFORMS, size=len(chunk))
            patches += [{k: transform(v, int(t)) for k, v in p.items()} for p, t in zip(patches, extra)]
            ids += [int(t) for t in extra]
            chunk = chunk + chunk
        batch = {k: np.stack([p[k] for p in patches]) for k in ("gt", "ms", "lms", "pan")}
        batch["origin"] = np.array(
            [[source_index, block.row + r, block.col + c, t] for (r, c), t in zip(chunk, ids)], dtype=np.int64
        )
        yield batch
