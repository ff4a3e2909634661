"""Multi-scene, multi-sensor Wald-protocol sets from the shared corpus, split by scene.

The scene catalogue ``corpus.toml`` (beside this module, committed) lists every MS + PAN pair of
``shared/data`` and the two ``dgsamples`` products with its sensor (MTF gains), bit depth, band
families, terms of use and its **scene-level split** (``train`` / ``valid`` / ``exclude``): no
scene gives patches to training and images to validation.

For one band family (``wv-8band``: C, B, G, Y, R, RE, N1, N2; ``vhr-4band``: B, G, R, NIR, also
taken from 8-band products as their bands 1, 2, 4, 6) :func:`simulate_corpus` writes

* ``SET_train.h5``: ``patch x patch`` patches (gt scale, every ``stride`` pixels) of each
  training scene, the whole scene simulated as one block;
* ``SET_valid.h5``: the held-out scenes cut into ``tile x tile`` reduced-resolution images
  (each scene simulated as one block, then cut), scored per scene by
  :mod:`pansharpen.benchmark.crossscene`;
* ``SET_manifest.json``: the scenes (source files with SHA-256, sensor, bits, terms, split) and,
  per split, which sample rows came from which scene (also in each h5's ``origin[:, 0]`` and its
  ``scenes`` attribute).

**Scale.** Each scene is divided by its own ``2**bits - 1`` (the network scale, so 8-, 11-, 15-bit
data share one scale) and stored multiplied by 2047, i.e. as 11-bit-equivalent digital numbers:
the files read like any PanCollection WorldView set (normaliser 2047, recorded in the attributes)
and a network trained on them expects ``DN / (2**bits - 1)`` of the user's product.

**PAN degradation.** ``pan_mode="imresize"`` (default) reduces the PAN by antialiased bicubic
``imresize(PAN, 1/r)``, the reference toolbox's default (``resize_images.m``); ``"mtf"`` filters it
with the PAN MTF (``sensor.pan_gnyq``) and decimates it like the MS. Both are Wald's protocol. Our
sets use the bicubic PAN: measured on the held-out scenes (docs/generalization.md), networks
trained on it lose little on MTF-degraded PAN (LGPConv-Net Q2n 0.912 -> 0.893), while networks
trained on MTF PAN collapse on bicubic PAN (0.909 -> 0.755), as the authors' LGPConv ``650.pth``
does (0.838 -> 0.655: it was evidently trained on MTF-filtered PAN; :mod:`pansharpen.models.lgpnet`).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import tomllib

from .._version import __version__
from ..errors import DataFormatError, OutputExistsError, ShapeError, ValueRangeError
from ..io.atomic import atomic_path
from ..io.pancollection import PanCollectionWriter, open_pancollection
from ..io.raster import read_image
from ..io.samples import sample_product
from ..protocol.interp import interp23tap
from ..protocol.sensors import get_sensor
from ..protocol.wald import wald_degrade
from .simulate import (
    SPLITS,
    Block,
    _file_record,
    cut,
    patch_origins,
    simulate_block,
    split_paths,
)

CATALOGUE = Path(__file__).with_name("corpus.toml")
#: band family -> (band count, 0-based band indices taken from an 8-band WorldView product)
FAMILIES: dict[str, tuple[int, tuple[int, ...] | None]] = {
    "wv-8band": (8, None),
    "vhr-4band": (4, (1, 2, 4, 6)),
}
#: the stored scale: values are DN / (2**bits - 1) * STORED_SCALE (11-bit-equivalent DN)
STORED_SCALE = 2047.0
RATIO = 4


@dataclass(frozen=True)
class Scene:
    """One catalogue entry (``corpus.toml``)."""

    name: str
    source: str
    sensor: str
    bits: int
    families: tuple[str, ...]
    split: str
    terms: str
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def max_value(self) -> float:
        return float(2**self.bits - 1)


def load_catalogue(path: "str | os.PathLike | None" = None) -> list[Scene]:
    """The scenes of ``corpus.toml`` (or ``path``), checked: known splits and families, unique names."""
    path = Path(path) if path is not None else CATALOGUE
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DataFormatError(f"scene catalogue {path} is unreadable ({exc}); restore it from the repository") from None
    scenes, seen = [], set()
    for i, entry in enumerate(raw.get("scene", [])):
        known = {"name", "source", "sensor", "bits", "families", "split", "terms", "reason"}
        scene = Scene(**{k: entry[k] for k in known if k in entry and k not in ("families",)},
                      families=tuple(entry.get("families", ())),
                      extra={k: v for k, v in entry.items() if k not in known})
        if scene.split not in ("train", "valid", "exclude"):
            raise DataFormatError(f"{path}: scene {scene.name}: split must be train, valid or exclude; got {scene.split!r}")
        unknown = set(scene.families) - set(FAMILIES)
        if unknown:
            raise DataFormatError(f"{path}: scene {scene.name}: unknown families {sorted(unknown)}; known {sorted(FAMILIES)}")
        if scene.name in seen:
            raise DataFormatError(f"{path}: scene {scene.name} listed twice")
        if scene.split == "exclude" and not scene.reason:
            raise DataFormatError(f"{path}: excluded scene {scene.name} needs a reason")
        seen.add(scene.name)
        scenes.append(scene)
    return scenes


def family_scenes(family: str, split: str, catalogue: list[Scene] | None = None) -> list[Scene]:
    """Scenes of ``split`` that feed ``family`` (catalogue order)."""
    if family not in FAMILIES:
        raise ValueRangeError(f"unknown band family {family!r}; known: {', '.join(FAMILIES)}")
    return [s for s in (catalogue or load_catalogue()) if s.split == split and family in s.families]


def data_root(root: "str | os.PathLike | None" = None) -> Path:
    """The shared corpus folder: ``root``, else ``$PANSHARPEN_SHARED/data``, else ``../shared/data``."""
    if root is not None:
        path = Path(root)
    elif os.environ.get("PANSHARPEN_SHARED"):
        path = Path(os.environ["PANSHARPEN_SHARED"]) / "data"
    else:
        path = Path.cwd().parent / "shared" / "data"
    if not (path / "README.md").is_file():
        raise DataFormatError(
            f"the shared corpus is not at {path} (no README.md); pass --data-root or set PANSHARPEN_SHARED "
            "(its README says how each source is obtained)"
        )
    return path


def scene_files(scene: Scene, root: Path) -> tuple[Path, Path]:
    """``(pan_path, ms_path)`` of a scene."""
    if scene.source.lower().startswith("dgsamples:"):
        return sample_product(scene.source.split(":", 1)[1])
    folder = root / scene.source
    pan, ms = folder / "pan.tif", folder / "ms.tif"
    for p in (pan, ms):
        if not p.is_file():
            raise DataFormatError(f"scene {scene.name}: {p} is missing; is {root} the complete shared corpus?")
    return pan, ms


def read_scene(scene: Scene, family: str, root: Path) -> tuple[np.ndarray, np.ndarray, Any]:
    """``(ms (C, h, w), pan (1, r*h, r*w), sensor)`` of ``scene`` for ``family`` on the stored scale.

    The MS is cropped to whole multiples of the ratio (and the PAN to match); values are
    ``DN / (2**bits - 1) * 2047``; the 4-band family takes bands 1, 2, 4, 6 of 8-band scenes.
    """

    pan_path, ms_path = scene_files(scene, root)
    ms, _ = read_image(ms_path)
    pan, _ = read_image(pan_path)
    pan = pan[None] if pan.ndim == 2 else pan
    nb, indices = FAMILIES[family]
    sensor = get_sensor(scene.sensor, nbands=None if scene.sensor.lower() != "none" else ms.shape[0])
    if ms.shape[0] == 8 and nb == 4:
        ms = ms[list(indices)]
        sensor = sensor.with_bands(indices)
    if ms.shape[0] != nb:
        raise ShapeError(f"scene {scene.name} has {ms.shape[0]} bands; the {family} family needs {nb}")
    h, w = ms.shape[1] - ms.shape[1] % RATIO, ms.shape[2] - ms.shape[2] % RATIO
    if pan.shape[1] < h * RATIO or pan.shape[2] < w * RATIO:
        raise ShapeError(f"scene {scene.name}: PAN {pan.shape[1:]} is not {RATIO} x the MS {ms.shape[1:]}")
    scale = STORED_SCALE / scene.max_value
    ms = ms[:, :h, :w].astype(np.float64) * scale
    pan = pan[:, : h * RATIO, : w * RATIO].astype(np.float64) * scale
    for arr, what in ((ms, "MS"), (pan, "PAN")):
        if not np.isfinite(arr).all():
            raise ValueRangeError(f"scene {scene.name}: the {what} holds NaN or inf")
    return ms, pan, sensor


def _simulate(ms, pan, sensor, pan_mode: str):
    """One block by Wald's protocol with the chosen PAN degradation."""
    if pan_mode == "imresize":
        return simulate_block(ms, pan, sensor, RATIO)

    ms_lr, pan_lr = wald_degrade(ms, pan, sensor, RATIO, pan_mode=pan_mode)
    ms_lr, pan_lr = np.asarray(ms_lr, np.float64), np.asarray(pan_lr, np.float64)
    return Block(np.asarray(ms, np.float64), ms_lr, np.asarray(interp23tap(ms_lr, RATIO), np.float64), pan_lr, 0, 0)


