"""Paper-style benchmarks: methods x test sets -> tables, a timing table and figures.

``run_benchmark(config, out_dir)`` (CLI: ``pansharpen benchmark CONFIG --out DIR``):

1. validates the whole configuration (:func:`.benchmark_config.load_config`) -- nothing is
   trained or fused when anything is wrong;
2. builds every method: classical methods by name, networks from weights files / bundled
   names, seeded random initialisations, or trained under the stated budget once per seed
   (weights cached in ``DIR/weights``, reused when the config is unchanged);
3. fuses every test image with every method (each seed) through the fusers of ``pansharpen
   fuse`` (:class:`~pansharpen.fusion.network_fuser.NetworkFuser` / ``ClassicalFuser``, whole images:
   ``fuse_image``), timing each fusion, and scores it:
   reduced resolution (with ``gt``) Q2n, Q, SAM, ERGAS, SCC; full resolution D_lambda, D_s,
   QNR, D_lambda_K, HQNR (metrics-reference.md section 3.13);
4. aggregates: mean ± std (N-1, MATLAB ``std``) over images; with several seeds the per-image
   values are first averaged over seeds, and the spread of the per-seed means (N-1) is
   reported beside;
5. measures a timing table in one run (interleaved repeats, median, ratio to the fastest),
   with the folded and unfolded forms of foldable networks;
6. writes ``results.md``/``.csv``/``.tex``, ``per_image.csv``, ``timing.md``/``.csv``/``.tex``,
   ``protocol.json``, ``results.json``, ``figures/*.png`` and ``training/*.json`` in DIR.

Parameters and MACs are those of the trained (unfolded) networks -- the papers' claims;
MACs per output pixel are counted with :func:`pansharpen.models.complexity.macs_per_pixel`
and also given in G at a 64 x 64 output, the size of the papers' "GFLOPs" column.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import multiprocessing
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from .. import models
from .._version import __version__
from ..errors import ValueRangeError
from ..fusion.fusers import ClassicalFuser
from ..fusion.network_fuser import NetworkFuser
from ..io.atomic import atomic_write_bytes
from ..io.pancollection import open_pancollection
from ..metrics.full import full_resolution_indices
from ..metrics.reduced import reduced_resolution_indices
from ..models.complexity import macs_per_pixel
from ..models.inference import preferred_form
from ..models.registry import count_parameters
from ..protocol.sensors import get_sensor
from ..training.config import TrainConfig
from ..training.train import train
from ..viz.figures import comparison_grid, training_curves
from .config import BenchmarkConfig, MethodSpec, TestSetSpec, load_config, slug
from .tables import (
    FULL_INDICES,
    REDUCED_INDICES,
    Row,
    TimingRow,
    csv_rows,
    latex_table,
    markdown_table,
    mean_std,
    timing_latex,
    timing_markdown,
    timing_records,
    write_csv,
)


# ------------------------------------------------------------------------------ methods
@dataclass
class MethodInstance:
    """One evaluated instance of a method: a classical method, or one seed of a network
    (``model``: the trained / loaded / seeded network, None for classical methods)."""

    spec: MethodSpec
    seed: int | None
    model: nn.Module | None = None
    history: list[dict[str, Any]] | None = None
    train_seconds: float | None = None


def method_fuser(spec: MethodSpec, inst: MethodInstance, sensor, ratio: int,
                 form: str | None = None) -> "NetworkFuser | ClassicalFuser":
    """The :mod:`pansharpen.fusion.fusers` fuser of one method instance, for whole images
    (``fuser.fuse_image(ms, pan, lms)``). Networks run in ``form`` (default: folded when the spec
    asks for it, else eager) in one call per image (no sub-tiles), on the DN scale of their card."""
    if spec.kind == "classical":
        return ClassicalFuser(spec.name, sensor, ratio, spec.options)
    fuser = NetworkFuser(inst.model, form=form or ("fold" if spec.fold else "eager"), subtile=None)
    fuser.engine  # built now, so that the first image's time does not include it
    return fuser


def _fingerprint(spec: MethodSpec, seed: int | None) -> dict[str, Any]:
    tr = spec.train
    files = {}
    for key in ("train", "valid"):
        p = getattr(tr, key)
        if p is not None:
            st = Path(p).stat()
            files[key] = {"name": Path(p).name, "bytes": st.st_size}
    fields = {k: v for k, v in asdict(tr).items() if k not in ("train", "valid")}
    return {"network": spec.name, "options": spec.options, "seed": seed, "train": fields, "files": files}


def _train_instance(spec: MethodSpec, seed: int, out_dir: Path, retrain: bool, quiet: bool, log,
                    device: str = "cpu") -> MethodInstance:

    stem = f"{slug(spec.label)}_seed{seed}"
    weights = out_dir / "weights" / f"{stem}.safetensors"
    record = out_dir / "training" / f"{stem}.json"
    fp = _fingerprint(spec, seed)
    if not retrain and weights.is_file() and record.is_file():
        saved = json.loads(record.read_text())
        if saved.get("fingerprint") == json.loads(json.dumps(fp)):
            log(f"  {spec.label} seed {seed}: reusing {weights.name} (same config; --retrain to train again)")
            return MethodInstance(spec, seed, models.load(weights), saved.get("history"), saved.get("seconds"))
    tr = spec.train
    log(f"  {spec.label} seed {seed}: training {spec.name} (epochs={tr.epochs}, minutes={tr.minutes}) ...")
    res = train(TrainConfig(
        spec.name, tr.train, tr.valid, preset=tr.preset, epochs=tr.epochs, minutes=tr.minutes,
        batch_size=tr.batch_size, lr=tr.lr, out=weights, seed=seed, validate_every=tr.validate_every,
        quiet=quiet, select=tr.select, overwrite=True, model_options=dict(spec.options), device=device,
    ))
    record.parent.mkdir(parents=True, exist_ok=True)
    payload = {"fingerprint": fp, "device": device, "history": res.history, "seconds": res.seconds, "epochs": res.epochs,
               "stopped_by": res.stopped_by, "selected": res.selected, "metrics": res.metrics}
    atomic_write_bytes(record, json.dumps(payload, indent=1, default=_json_default))
    log(f"  {spec.label} seed {seed}: {res.epochs} epochs in {res.seconds:.0f} s ({res.stopped_by})")
    model = res.model.to("cpu").eval()
    return MethodInstance(spec, seed, model, res.history, res.seconds)


def _train_job(spec: MethodSpec, seed: int, out_dir: Path, retrain: bool, device: str, threads: int) -> str:
    """One training of a parallel ``build_instances`` (runs in a spawned process; result cached on disk)."""
    torch.set_num_threads(threads)
    _train_instance(spec, seed, out_dir, retrain, True, lambda msg: None, device=device)
    return f"{spec.label} seed {seed}"


def _train_in_parallel(cfg: BenchmarkConfig, out_dir: Path, retrain: bool, log, device: str, jobs: int) -> None:
    todo = [(spec, int(seed)) for spec in cfg.methods if spec.train is not None for seed in spec.seeds]
    if not todo:
        return
    threads = max(1, (cfg.protocol.threads or torch.get_num_threads()) // jobs)
    log(f"  training {len(todo)} networks in {jobs} processes on {device} ({threads} threads each)")
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_train_job, spec, seed, out_dir, retrain, device, threads) for spec, seed in todo]
        for future in as_completed(futures):
            log(f"  trained {future.result()}")


def build_instances(cfg: BenchmarkConfig, out_dir: Path, retrain: bool = False, quiet: bool = True,
                    log=lambda msg: None, train_device: str = "cpu", jobs: int = 1) -> dict[str, list[MethodInstance]]:
    """Every method of ``cfg`` ready to fuse (training networks with a budget), keyed by label.

    ``train_device`` is where budgeted networks train (``"cuda"`` on a GPU); the cache key ignores it,
    so weights trained on a GPU are reused by a later CPU run that evaluates and times them.
    ``jobs > 1`` trains the budgeted (network, seed) pairs in that many spawned processes first
    (results go through the on-disk cache; each process gets ``threads // jobs`` torch threads).
    """
    if jobs > 1:
        _train_in_parallel(cfg, out_dir, retrain, log, train_device, jobs)
        retrain = False  # just trained: the cache now holds them

    bands = cfg.test_sets[0].bands  # validation made every test set agree with weights; see below
    out: dict[str, list[MethodInstance]] = {}
    for spec in cfg.methods:
        if spec.kind == "classical":
            out[spec.label] = [MethodInstance(spec, None)]  # its fuser is made per test set (sensor)
            continue
        instances = []
        for seed in spec.seeds:
            if spec.weights not in (None, "random"):
                inst = MethodInstance(spec, None, models.load(spec.weights))
            elif spec.weights == "random":
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(int(seed))
                    inst = MethodInstance(spec, seed, models.create(spec.name, bands=bands, **spec.options).eval())
            else:
                inst = _train_instance(spec, int(seed), out_dir, retrain, quiet, log, device=train_device)
            instances.append(inst)
        out[spec.label] = instances
    return out


# ----------------------------------------------------------------------------- scoring
def score(ts: TestSetSpec, sample: Mapping[str, np.ndarray], fused: np.ndarray, sensor, cfg: BenchmarkConfig) -> dict[str, float]:
    """The indices of one fused image: reduced resolution against ``gt``, or full resolution."""
    p = cfg.protocol
    if ts.resolution == "reduced":
        return reduced_resolution_indices(sample["gt"], fused, ratio=p.ratio, crop=p.crop, sensor=sensor,
                                          block_size=p.block_size)

    result = full_resolution_indices(fused, sample["ms"], sample["pan"], sensor, ratio=p.ratio,
                                     ms_exp=sample.get("lms"), block_size=p.block_size)
    return {k: float(result[k]) for k in FULL_INDICES}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _json_default(x: Any) -> Any:
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return x.name
    return str(x)


# ------------------------------------------------------------------------------ result
@dataclass
class BenchmarkResult:
    """What :func:`run_benchmark` produced.

    Attributes:
        config: the validated configuration.
        out_dir: where the files were written; ``files``: name -> path of each output.
        tables: ``{test set name: [Row, ...]}`` in the config's method order.
        per_image: one record per (test set, method, seed, image) with every index and the time.
        timing: the timing table rows (empty when timing is disabled).
        protocol: the protocol and provenance printed with the tables.
        histories: ``{method label: [history per seed]}`` of trained methods.
    """

    config: BenchmarkConfig
    out_dir: Path
    tables: dict[str, list[Row]]
    per_image: list[dict[str, Any]]
    timing: list[TimingRow]
    protocol: dict[str, Any]
    histories: dict[str, list[list[dict[str, Any]]]] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    markdown: str = ""


def _indices_of(ts: TestSetSpec) -> tuple[str, ...]:
    return REDUCED_INDICES if ts.resolution == "reduced" else FULL_INDICES


def aggregate(records: list[dict[str, Any]], indices: tuple[str, ...]) -> tuple[dict[str, tuple[float, float, float]], int, int]:
    """``{index: (mean, std, seed_std)}`` of one method on one test set from its per-image records.

    Per-image values are averaged over seeds, then mean and std (N-1) are taken over images;
    ``seed_std`` is the std (N-1) over seeds of the per-seed means (NaN for one seed).
    """
    seeds = sorted({r["seed"] for r in records}, key=lambda s: (s is None, s))
    images = sorted({r["image"] for r in records})
    cells = {}
    for name in indices:
        table = np.full((len(seeds), len(images)), np.nan)
        for r in records:
            table[seeds.index(r["seed"]), images.index(r["image"])] = r[name]
        mean, std = mean_std(table.mean(axis=0))
        _, seed_std = mean_std(table.mean(axis=1))
        cells[name] = (mean, std, seed_std)
    return cells, len(seeds), len(images)


_COMPLEXITY: "dict[int, tuple[nn.Module, int, float | None]]" = {}


def _complexity(model: nn.Module) -> tuple[int, float | None]:
    """``(parameters, MACs per output pixel at 64 x 64)``, computed once per model object."""

    hit = _COMPLEXITY.get(id(model))
    if hit is not None and hit[0] is model:
        return hit[1], hit[2]
    try:
        macs = macs_per_pixel(model, size=64)
    except Exception:  # a model the counter cannot trace: report params only
        macs = None
    if len(_COMPLEXITY) > 256:
        _COMPLEXITY.clear()
    _COMPLEXITY[id(model)] = (model, count_parameters(model), macs)
    return count_parameters(model), macs


# ---------------------------------------------------------------------------- timing
def _timing_inputs(cfg: BenchmarkConfig) -> tuple[TestSetSpec, dict[str, np.ndarray]]:
    t = cfg.timing
    ts = next((s for s in cfg.test_sets if s.name == t.test_set), cfg.test_sets[0])
    with open_pancollection(ts.path) as f:
        sample = f.sample(t.image)
    r = cfg.protocol.ratio
    h, w = sample["pan"].shape[-2:]
    if t.size is not None and t.size < min(h, w):
        top, left = ((h - t.size) // (2 * r)) * r, ((w - t.size) // (2 * r)) * r
        cut = {}
        for key, a in sample.items():
            if a.shape[-2:] == (h, w):
                cut[key] = a[..., top : top + t.size, left : left + t.size]
            else:
                cut[key] = a[..., top // r : (top + t.size) // r, left // r : (left + t.size) // r]
        sample = cut
    return ts, sample


def measure_timing(forms: list[tuple[str, Callable[..., np.ndarray], int | None, float | None]],
                   sample: Mapping[str, np.ndarray],
                   repeats: int, warmup: int) -> list[TimingRow]:
    """Median wall time of each form over ``repeats`` interleaved rounds (every form once per
    round, so background load affects all alike), after ``warmup`` calls each.

    ``forms`` are ``(label, fuse, params, macs_per_pixel)``; ``fuse(ms, pan, lms)`` is a fuser's
    :meth:`~pansharpen.fusion.network_fuser.NetworkFuser.fuse_image`.
    """
    ms, pan, lms = sample["ms"], sample["pan"], sample.get("lms")
    for _, fn, _, _ in forms:
        for _ in range(warmup):
            fn(ms, pan, lms)
    times: dict[str, list[float]] = {label: [] for label, *_ in forms}
    for _ in range(repeats):
        for label, fn, _, _ in forms:
            t0 = time.perf_counter()
            fn(ms, pan, lms)
            times[label].append(time.perf_counter() - t0)
    return [TimingRow(label, float(np.median(times[label])), times[label], macs, params) for label, _, params, macs in forms]


# ------------------------------------------------------------------------------- main
def run_benchmark(
    config: "str | os.PathLike | Mapping[str, Any] | BenchmarkConfig",
    out_dir: "str | os.PathLike",
    *,
    data_dir: "str | os.PathLike | None" = None,
    retrain: bool = False,
    quiet: bool = True,
    command: str | None = None,
    train_device: str = "cpu",
    train_only: bool = False,
    jobs: int = 1,
) -> "BenchmarkResult | None":
    """Run a benchmark configuration and write its tables and figures to ``out_dir``.

    Args:
        config: YAML/TOML path, a dict of the same structure, or a validated config
            (format: :mod:`pansharpen.benchmark.config`).
        out_dir: output folder (created); trained weights are cached in ``out_dir/weights``.
        data_dir: folder against which the config's relative data paths are resolved.
        retrain: train budgeted networks again even when cached weights match the config.
        quiet: no progress lines on stderr.
        command: the command line to record with the protocol.
        train_device: where budgeted networks train (``"cuda"``); evaluation and timing always run
            on the CPU, so a GPU run with ``train_only`` followed by a CPU run gives this machine's
            timings with GPU-trained weights (the cache ignores the device).
        train_only: train (or find cached) weights and return None without evaluating.
        jobs: train budgeted networks in this many processes at once (see :func:`build_instances`).

    Returns:
        A :class:`BenchmarkResult` (None with ``train_only``); the tables are also in
        ``out_dir/results.md`` etc.
    """
    cfg = config if isinstance(config, BenchmarkConfig) else load_config(config, data_dir=data_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def log(msg: str) -> None:
        if not quiet:
            print(msg, file=sys.stderr, flush=True)

    threads_before = torch.get_num_threads()
    if cfg.protocol.threads:
        torch.set_num_threads(cfg.protocol.threads)
    try:
        if train_only:
            build_instances(cfg, out, retrain=retrain, quiet=quiet, log=log, train_device=train_device, jobs=jobs)
            return None
        return _run(cfg, out, retrain, quiet, command, log, train_device, jobs)
    finally:
        torch.set_num_threads(threads_before)


def _run(cfg: BenchmarkConfig, out: Path, retrain: bool, quiet: bool, command: str | None, log,
         train_device: str = "cpu", jobs: int = 1) -> BenchmarkResult:

    log(f"benchmark {cfg.name}: {len(cfg.methods)} methods x {len(cfg.test_sets)} test sets")
    instances = build_instances(cfg, out, retrain=retrain, quiet=quiet, log=log, train_device=train_device, jobs=jobs)
    ratio = cfg.protocol.ratio
    network_fusers = {spec.label: [method_fuser(spec, inst, None, ratio) for inst in instances[spec.label]]
                      for spec in cfg.methods if spec.kind == "network"}
    protocol = _protocol(cfg, command)

    fig_set = next((t for t in cfg.test_sets if t.name == cfg.figures.test_set), None) or next(
        (t for t in cfg.test_sets if t.resolution == "reduced"), None)
    figure_images: dict[str, np.ndarray] = {}
    figure_reference = None
    per_image: list[dict[str, Any]] = []
    tables: dict[str, list[Row]] = {}

    for ts in cfg.test_sets:
        sensor = get_sensor(ts.sensor, nbands=ts.bands)
        fusers = {spec.label: [(inst.seed, network_fusers[spec.label][k] if spec.kind == "network"
                                else method_fuser(spec, inst, sensor, ratio))
                               for k, inst in enumerate(instances[spec.label])]
                  for spec in cfg.methods}
        count = min(ts.count, cfg.protocol.max_images or ts.count)
        log(f"test set {ts.name}: {count} images, {ts.resolution} resolution")
        with open_pancollection(ts.path) as f:
            for i in range(count):
                sample = f.sample(i)
                lms = sample.get("lms")
                for label, seeded in fusers.items():
                    for k, (seed, fuser) in enumerate(seeded):
                        t0 = time.perf_counter()
                        fused = fuser.fuse_image(sample["ms"], sample["pan"], lms)
                        seconds = time.perf_counter() - t0
                        if not np.isfinite(fused).all():
                            raise ValueRangeError(f"{label} (seed {seed}) produced NaN/inf on image {i} of {ts.name}")
                        values = score(ts, sample, fused, sensor, cfg)
                        per_image.append({"test_set": ts.name, "method": label, "seed": seed, "image": i,
                                          "seconds": seconds, **{n: values[n] for n in _indices_of(ts)}})
                        if ts is fig_set and i == cfg.figures.image and k == 0 and (
                                cfg.figures.methods is None or label in cfg.figures.methods):
                            figure_images[label] = fused
                            figure_reference = sample["gt"]
                log(f"  image {i + 1}/{count} done")
        tables[ts.name] = _rows(cfg, ts, instances, per_image)

    timing = _timing(cfg, instances, log) if cfg.timing.enabled else []
    histories = {label: [i.history for i in insts if i.history is not None] for label, insts in instances.items()
                 if any(i.history is not None for i in insts)}
    result = BenchmarkResult(cfg, out, tables, per_image, timing, protocol, histories)
    _write(result, figure_reference, figure_images, fig_set, log)
    return result


def _rows(cfg: BenchmarkConfig, ts: TestSetSpec, instances, per_image) -> list[Row]:
    rows = []
    indices = _indices_of(ts)
    for spec in cfg.methods:
        recs = [r for r in per_image if r["test_set"] == ts.name and r["method"] == spec.label]
        cells, n_seeds, n_images = aggregate(recs, indices)
        params = macs = None
        extra: dict[str, Any] = {}
        if spec.kind == "network":
            params, macs = _complexity(instances[spec.label][0].model)
            secs = [i.train_seconds for i in instances[spec.label] if i.train_seconds is not None]
            if secs:
                extra["train_seconds_mean"] = float(np.mean(secs))
        rows.append(Row(spec.label, cells, params, macs, float(np.mean([r["seconds"] for r in recs])), n_seeds,
                        n_images, "" if spec.kind == "classical" else ("folded" if spec.fold else "unfolded"), extra))
    return rows


def _timing(cfg: BenchmarkConfig, instances, log) -> list[TimingRow]:
    ts, sample = _timing_inputs(cfg)
    sensor = get_sensor(ts.sensor, nbands=ts.bands)
    ratio = cfg.protocol.ratio
    forms = []
    for spec in cfg.methods:
        if not spec.timing:
            continue
        inst = instances[spec.label][0]
        if spec.kind == "classical":
            forms.append((spec.label, method_fuser(spec, inst, sensor, ratio).fuse_image, None, None))
            continue
        model = inst.model
        params, macs = _complexity(model)
        if callable(getattr(model, "fold", None)):
            _, f_macs = _complexity(model.fold())  # the folded copy keeps dense kernels in buffers: report trained params
            forms.append((f"{spec.label} (unfolded)", method_fuser(spec, inst, sensor, ratio, "eager").fuse_image, params, macs))
            forms.append((f"{spec.label} (folded)", method_fuser(spec, inst, sensor, ratio, "fold").fuse_image, params, f_macs))
            if preferred_form(model) == "trace":  # what `pansharpen fuse` runs on the CPU
                forms.append((f"{spec.label} (traced)", method_fuser(spec, inst, sensor, ratio, "trace").fuse_image,
                              params, macs))
        else:
            forms.append((spec.label, method_fuser(spec, inst, sensor, ratio).fuse_image, params, macs))
    if not forms:
        return []
    size = sample["pan"].shape[-1]
    log(f"timing {len(forms)} forms on a {size}x{size} image of {ts.name}, {cfg.timing.repeats} interleaved repeats ...")
    return measure_timing(forms, sample, cfg.timing.repeats, cfg.timing.warmup)


# ------------------------------------------------------------------------------ output
def _protocol(cfg: BenchmarkConfig, command: str | None) -> dict[str, Any]:
    p = cfg.protocol
    sets = []
    for ts in cfg.test_sets:
        sets.append({
            "name": ts.name, "file": ts.path.name, "sha256": _sha256(ts.path), "bytes": ts.path.stat().st_size,
            "resolution": ts.resolution, "images": min(ts.count, p.max_images or ts.count), "images_in_file": ts.count,
            "bands": ts.bands, "pan_size": list(ts.pan_size), "sensor": ts.sensor, "lms_from_file": ts.has_lms,
            "provenance": json.loads(json.dumps(ts.attrs, default=_json_default)),
        })
    doc = {
        "benchmark": cfg.name, "title": cfg.title,
        "config": None if cfg.source is None else {"file": cfg.source.name, "sha256": _sha256(cfg.source)},
        "command": command,
        "sensor": p.sensor or "per test set (file attrs, else toolbox generic)", "ratio": p.ratio,
        "crop": p.crop, "block_size": p.block_size, "max_images": p.max_images,
        "aggregation": "mean ± std over images (N-1); seeds: per-image values averaged over seeds, seed spread = "
                       "std (N-1) of per-seed means",
        "test_sets": sets,
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "pansharpen": __version__, "torch": torch.__version__, "numpy": np.__version__,
        "threads": torch.get_num_threads(), "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "timing": None if not cfg.timing.enabled else asdict(cfg.timing),
    }
    return doc


def protocol_lines(protocol: Mapping[str, Any]) -> list[str]:
    """The protocol as short lines (printed above the tables and as LaTeX comments)."""
    lines = [
        f"Protocol: sensor {protocol['sensor']}, ratio {protocol['ratio']}, crop (dim_cut) {protocol['crop']}, "
        f"Q2n/Q block {protocol['block_size']}; {protocol['aggregation']}.",
    ]
    for s in protocol["test_sets"]:
        prov = s["provenance"]
        # short scalar fields only; the full provenance is in protocol.json
        origin = ", ".join(f"{k}={prov[k]}" for k in sorted(prov)
                           if not isinstance(prov[k], (dict, list)) and len(str(prov[k])) <= 40)
        lines.append(f"Test set {s['name']}: {s['file']} (sha256 {s['sha256'][:16]}), {s['images']} of "
                     f"{s['images_in_file']} images, {s['resolution']} resolution, {s['bands']} bands, pan "
                     f"{s['pan_size'][0]}x{s['pan_size'][1]}, sensor {s['sensor']}"
                     + (f"; provenance (full in protocol.json): {origin}" if origin else ""))
    lines.append(f"Date {protocol['date_utc']} UTC; pansharpen {protocol['pansharpen']}, torch {protocol['torch']}, "
                 f"numpy {protocol['numpy']}, {protocol['threads']} torch threads, {protocol['machine']}.")
    if protocol.get("config"):
        lines.append(f"Config {protocol['config']['file']} (sha256 {protocol['config']['sha256'][:16]}).")
    if protocol.get("command"):
        lines.append(f"Command: {protocol['command']}")
    return lines


def _write(result: BenchmarkResult, reference, fused_images, fig_set, log) -> None:
    cfg, out = result.config, result.out_dir
    files = result.files
    plines = protocol_lines(result.protocol)

    md = [f"# {cfg.title}", ""]
    if cfg.notes:
        md += [cfg.notes.strip(), ""]
    md += [f"- {line}" for line in plines] + [""]
    tex: list[str] = []
    records: list[dict[str, Any]] = []
    for ts in cfg.test_sets:
        rows, idx = result.tables[ts.name], _indices_of(ts)
        n = rows[0].images if rows else 0
        md += [f"## {ts.name}: {ts.resolution} resolution, {n} images", "", markdown_table(rows, idx)]
        caption = f"{cfg.title}: {ts.name}, {ts.resolution} resolution, {n} images (mean$\\pm$std, N-1)"
        tex.append(latex_table(rows, idx, caption.replace("$\\pm$", "±"), f"tab:{slug(cfg.name)}-{slug(ts.name)}",
                               comments=plines))
        records += csv_rows(rows, idx, {"test_set": ts.name, "resolution": ts.resolution, "sensor": ts.sensor,
                                        "ratio": cfg.protocol.ratio, "crop": cfg.protocol.crop,
                                        "block_size": cfg.protocol.block_size,
                                        "dataset_sha256": next(s["sha256"] for s in result.protocol["test_sets"]
                                                               if s["name"] == ts.name)})
    if result.timing:
        t = cfg.timing
        size = result.protocol["timing"]["size"] or "full"
        head = (f"Timing: median of {t.repeats} interleaved repeats after {t.warmup} warm-up call(s), one image "
                f"(PAN side {size}), {result.protocol['threads']} threads, this machine; × fastest = median / fastest median.")
        md += ["## Timing", "", head, "", timing_markdown(result.timing)]
        _text(out / "timing.md", "\n".join([f"# Timing: {cfg.title}", "", *[f"- {x}" for x in plines], f"- {head}", "",
                                            timing_markdown(result.timing)]))
        _text(out / "timing.csv", write_csv(timing_records(result.timing, {"benchmark": cfg.name})))
        _text(out / "timing.tex", timing_latex(result.timing, f"{cfg.title}: inference time per image", plines + [head]))
        files.update(timing_md=out / "timing.md", timing_csv=out / "timing.csv", timing_tex=out / "timing.tex")

    figs = _figures(result, reference, fused_images, fig_set, log)
    if figs:
        md += ["## Figures", ""] + [f"![{name}](figures/{p.name})" for name, p in figs.items()] + [""]
    files.update({f"figure_{k}": v for k, v in figs.items()})

    result.markdown = "\n".join(md)
    _text(out / "results.md", result.markdown)
    _text(out / "results.csv", write_csv(records))
    _text(out / "results.tex", "\n".join(tex))
    _text(out / "per_image.csv", write_csv(result.per_image))
    _text(out / "protocol.json", json.dumps(result.protocol, indent=1, default=_json_default))
    summary = {
        "protocol": result.protocol, "results": records,
        "timing": timing_records(result.timing) if result.timing else [],
    }
    _text(out / "results.json", json.dumps(summary, indent=1, default=_json_default, allow_nan=True))
    files.update(results_md=out / "results.md", results_csv=out / "results.csv", results_tex=out / "results.tex",
                 per_image_csv=out / "per_image.csv", protocol_json=out / "protocol.json",
                 results_json=out / "results.json")


def _figures(result: BenchmarkResult, reference, fused_images, fig_set, log) -> dict[str, Path]:

    cfg, out = result.config, result.out_dir
    figs: dict[str, Path] = {}
    if cfg.figures.comparison and reference is not None and fused_images and fig_set.bands >= 3:
        rgb = cfg.figures.rgb or get_sensor(fig_set.sensor, nbands=fig_set.bands).rgb
        path = out / "figures" / f"comparison_{slug(fig_set.name)}.png"
        comparison_grid(reference, fused_images, path, rgb=rgb, inset=cfg.figures.inset,
                        title=f"{fig_set.name}, image {cfg.figures.image}")
        figs["comparison"] = path
        log(f"wrote {path}")
    if cfg.figures.curves and result.histories:
        path = out / "figures" / "training_curves.png"
        try:
            training_curves(result.histories, path)
            figs["training_curves"] = path
        except ValueRangeError as exc:  # runs without any logged quantity
            log(f"no training curves: {exc}")
    return figs


def _text(path: Path, text: str) -> None:
    """Write ``text`` through the atomic writer."""
    atomic_write_bytes(path, text)


__all__ = ["run_benchmark", "BenchmarkResult", "MethodInstance", "aggregate", "measure_timing", "score",
           "method_fuser", "protocol_lines", "load_config"]
