"""Benchmark configurations: parse a YAML/TOML file (or a dict) and validate it before any work.

A configuration lists *methods* x *test sets* plus the protocol. Paths are relative to
``data_dir`` (itself relative to the config file; default: the config file's folder)::

    name: lgpconv-table2
    title: LGPConv Table 2 style comparison (dgsamples WV3, not PanCollection)
    data_dir: ../runs/data
    protocol: {sensor: WV3, ratio: 4, crop: 0, block_size: 32, max_images: null, threads: 2}
    test_sets:
      - {name: wv3-rr, path: wv3_test_rr.h5, resolution: reduced}   # needs gt
      - {name: wv3-fr, path: wv3_test_fr.h5, resolution: full}      # no gt needed
    methods:
      - {label: GSA, classical: gsa}
      - {label: LightNet, network: lightnet, weights: lightnet-wv3, fold: true}
      - {label: LGPConv-Net, network: lgpconv-net, options: {conv: lgp},
         train: {train: wv3_train.h5, valid: wv3_valid.h5, epochs: 20}, seeds: [0, 1, 2]}
      - {label: random PNN, network: pnn, weights: random, seeds: [0]}
    timing: {repeats: 5, warmup: 1, size: 128}
    figures: {comparison: true, image: 0, inset: [32, 32, 32], curves: true}

Every problem is reported by :func:`load_config` before anything is trained or fused:
unknown keys, unknown methods or sensors, missing files, a test set without ground
truth used for reduced-resolution indices, weights or training data for another band
count, bad protocol values.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from .. import models
from ..classical.registry import get_method, list_methods
from ..errors import (
    DataFormatError,
    ModelError,
    SensorError,
    ShapeError,
    ValueRangeError,
)
from ..io.pancollection import open_pancollection
from ..protocol.sensors import get_sensor
from ..training.presets import preset_names

RESOLUTIONS = ("reduced", "full")


# ----------------------------------------------------------------------------------- specs
@dataclass(frozen=True)
class ProtocolSpec:
    """Evaluation protocol (metrics-reference.md sections 2 and 3.13).

    Attributes:
        sensor: sensor name for MTF gains / DN range (None: each test file's recorded sensor,
            else the toolbox's generic sensor).
        ratio: PAN/MS resolution ratio.
        crop: reduced-resolution border cut ``dim_cut`` (0 = none; toolbox demos 21 or 30).
        block_size: Q2n block / Q window (32).
        max_images: evaluate only the first N images of each test set (None: all).
        threads: torch intra-op threads (None: leave torch's default).
    """

    sensor: str | None = None
    ratio: int = 4
    crop: int = 0
    block_size: int = 32
    max_images: int | None = None
    threads: int | None = None


@dataclass(frozen=True)
class TestSetSpec:
    """One test file (PanCollection layout) and what is measured on it.

    ``resolution="reduced"`` needs ``gt`` (Wald protocol: Q2n, Q, SAM, ERGAS, SCC);
    ``"full"`` scores the fusion of ``ms``/``pan`` without a reference (QNR family).
    ``count``/``bands``/``pan_size`` are read from the file during validation.
    """

    name: str
    path: Path
    resolution: str
    count: int
    bands: int
    pan_size: tuple[int, int]
    sensor: str
    has_lms: bool
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def images(self) -> int:
        return self.count


@dataclass(frozen=True)
class TrainSpec:
    """A training budget for a network (the fields of :class:`pansharpen.training.config.TrainConfig` it sets)."""

    train: Path
    valid: Path | None = None
    preset: str = "paper"
    epochs: int | None = None
    minutes: float | None = None
    batch_size: int | None = None
    lr: float | None = None
    validate_every: int = 1
    select: str = "best"


@dataclass(frozen=True)
class MethodSpec:
    """One row of the table.

    Attributes:
        label: the row name (unique).
        kind: ``"classical"`` or ``"network"``.
        name: classical method name or registered architecture.
        weights: weights file / bundled name, ``"random"`` (seeded random init), or None when
            ``train`` is given.
        train: training budget (trained once per seed), or None.
        seeds: seeds (random init / training); ``(None,)`` for fixed weights and classical.
        options: classical method options or ``models.create`` options (conv variant, ...).
        fold: evaluate the folded (dense) inference form of SpanConv/LGPConv/BSConv networks.
        timing: include in the timing table.
    """

    label: str
    kind: str
    name: str
    weights: str | None = None
    train: TrainSpec | None = None
    seeds: tuple[int | None, ...] = (None,)
    options: dict[str, Any] = field(default_factory=dict)
    fold: bool = False
    timing: bool = True


@dataclass(frozen=True)
class TimingSpec:
    """Timing table settings: ``repeats`` interleaved rounds after ``warmup`` calls per method,
    on image ``image`` of ``test_set`` (default: the first), cropped to ``size`` PAN pixels."""

    enabled: bool = True
    repeats: int = 5
    warmup: int = 1
    size: int | None = None
    test_set: str | None = None
    image: int = 0


@dataclass(frozen=True)
class FiguresSpec:
    """Figures: a comparison grid of image ``image`` of ``test_set`` (reduced resolution; of the
    ``methods`` labels, default all) and the training curves of trained methods."""

    comparison: bool = True
    test_set: str | None = None
    image: int = 0
    rgb: tuple[int, int, int] | None = None
    inset: tuple[int, int, int] | None = None
    curves: bool = True
    methods: tuple[str, ...] | None = None


@dataclass(frozen=True)
class BenchmarkConfig:
    name: str
    title: str
    source: Path | None
    protocol: ProtocolSpec
    test_sets: tuple[TestSetSpec, ...]
    methods: tuple[MethodSpec, ...]
    timing: TimingSpec
    figures: FiguresSpec
    notes: str = ""


# ------------------------------------------------------------------------------- parsing
_TOP_KEYS = {"name", "title", "notes", "data_dir", "protocol", "test_sets", "methods", "timing", "figures"}
_PROTOCOL_KEYS = {"sensor", "ratio", "crop", "block_size", "max_images", "threads"}
_TEST_SET_KEYS = {"name", "path", "resolution"}
_METHOD_KEYS = {"label", "classical", "network", "weights", "train", "seeds", "options", "fold", "timing"}
_TRAIN_KEYS = {"train", "valid", "preset", "epochs", "minutes", "batch_size", "lr", "validate_every", "select"}
_TIMING_KEYS = {"enabled", "repeats", "warmup", "size", "test_set", "image"}
_FIGURES_KEYS = {"comparison", "test_set", "image", "rgb", "inset", "curves", "methods"}


def read_config_file(path: "str | os.PathLike") -> dict[str, Any]:
    """Parse a YAML (``.yaml``/``.yml``) or TOML (``.toml``) file into a dict."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"benchmark config {path} does not exist; give the path of a .yaml or .toml file")
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise DataFormatError(f"benchmark config {path}: unknown format {suffix!r}; use .yaml, .yml or .toml")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataFormatError(f"benchmark config {path} is not UTF-8 text") from None
    try:
        if suffix == ".toml":
            import tomllib  # optional: the standard library from Python 3.11 only

            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            raise DataFormatError(f"benchmark config {path}: unknown format {suffix!r}; use .yaml, .yml or .toml")
    except DataFormatError:
        raise
    except Exception as exc:  # yaml.YAMLError / tomllib.TOMLDecodeError
        raise DataFormatError(f"benchmark config {path} cannot be parsed: {exc}") from None
    if not isinstance(data, dict):
        raise DataFormatError(f"benchmark config {path} must be a mapping at the top level (name, methods, test_sets)")
    return data


def _where(source: Path | None) -> str:
    return f"benchmark config {source}" if source else "benchmark config"


def _check_keys(section: Mapping[str, Any], allowed: set[str], where: str) -> None:
    if not isinstance(section, Mapping):
        raise DataFormatError(f"{where} must be a mapping; got {type(section).__name__}")
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise DataFormatError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def _int(value: Any, where: str, minimum: int = 0, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueRangeError(f"{where} must be an integer >= {minimum}; got {value!r}")
    return value


def _positive_float(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueRangeError(f"{where} must be a positive number; got {value!r}")
    return float(value)


def _resolve(base: Path, value: Any, where: str) -> Path:
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        raise DataFormatError(f"{where} must be a file path; got {value!r}")
    p = Path(os.path.expanduser(os.path.expandvars(str(value))))
    return p if p.is_absolute() else base / p


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-").lower() or "method"


# ---------------------------------------------------------------------- pluggable lookups
def _classical_lookup() -> tuple[Callable[[], list[str]], Callable[[str], Any]]:
    """``(list_methods, get_method)`` of the classical registry."""
    return list_methods, get_method


# ------------------------------------------------------------------------------ protocol
def _parse_protocol(raw: Mapping[str, Any], where: str) -> ProtocolSpec:
    _check_keys(raw, _PROTOCOL_KEYS, f"{where}: protocol")
    sensor = raw.get("sensor")
    if sensor is not None:
        if not isinstance(sensor, str):
            raise SensorError(f"{where}: protocol.sensor must be a sensor name (WV3, QB, GF2, none); got {sensor!r}")

        if sensor.strip().lower() not in ("none", "generic", "default"):
            get_sensor(sensor)  # unknown names raise SensorError listing the known ones
    ratio = _int(raw.get("ratio", 4), f"{where}: protocol.ratio", minimum=2)
    crop = _int(raw.get("crop", 0), f"{where}: protocol.crop (dim_cut)")
    block = _int(raw.get("block_size", 32), f"{where}: protocol.block_size", minimum=2)
    max_images = _int(raw.get("max_images"), f"{where}: protocol.max_images", minimum=1, allow_none=True)
    threads = _int(raw.get("threads"), f"{where}: protocol.threads", minimum=1, allow_none=True)
    return ProtocolSpec(sensor, ratio, crop, block, max_images, threads)


# ----------------------------------------------------------------------------- test sets
def _inspect_set(path: Path, where: str) -> tuple[int, dict[str, tuple[int, ...]], dict[str, Any]]:
    if not path.is_file():
        raise DataFormatError(f"{where}: file {path} does not exist; build it with `pansharpen simulate` or fix the path")
    with open_pancollection(path) as f:
        shapes = {k: f.shape(k) for k in f.keys}
        return len(f), shapes, dict(f.attrs)


def _parse_test_set(raw: Any, i: int, base: Path, protocol: ProtocolSpec, where: str) -> TestSetSpec:
    here = f"{where}: test_sets[{i}]"
    _check_keys(raw, _TEST_SET_KEYS, here)
    if "path" not in raw:
        raise DataFormatError(f"{here} needs a path (a PanCollection .h5/.mat file)")
    path = _resolve(base, raw["path"], f"{here}.path")
    name = str(raw.get("name") or path.stem)
    here = f"{where}: test set {name!r}"
    count, shapes, attrs = _inspect_set(path, here)
    for key in ("ms", "pan"):
        if key not in shapes:
            raise DataFormatError(f"{here}: {path} has no {key!r} array (keys: {sorted(shapes)}); test sets need ms and pan")
    resolution = raw.get("resolution", "reduced" if "gt" in shapes else "full")
    if resolution not in RESOLUTIONS:
        raise ValueRangeError(f"{here}: resolution must be one of {RESOLUTIONS}; got {resolution!r}")
    _, bands, h, w = shapes["ms"]
    _, _, ph, pw = shapes["pan"]
    if (ph, pw) != (h * protocol.ratio, w * protocol.ratio):
        raise ShapeError(
            f"{here}: pan is {ph}x{pw} but ms is {h}x{w}; with protocol.ratio {protocol.ratio} pan must be "
            f"{h * protocol.ratio}x{w * protocol.ratio} (set the ratio the data was made with)"
        )
    if resolution == "reduced":
        if "gt" not in shapes:
            raise DataFormatError(
                f"{here}: reduced-resolution indices need a ground truth but {path.name} has no 'gt' "
                "(a full-resolution set?); set resolution: full, or use a set made by `pansharpen simulate`"
            )
        if tuple(shapes["gt"][1:]) != (bands, ph, pw):
            raise ShapeError(f"{here}: gt is {shapes['gt'][1:]} but must be {(bands, ph, pw)} (ms bands, pan size)")
    if resolution == "full" and (ph % protocol.block_size or pw % protocol.block_size):
        raise ShapeError(
            f"{here}: full-resolution indices use {protocol.block_size}-pixel blocks but pan is {ph}x{pw}; "
            f"use images whose sides are multiples of {protocol.block_size} (or change protocol.block_size)"
        )
    sensor = protocol.sensor or attrs.get("sensor") or "none"

    try:
        get_sensor(str(sensor), nbands=bands)
    except SensorError as exc:
        raise SensorError(f"{here}: {exc}") from None
    if protocol.crop and resolution == "reduced" and min(ph, pw) - 2 * protocol.crop + 1 < protocol.block_size:
        raise ValueRangeError(
            f"{here}: crop {protocol.crop} leaves less than one {protocol.block_size}-pixel block of a {ph}x{pw} image; "
            "use a smaller crop"
        )
    return TestSetSpec(name, path, resolution, count, bands, (ph, pw), str(sensor), "lms" in shapes, attrs)


# ------------------------------------------------------------------------------- methods
def _parse_seeds(raw: Any, here: str) -> tuple[int, ...]:
    if raw is None:
        return (0,)
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = [raw]
    if not isinstance(raw, (list, tuple)) or not raw:
        raise ValueRangeError(f"{here}: seeds must be a non-empty list of integers; got {raw!r}")
    seeds = tuple(_int(s, f"{here}: seeds", minimum=0) for s in raw)
    if len(set(seeds)) != len(seeds):
        raise ValueRangeError(f"{here}: seeds repeat ({list(seeds)}); give distinct seeds")
    return seeds  # type: ignore[return-value]


def _parse_train(raw: Any, base: Path, here: str, bands: set[int], ratio: int) -> TrainSpec:
    _check_keys(raw, _TRAIN_KEYS, f"{here}: train")
    if "train" not in raw:
        raise DataFormatError(f"{here}: train needs a training set (train: FILE.h5)")
    if raw.get("epochs") is None and raw.get("minutes") is None:
        raise ValueRangeError(f"{here}: a training budget needs epochs or minutes (or both)")
    paths = {}
    for key in ("train", "valid"):
        if raw.get(key) is None:
            continue
        p = _resolve(base, raw[key], f"{here}: train.{key}")
        count, shapes, _ = _inspect_set(p, f"{here}: train.{key}")
        missing = [k for k in ("gt", "ms", "lms", "pan") if k not in shapes]
        if missing:
            raise DataFormatError(
                f"{here}: training file {p} lacks {missing}; training needs gt, ms, lms and pan (PanCollection layout, "
                "as written by `pansharpen simulate`)"
            )
        if shapes["ms"][1] not in bands:
            raise ShapeError(
                f"{here}: training file {p} has {shapes['ms'][1]}-band MS but the test sets have {sorted(bands)} bands; "
                "train on data of the same sensor"
            )
        paths[key] = p
    select = raw.get("select", "best")
    if select not in ("best", "last"):
        raise ValueRangeError(f"{here}: train.select must be 'best' or 'last'; got {select!r}")
    preset = raw.get("preset", "paper")
    if not isinstance(preset, str):
        raise ValueRangeError(f"{here}: train.preset must be a preset name; got {preset!r}")
    if preset != "paper":
        if preset not in preset_names():
            raise ModelError(f"{here}: unknown preset {preset!r}; known: paper, {', '.join(preset_names())}")
    return TrainSpec(
        train=paths["train"],
        valid=paths.get("valid"),
        preset=preset,
        epochs=_int(raw.get("epochs"), f"{here}: train.epochs", minimum=1, allow_none=True),
        minutes=_positive_float(raw.get("minutes"), f"{here}: train.minutes"),
        batch_size=_int(raw.get("batch_size"), f"{here}: train.batch_size", minimum=1, allow_none=True),
        lr=_positive_float(raw.get("lr"), f"{here}: train.lr"),
        validate_every=_int(raw.get("validate_every", 1), f"{here}: train.validate_every"),
        select=select,
    )


def _parse_method(raw: Any, i: int, base: Path, test_sets: tuple[TestSetSpec, ...], ratio: int, where: str) -> MethodSpec:
    here = f"{where}: methods[{i}]"
    _check_keys(raw, _METHOD_KEYS, here)
    kinds = [k for k in ("classical", "network") if raw.get(k) is not None]
    if not kinds and raw.get("weights") not in (None, "random"):
        kinds = ["network"]  # the architecture comes from the weights' card
    if len(kinds) != 1:
        raise DataFormatError(f"{here}: give exactly one of 'classical: NAME' or 'network: NAME'")
    kind = kinds[0]
    name = raw.get(kind)
    label = str(raw.get("label") or name or raw.get("weights"))
    here = f"{where}: method {label!r}"
    options = raw.get("options") or {}
    if not isinstance(options, Mapping):
        raise DataFormatError(f"{here}: options must be a mapping; got {options!r}")
    options = dict(options)
    fold = raw.get("fold", False)
    timing = raw.get("timing", True)
    for key, value in (("fold", fold), ("timing", timing)):
        if not isinstance(value, bool):
            raise ValueRangeError(f"{here}: {key} must be true or false; got {value!r}")
    bands = {t.bands for t in test_sets}

    if kind == "classical":
        for key in ("weights", "train", "seeds"):
            if raw.get(key) is not None:
                raise DataFormatError(f"{here}: a classical method takes no {key!r}")
        if fold:
            raise DataFormatError(f"{here}: fold applies to networks only")
        list_methods, get_method = _classical_lookup()
        try:
            method = get_method(str(name))
        except ModelError:
            raise ModelError(f"{here}: unknown classical method {name!r}; known: {', '.join(list_methods())}") from None
        name = getattr(method, "name", name)
        allowed = getattr(method, "options", None)
        if allowed is not None and set(options) - set(allowed):
            raise DataFormatError(
                f"{here}: unknown option(s) {sorted(set(options) - set(allowed))} for {name}; allowed: {list(allowed) or 'none'}"
            )
        return MethodSpec(label, kind, str(name), options=options, timing=timing)


    weights = raw.get("weights")
    train_raw = raw.get("train")
    if (weights is None) == (train_raw is None):
        raise DataFormatError(
            f"{here}: a network needs exactly one of 'weights: FILE|BUNDLED_NAME|random' or 'train: {{...}}' (a budget)"
        )
    if name is not None and name not in models.list_models():
        raise ModelError(f"{here}: unknown network {name!r}; registered: {', '.join(models.list_models())}")
    seeds: tuple[int | None, ...] = (None,)
    train = None
    if weights is not None and weights != "random":
        if raw.get("seeds") is not None:
            raise DataFormatError(f"{here}: seeds apply to 'weights: random' or a training budget, not to fixed weights")
        if options:
            raise DataFormatError(f"{here}: options come from the weights' model card; remove 'options'")
        bundled = models.bundled_weights()
        path = bundled.get(str(weights)) or _resolve(base, weights, f"{here}: weights")
        if not Path(path).exists():
            raise DataFormatError(
                f"{here}: weights {weights!r} are neither a file ({path}) nor a bundled model "
                f"({', '.join(bundled) or 'none bundled'})"
            )
        card = models.read_card(path)
        if name is not None and card.arch != name:
            raise ModelError(f"{here}: {path} holds {card.arch} weights, not {name}; name the matching network")
        for t in test_sets:
            if card.bands != t.bands:
                raise ModelError(
                    f"{here}: weights {Path(path).name} are for {card.bands}-band data but test set {t.name!r} has "
                    f"{t.bands} bands; use weights trained on this sensor or a training budget"
                )
            if card.ratio != ratio:
                raise ModelError(f"{here}: weights are for ratio {card.ratio}, the protocol uses {ratio}")
        name, weights = card.arch, str(path)
    else:
        if name is None:
            raise DataFormatError(f"{here}: name the architecture with 'network: NAME'")
        seeds = _parse_seeds(raw.get("seeds"), here)
        if train_raw is not None:
            train = _parse_train(train_raw, base, here, bands, ratio)
        for b in sorted(bands):  # unknown options fail here, before any work
            try:
                model = models.create(name, bands=b, **options)  # cheap: measured card fields are lazy
            except ModelError as exc:
                raise ModelError(f"{here}: bad options {options} for {name}: {exc}") from None
            if fold and not callable(getattr(model, "fold", None)):
                raise ModelError(f"{here}: {name} has no folded form; remove 'fold: true'")
    if fold and weights not in (None, "random"):
        model = models.load(weights)
        if not callable(getattr(model, "fold", None)):
            raise ModelError(f"{here}: {name} has no folded form; remove 'fold: true'")
    return MethodSpec(label, kind, str(name), weights, train, seeds, options, fold, timing)


# ----------------------------------------------------------------------- timing, figures
def _parse_timing(raw: Any, test_sets: tuple[TestSetSpec, ...], ratio: int, where: str) -> TimingSpec:
    if raw is None or raw is True:
        raw = {}
    if raw is False:
        return TimingSpec(enabled=False)
    here = f"{where}: timing"
    _check_keys(raw, _TIMING_KEYS, here)
    spec = TimingSpec(
        enabled=bool(raw.get("enabled", True)),
        repeats=_int(raw.get("repeats", 5), f"{here}.repeats", minimum=1),
        warmup=_int(raw.get("warmup", 1), f"{here}.warmup"),
        size=_int(raw.get("size"), f"{here}.size", minimum=ratio, allow_none=True),
        test_set=raw.get("test_set"),
        image=_int(raw.get("image", 0), f"{here}.image"),
    )
    _check_image_ref(spec.test_set, spec.image, test_sets, here, reduced_only=False)
    if spec.size is not None and spec.size % (ratio * 2):
        raise ValueRangeError(f"{here}.size must be a multiple of {2 * ratio} (PAN pixels); got {spec.size}")
    return spec


def _check_image_ref(name, image, test_sets, here, reduced_only):
    names = [t.name for t in test_sets]
    if name is not None and name not in names:
        raise DataFormatError(f"{here}.test_set {name!r} is not one of the test sets {names}")
    chosen = next((t for t in test_sets if t.name == name), None) if name else None
    if chosen is None:
        pool = [t for t in test_sets if t.resolution == "reduced"] if reduced_only else list(test_sets)
        chosen = pool[0] if pool else None
    if chosen is not None and image >= chosen.count:
        raise ValueRangeError(f"{here}.image {image} is beyond the {chosen.count} images of {chosen.name!r}")
    if reduced_only and name is not None and chosen.resolution != "reduced":
        raise DataFormatError(f"{here}: the comparison figure needs a reduced-resolution set (with gt); {name!r} is full")


def _parse_figures(raw: Any, test_sets: tuple[TestSetSpec, ...], labels: list[str], where: str) -> FiguresSpec:
    if raw is None or raw is True:
        raw = {}
    if raw is False:
        return FiguresSpec(comparison=False, curves=False)
    here = f"{where}: figures"
    _check_keys(raw, _FIGURES_KEYS, here)
    image = _int(raw.get("image", 0), f"{here}.image")
    _check_image_ref(raw.get("test_set"), image, test_sets, here, reduced_only=True)
    rgb = raw.get("rgb")
    if rgb is not None:
        bands = min(t.bands for t in test_sets)
        if not (isinstance(rgb, (list, tuple)) and len(rgb) == 3 and all(isinstance(b, int) and 0 <= b < bands for b in rgb)):
            raise ValueRangeError(f"{here}.rgb must be three band indices in 0..{bands - 1}; got {rgb!r}")
        rgb = tuple(rgb)
    inset = raw.get("inset")
    if inset is not None:
        if not (isinstance(inset, (list, tuple)) and len(inset) == 3 and all(isinstance(v, int) and v >= 0 for v in inset)
                and inset[2] > 0):
            raise ValueRangeError(f"{here}.inset must be [row, col, size] in PAN pixels; got {inset!r}")
        inset = tuple(inset)
    chosen = raw.get("methods")
    if chosen is not None:
        if not isinstance(chosen, list) or not chosen or any(m not in labels for m in chosen):
            raise DataFormatError(f"{here}.methods must be a non-empty list of method labels from {labels}; got {chosen!r}")
        chosen = tuple(chosen)
    return FiguresSpec(bool(raw.get("comparison", True)), raw.get("test_set"), image, rgb, inset,
                       bool(raw.get("curves", True)), chosen)


# ---------------------------------------------------------------------------------- entry
def load_config(config: "str | os.PathLike | Mapping[str, Any]", data_dir: "str | os.PathLike | None" = None) -> BenchmarkConfig:
    """Parse and validate a benchmark configuration (file path or dict).

    Relative paths are resolved against ``data_dir`` (argument), else the config's
    ``data_dir`` key (relative to the config file), else the config file's folder (the
    current directory for a dict). Opens every test and training file to check keys,
    band counts and sizes, and reads the cards of weights files; trains and fuses nothing.

    Raises:
        DataFormatError: unparsable file, unknown keys, missing files, a reduced-resolution
            test set without ``gt``.
        ModelError: unknown classical method or network, weights of another architecture,
            band count or ratio.
        ShapeError: training data with another band count, sizes that disagree with the ratio.
        SensorError, ValueRangeError: unknown sensor, bad protocol numbers.
    """
    if isinstance(config, Mapping):
        raw, source = dict(config), None
        folder = Path.cwd()
    else:
        source = Path(config)
        raw = read_config_file(source)
        folder = source.resolve().parent
    where = _where(source)
    _check_keys(raw, _TOP_KEYS, where)
    if data_dir is not None:
        base = Path(data_dir)
    elif raw.get("data_dir") is not None:
        base = _resolve(folder, raw["data_dir"], f"{where}: data_dir")
    else:
        base = folder
    protocol = _parse_protocol(raw.get("protocol") or {}, where)
    sets_raw = raw.get("test_sets")
    if not isinstance(sets_raw, list) or not sets_raw:
        raise DataFormatError(f"{where}: test_sets must be a non-empty list of {{name, path, resolution}}")
    test_sets = tuple(_parse_test_set(t, i, base, protocol, where) for i, t in enumerate(sets_raw))
    if len({t.bands for t in test_sets}) > 1:
        raise ShapeError(
            f"{where}: the test sets have different band counts ({[(t.name, t.bands) for t in test_sets]}); "
            "a benchmark compares methods on one sensor: split it into one config per band count"
        )
    if len({t.name for t in test_sets}) != len(test_sets):
        raise DataFormatError(f"{where}: test set names repeat; give each a distinct name")
    methods_raw = raw.get("methods")
    if not isinstance(methods_raw, list) or not methods_raw:
        raise DataFormatError(f"{where}: methods must be a non-empty list")
    methods = tuple(_parse_method(m, i, base, test_sets, protocol.ratio, where) for i, m in enumerate(methods_raw))
    labels = [m.label for m in methods]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise DataFormatError(f"{where}: method labels repeat: {dupes}; give each row a distinct label")
    slugs = [_slug(x) for x in labels]
    if len(set(slugs)) != len(slugs):
        raise DataFormatError(f"{where}: method labels {labels} give the same file names; make them differ in letters or digits")
    name = str(raw.get("name") or (source.stem if source else "benchmark"))
    return BenchmarkConfig(
        name=name,
        title=str(raw.get("title") or name),
        source=source,
        protocol=protocol,
        test_sets=test_sets,
        methods=methods,
        timing=_parse_timing(raw.get("timing"), test_sets, protocol.ratio, where),
        figures=_parse_figures(raw.get("figures"), test_sets, labels, where),
        notes=str(raw.get("notes") or ""),
    )


def slug(label: str) -> str:
    """File-name form of a method label."""
    return _slug(label)