def simulate_corpus(
    family: str,
    out: "str | os.PathLike",
    root: "str | os.PathLike | None" = None,
    patch: int = 64,
    stride: int = 64,
    tile: int = 128,
    max_patches: int | None = None,
    pan_mode: str = "imresize",
    dtype: str = "float32",
    compression: str | None = "gzip",
    seed: int = 0,
    catalogue: "str | os.PathLike | None" = None,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Write ``SET_train.h5``, ``SET_valid.h5`` and ``SET_manifest.json`` for one band family.

    Args:
        family: ``"wv-8band"`` or ``"vhr-4band"`` (:data:`FAMILIES`).
        out: ``SET.h5``; the files are named after it.
        root: the shared corpus folder (:func:`data_root`).
        patch, stride: training patch side and stride (gt pixels; multiples of 4).
        tile: side of the held-out images (gt pixels); a held-out scene smaller than one tile is an error.
        max_patches: at most this many training patches per scene (seeded random subset).
        pan_mode: ``"imresize"`` (bicubic, the toolbox default) or ``"mtf"`` (module docstring).
        dtype: stored float type of the training file (``float16`` halves it and rounds 11-bit
            equivalent DN by at most 0.5, below the data's own quantisation); held-out images are float32.

    Returns:
        ``{"train": path, "valid": path, "manifest": path}``.
    """

    if family not in FAMILIES:
        raise ValueRangeError(f"unknown band family {family!r}; known: {', '.join(FAMILIES)}")
    if pan_mode not in ("imresize", "mtf"):
        raise ValueRangeError(f"pan_mode must be 'imresize' or 'mtf'; got {pan_mode!r}")
    for name, value in (("patch", patch), ("stride", stride), ("tile", tile)):
        if value <= 0 or value % RATIO:
            raise ShapeError(f"--{name} must be a positive multiple of {RATIO}; got {value}")
    paths = {k: v for k, v in split_paths(out).items() if k in ("train", "valid")}
    paths["manifest"] = paths["train"].with_name(paths["train"].name.replace("_train.h5", "_manifest.json"))
    for p in paths.values():
        if p.exists() and not overwrite:
            raise OutputExistsError(f"{p} exists; pass --overwrite to replace it")
    cat = load_catalogue(catalogue)
    src = data_root(root)
    say = progress or (lambda msg: None)
    rng = np.random.default_rng(seed)
    nb = FAMILIES[family][0]
    roles = {"train": family_scenes(family, "train", cat), "valid": family_scenes(family, "valid", cat)}
    scenes = roles["train"] + roles["valid"]
    records: list[dict[str, Any]] = []
    rows: dict[str, dict[str, list[int]]] = {"train": {}, "valid": {}}
    counts = {"train": 0, "valid": 0}
    size = {"train": patch, "valid": tile}
    writers = {
        split: PanCollectionWriter(
            paths[split],
            {"gt": (nb, size[split], size[split]), "ms": (nb, size[split] // RATIO, size[split] // RATIO),
             "lms": (nb, size[split], size[split]), "pan": (1, size[split], size[split]), "origin": (4,)},
            compression=compression, dtype=np.dtype(dtype if split == "train" else "float32"), overwrite=overwrite)
        for split in ("train", "valid")
    }
    failed: BaseException | None = None
    for w in writers.values():
        w.__enter__()
    try:
        for index, scene in enumerate(scenes):
            split = scene.split
            ms, pan, sensor = read_scene(scene, family, src)
            say(f"{split}: {scene.name} ({sensor.name}, {ms.shape[1]} x {ms.shape[2]} MS px, {scene.bits}-bit)")
            block = _simulate(ms, pan, sensor, pan_mode)
            side = size[split]
            step = stride if split == "train" else tile
            origins = patch_origins(block.gt.shape[1], block.gt.shape[2], side, step)
            if split == "valid" and not origins:
                raise ShapeError(f"held-out scene {scene.name} ({ms.shape[1]} x {ms.shape[2]}) is smaller than one "
                                 f"{tile} x {tile} image; lower --tile or exclude it in the catalogue")
            if split == "train" and max_patches is not None and len(origins) > max_patches:
                keep = np.sort(rng.choice(len(origins), size=max_patches, replace=False))
                origins = [origins[i] for i in keep]
            first = counts[split]
            for batch in _batches(block, origins, side, index):
                writers[split].append(batch)
                counts[split] += len(batch["origin"])
            rows[split][scene.name] = [first, counts[split]]
            pan_path, ms_path = scene_files(scene, src)
            records.append({"index": index, "name": scene.name, "source": scene.source, "split": split,
                            "sensor": sensor.name, "bits": scene.bits, "terms": scene.terms,
                            "ms_pixels": [int(ms.shape[1]), int(ms.shape[2])], "samples": counts[split] - first,
                            "pan": _file_record(pan_path), "ms": _file_record(ms_path)})
        attrs = {
            "protocol": ("Wald, per scene: gt = MS; ms = decimate(MTF_sensor(MS)); pan = "
                         + ("imresize(PAN, 1/4, bicubic, antialias)" if pan_mode == "imresize"
                            else "decimate(MTF_PAN(PAN))") + "; lms = interp23tap(ms) over the scene, then cut"),
            "family": family, "ratio": RATIO, "patch": patch, "stride": stride, "tile": tile,
            "max_patches": max_patches, "pan_mode": pan_mode, "seed": seed,
            "normaliser": STORED_SCALE,
            "scale": "DN / (2**bits - 1) * 2047 per scene (11-bit-equivalent DN); networks see DN / (2**bits - 1)",
            "scenes": [{k: r[k] for k in ("index", "name", "split", "sensor", "bits")} for r in records],
            "origin_columns": ["scene", "row", "col", "transform"],
            "split_rule": "scene-level (datasets/corpus.toml): no scene in both training and validation",
            "pansharpen_version": __version__,
        }
        for split, w in writers.items():
            if counts[split] == 0:
                raise ShapeError(f"no {split} sample for {family}: the catalogue lists no usable {split} scene")
            w.attrs.update(attrs, split=split, scene_rows=rows[split])
    except BaseException as exc:
        failed = exc
        raise
    finally:
        for w in writers.values():
            w.__exit__(*((type(failed), failed, failed.__traceback__) if failed else (None, None, None)))
    manifest = {"family": family, "files": {k: paths[k].name for k in ("train", "valid")},
                "scenes": records, "rows": rows, "excluded": [
                    {"name": s.name, "reason": s.reason} for s in cat if s.split == "exclude"],
                **{k: v for k, v in attrs.items() if k not in ("scenes",)}}
    with atomic_path(paths["manifest"], overwrite=True) as tmp:
        Path(tmp).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return paths


def _batches(block, origins, side: int, scene_index: int, batch: int = 32) -> Iterator[dict[str, np.ndarray]]:
    for start in range(0, len(origins), batch):
        chunk = origins[start:start + batch]
        patches = [cut(block, r, c, side, RATIO) for r, c in chunk]
        out = {k: np.stack([p[k] for p in patches]) for k in ("gt", "ms", "lms", "pan")}
        out["origin"] = np.array([[scene_index, r, c, 0] for r, c in chunk], dtype=np.int64)
        yield out


def scene_of_rows(path: "str | os.PathLike") -> dict[str, list[int]]:
    """``{scene: [first, end)}`` sample rows of a file written by :func:`simulate_corpus`."""
    with open_pancollection(path) as f:
        rows = f.attrs.get("scene_rows")
    if not rows:
        raise DataFormatError(f"{path} has no per-scene manifest (scene_rows); build it with `pansharpen simulate corpus:FAMILY`")
    return {k: [int(v[0]), int(v[1])] for k, v in (json.loads(rows) if isinstance(rows, str) else rows).items()}


__all__ = ["Scene", "FAMILIES", "load_catalogue", "family_scenes", "read_scene", "simulate_corpus", "scene_of_rows",
           "data_root", "SPLITS"]
