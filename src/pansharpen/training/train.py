"""The training loop: presets, budget, validation, atomic checkpoints, exact resume, torchrun DDP.

``train(TrainConfig("lightnet", "train.h5", "valid.h5", epochs=80, out="w.safetensors"))`` (or the
keyword form ``train("lightnet", "train.h5", "valid.h5", epochs=80, out=...)``) trains a
registered network (or a given model) on a PanCollection-layout set with its paper's recipe
(:mod:`.presets`) and writes the final weights with :func:`pansharpen.models.save`, the card
recording the configuration, data, command, recipe, time and validation metrics.

Files beside ``out`` (``W.safetensors``):

* ``W.ckpt`` -- full training state (model, optimiser, scheduler, RNG states, epoch, step,
  history, best weights), rewritten atomically after every ``checkpoint_every`` epochs and
  when a ``minutes`` budget stops the run, with the run's configuration; ``resume=True``
  continues from it after comparing the configurations (:mod:`.config`).

Exactness: the data order of epoch ``e`` is a pure function of ``(seed, e)``
(``DistributedSampler`` with ``set_epoch``), so a resumed run -- even one stopped in the
middle of an epoch -- makes exactly the same steps as an uninterrupted one. Under
``torchrun`` each of the P processes takes every P-th sample of the same permutation with
batch ``batch_size / P``; the union of their batches is the single-process batch, and DDP
averages the gradients, so P processes give the single-process result up to float
summation order.
"""
from __future__ import annotations

import copy
import json
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler
from tqdm.auto import tqdm

from .. import models
from .._version import __version__
from ..datasets.training_sets import (
    Indexed,
    check_model_for_set,
    file_attrs,
    open_training_set,
)
from ..errors import ModelError, OutputExistsError, ShapeError, ValueRangeError
from ..protocol.scaling import network_normaliser
from . import ddp
from .checkpointing import (
    CHECKPOINT_FORMAT,
    atomic_torch_save,
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
)
from .config import TrainConfig, resume_differences
from .losses import build_loss
from .presets import Preset, resolve_preset, scaled_step_size
from .validation import is_better, validate

Callback = Callable[[dict[str, Any]], None]


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        model: the selected weights (best validated, or last) in a CPU model, eval mode.
        out: the weights file written (None when ``out`` was not given or on ranks > 0).
        checkpoint: the training-state file (``W.ckpt``), or None.
        epochs: completed epochs (a run stopped mid-epoch reports the completed ones).
        steps: optimiser steps made in total (including before a resume).
        stopped_by: ``"epochs"`` (reached the planned epochs) or ``"minutes"`` (budget).
        seconds: training wall time in total (including before a resume).
        history: one dict per completed epoch: ``epoch``, ``loss``, ``lr``, ``seconds`` and
            validation metrics (``Q2n``, ``SAM``, ``ERGAS``, ``L1``) on validated epochs.
        best: ``{"epoch": e, "metrics": {...}}`` of the best validated state, or None.
        selected: which weights went into ``model``/``out``: ``"best"`` or ``"last"``.
        preset: the recipe used (after overrides).
        horizon: the epochs the learning-rate schedule was planned for.
        step_size: the StepLR step actually used (epochs).
        metrics: validation metrics of the selected weights (empty without a validation set).
    """

    model: nn.Module
    out: Path | None
    checkpoint: Path | None
    epochs: int
    steps: int
    stopped_by: str
    seconds: float
    history: list[dict[str, Any]]
    best: dict[str, Any] | None
    selected: str
    preset: Preset
    horizon: int | None
    step_size: int
    metrics: dict[str, float] = field(default_factory=dict)


def checkpoint_path_for(out: "str | os.PathLike") -> Path:
    """``W.safetensors`` -> ``W.ckpt`` (the training state beside the weights)."""
    out = Path(out)
    stem = out.name[: -len(".safetensors")] if out.name.endswith(".safetensors") else out.name
    return out.with_name(stem + ".ckpt")


def _state_dict_cpu(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def _build_model(spec, weights, bands: int, seed: int, options: dict[str, Any]) -> nn.Module:
    if isinstance(spec, nn.Module):
        if weights is not None:
            raise ModelError("give either a model object or weights=, not both")
        return spec
    if weights is not None:
        model = models.load(weights)
        if spec and model.card.arch != spec:
            raise ModelError(f"{weights} holds {model.card.arch} weights, not {spec}; name the matching model")
        model.train()
        return model
    with torch.random.fork_rng(devices=[]):  # seeded init without disturbing the caller's RNG
        torch.manual_seed(seed)
        return models.create(spec, bands=bands, **options)


def make_optimiser(preset: Preset, params) -> torch.optim.Optimizer:
    """The preset's optimiser (Adam with its betas, or SGD with momentum) over ``params``."""
    if preset.optimiser == "adam":
        return torch.optim.Adam(params, lr=preset.lr, betas=tuple(preset.betas), weight_decay=preset.weight_decay)
    return torch.optim.SGD(params, lr=preset.lr, momentum=preset.momentum, weight_decay=preset.weight_decay)


def _first_bad_sample(batch: dict[str, Any]) -> tuple[int, str] | None:
    """``(dataset index, key)`` of the first sample in ``batch`` holding NaN/inf, or None."""
    for key in ("gt", "ms", "lms", "pan"):
        t = batch[key]
        finite = torch.isfinite(t).flatten(1).all(dim=1)
        if not bool(finite.all()):
            pos = int((~finite).nonzero()[0, 0])
            return int(batch["index"][pos]), key
    return None


def _progress(total: int | None, initial: int, desc: str, disable: bool):
    return tqdm(total=total, initial=initial, desc=desc, unit="step", disable=disable, dynamic_ncols=True, leave=False)


def train(
    config: "TrainConfig | str | nn.Module",
    train_path: "str | os.PathLike | Dataset | None" = None,
    valid_path: "str | os.PathLike | Dataset | None" = None,
    *,
    callbacks: Iterable[Callback] = (),
    **options: Any,
) -> TrainResult:
    """Train a fusion network as ``config`` (a :class:`~pansharpen.training.config.TrainConfig`) says.

    The keyword form ``train(model, train_path, valid_path, epochs=..., out=..., ...)`` builds the
    TrainConfig from its arguments (``options`` are TrainConfig's fields). ``callbacks`` are
    called after every optimiser step with ``{"epoch", "step", "global_step", "loss"}``.

    ``minutes`` with no ``epochs``: the schedule is planned for the epochs that fit the budget,
    estimated from the first epoch's time (at most the preset's epochs). ``resume`` continues
    from ``W.ckpt`` with its recorded recipe, seed and schedule after comparing the recorded and
    the given configuration (:mod:`pansharpen.training.config` says which fields may differ).

    Raises:
        DataFormatError: missing, truncated or corrupt data file or checkpoint.
        ModelError: model/data band or ratio mismatch, unknown preset, a resume whose
            configuration differs from the recorded one (the message names the fields).
        ValueRangeError: an invalid configuration value; NaN/inf in a training sample (the
            message names it) or a diverged loss: no checkpoint is written for the failing
            step, the last good one stays.
        OutputExistsError: ``out`` or its checkpoint exists and neither ``resume`` nor ``overwrite``.
    """
    if isinstance(config, TrainConfig):
        if train_path is not None or valid_path is not None or options:
            raise ValueRangeError("give either a TrainConfig or the model, data and keyword options, not both")
    else:
        config = TrainConfig(config, train_path, valid_path, **options)
    dist_info = ddp.init_from_env(config.device)
    finished = False
    try:
        result = _Run(dist_info, config, list(callbacks)).run()
        finished = True
        return result
    finally:
        ddp.shutdown(dist_info, finished=finished)


class _Run:
    """One training invocation; holds the mutable loop state so that checkpoints can capture it."""

    def __init__(self, dist_info: ddp.Dist, config: TrainConfig, callbacks: list[Callback]):
        self.t0 = time.perf_counter()
        self.d = dist_info
        self.cfg = config
        self.device = torch.device(config.device)
        self.out = config.out
        self.ckpt_path = checkpoint_path_for(self.out) if self.out is not None else None
        self.quiet = config.quiet or not self.d.is_main
        self.callbacks = callbacks
        self._check_outputs()
        self.ckpt = load_checkpoint(self.ckpt_path) if config.resume else None
        self._setup_data_and_model()
        self._setup_recipe()
        self._setup_optimisation()

    # -- setup --------------------------------------------------------------------------------
    def _check_outputs(self) -> None:
        if self.out is None or self.cfg.resume or self.cfg.overwrite:
            return
        for p in (self.out, self.ckpt_path):
            if p.exists():
                raise OutputExistsError(
                    f"{p} exists; pass --resume to continue that run or --overwrite to start a new one"
                )

    def _setup_data_and_model(self) -> None:
        cfg = self.cfg
        spec, weights = cfg.model, cfg.weights
        given_model = isinstance(spec, nn.Module) or weights is not None
        if given_model:  # trained weights keep their card's scale
            model = _build_model(spec, weights, 0, cfg.seed, cfg.model_options)
            norm = network_normaliser(given=cfg.normaliser, card=getattr(model, "card", None))
            self.train_set, self.train_info = open_training_set(cfg.data, norm, "training")
        else:  # a new network takes the data file's scale
            attrs = None
            if cfg.normaliser is None and isinstance(cfg.data, Path) and cfg.data.is_file():
                attrs = file_attrs(cfg.data)  # a missing file is reported by open_training_set
            norm = network_normaliser(given=cfg.normaliser, attrs=attrs)
            self.train_set, self.train_info = open_training_set(cfg.data, norm, "training")
            seed = self.ckpt["seed"] if self.ckpt else cfg.seed
            model = _build_model(spec, None, self.train_info.bands, seed, cfg.model_options)
        self.normaliser = float(norm)
        check_model_for_set(model, self.train_info)
        self.valid_set = self.valid_info = None
        if cfg.valid is not None:
            self.valid_set, self.valid_info = open_training_set(cfg.valid, self.normaliser, "validation")
            check_model_for_set(model, self.valid_info)
        self.model = model.to(self.device)
        card = getattr(model, "card", None)
        self.arch = card.arch if card is not None else type(model).__name__

    def _data_records(self) -> dict[str, Any]:
        """What the training and validation sets hold (compared on resume instead of their paths)."""
        return {"data": self.train_info.record(),
                "valid": self.valid_info.record() if self.valid_info is not None else None}

    def _check_resume_config(self) -> None:
        """Refuse a resume whose configuration differs from the recorded one (see :mod:`.config`)."""
        c, cfg = self.ckpt, self.cfg
        where = self.ckpt_path
        recorded = c.get("config")
        if recorded is None:
            if not cfg.force:
                raise ModelError(
                    f"{where} records no configuration (written by an older pansharpen), so the data and settings "
                    "cannot be compared; pass --force (force=True) to resume it anyway, or start a new run with --overwrite"
                )
            return
        given = cfg.to_dict()
        data_diff, recipe_diff = resume_differences(recorded, given)
        now = json.loads(json.dumps(self._data_records(), default=str))
        for key in ("data", "valid"):
            if c.get("data_records", {}).get(key) != now[key]:
                data_diff.insert(0, key)

        def show(names: list[str]) -> str:
            return "; ".join(f"{k}: {_describe(k, recorded, c)} recorded, {_describe(k, given, {'data_records': now})} given"
                             for k in names)

        if recipe_diff:
            raise ModelError(
                f"resume cannot change what {where} was trained with ({show(recipe_diff)}): the model, optimiser "
                "and data order in the checkpoint depend on it, even with --force; pass the recorded values, or "
                "start a new run with --overwrite (or fine-tune from the weights with --weights)"
            )
        if data_diff and not cfg.force:
            raise ModelError(
                f"resume with another configuration than {where} recorded ({show(data_diff)}); pass the same "
                "options as that run, --force to continue it with the new ones, or --overwrite to start a new run"
            )
        if data_diff:
            self._log(f"--force: continuing {where} with changed {', '.join(data_diff)}")

    def _setup_recipe(self) -> None:
        cfg = self.cfg
        if self.ckpt is None:
            self.preset = resolve_preset(self.arch, cfg.preset, lr=cfg.lr, batch_size=cfg.batch_size, loss=cfg.loss)
            self.seed = cfg.seed
            self.horizon = cfg.epochs or (None if cfg.minutes else self.preset.epochs)
            self.step_size = scaled_step_size(self.preset, self.horizon, cfg.schedule) if self.horizon else self.preset.step_size
            self.schedule = cfg.schedule
            return
        c = self.ckpt
        if c["arch"] != self.arch or c["bands"] != self.train_info.bands:
            raise ModelError(
                f"{self.ckpt_path} belongs to {c['arch']} with {c['bands']} bands, not {self.arch} with "
                f"{self.train_info.bands}; resume with the same model and data"
            )
        self._check_resume_config()
        p = dict(c["preset"])
        p["betas"] = tuple(p["betas"])
        self.preset = Preset(**p)
        self.seed, self.horizon, self.step_size, self.schedule = c["seed"], c["horizon"], c["step_size"], c["schedule"]
        if self.horizon is None and cfg.epochs:
            self.horizon = cfg.epochs
            self.step_size = scaled_step_size(self.preset, self.horizon, self.schedule)

    def _setup_optimisation(self) -> None:
        d = self.d
        if self.preset.batch_size % d.world:
            raise ShapeError(
                f"batch size {self.preset.batch_size} is not divisible by the {d.world} processes; "
                f"choose a multiple of {d.world}"
            )
        self.local_batch = self.preset.batch_size // d.world
        self.steps_per_epoch = (len(self.train_set) // d.world) // self.local_batch
        if self.steps_per_epoch == 0:
            raise ShapeError(
                f"the training set has {len(self.train_set)} samples, fewer than one batch of "
                f"{self.preset.batch_size}; lower --batch-size or use a bigger set"
            )
        self.net = self.model
        if d.active:
            self.net = nn.parallel.DistributedDataParallel(self.model)
        self.optimiser = make_optimiser(self.preset, self.model.parameters())
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimiser, step_size=self.step_size, gamma=self.preset.gamma)
        self.loss_fn = build_loss(self.preset, getattr(self.model, "ratio", 4))
        self.epoch = self.step_in_epoch = self.global_step = 0
        self.loss_sum, self.loss_count = 0.0, 0
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.last_metrics: dict[str, float] | None = None
        self.seconds_before = 0.0
        self.stopped_by = "epochs"
        if self.ckpt is not None:
            self._restore(self.ckpt)
        else:
            torch.manual_seed(self.seed)  # global stream for any stochastic layer, saved in checkpoints

    # -- checkpoints ----------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "config": self.cfg.to_dict(),
            "data_records": json.loads(json.dumps(self._data_records(), default=str)),
            "arch": self.arch,
            "bands": self.train_info.bands,
            "seed": self.seed,
            "preset": self.preset.to_dict(),
            "schedule": self.schedule,
            "horizon": self.horizon,
            "step_size": self.step_size,
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "global_step": self.global_step,
            "loss_sum": self.loss_sum,
            "loss_count": self.loss_count,
            "history": self.history,
            "best": self.best,
            "best_model": self.best_state,
            "last_metrics": self.last_metrics,
            "seconds": self.seconds_before + (time.perf_counter() - self.t0),
            "world": self.d.world,
            "model": _state_dict_cpu(self.model),
            "optimiser": self.optimiser.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": capture_rng_state(),
        }

    def _save_checkpoint(self) -> None:
        if self.ckpt_path is not None and self.d.is_main:
            atomic_torch_save(self._state(), self.ckpt_path)

    def _restore(self, c: dict[str, Any]) -> None:
        self.model.load_state_dict(c["model"])
        self.optimiser.load_state_dict(c["optimiser"])
        self.scheduler.load_state_dict(c["scheduler"])
        self.scheduler.step_size = self.step_size
        restore_rng_state(c["rng"])
        for name in ("epoch", "step_in_epoch", "global_step", "loss_sum", "loss_count", "history", "best", "last_metrics"):
            setattr(self, name, c[name])
        self.best_state = c["best_model"]
        self.seconds_before = float(c["seconds"])

    # -- loop -------------------------------------------------------------------------------------
    def _out_of_time(self) -> bool:
        minutes = self.cfg.minutes
        return bool(minutes) and (time.perf_counter() - self.t0) > minutes * 60.0

    def _log(self, text: str) -> None:
        if not self.quiet:
            tqdm.write(text, file=sys.stderr)

    def run(self) -> TrainResult:
        stop_epoch = self.cfg.epochs or self.horizon or self.preset.epochs
        sampler = DistributedSampler(self.train_set, num_replicas=self.d.world, rank=self.d.rank,
                                     shuffle=True, seed=self.seed, drop_last=True)
        indexed = Indexed(self.train_set)
        bar_off = self.quiet or not sys.stderr.isatty()
        total = stop_epoch * self.steps_per_epoch if (self.horizon or self.cfg.epochs) else None
        bar = _progress(total, self.global_step, self.arch, bar_off)
        self.model.train()
        try:
            while self.epoch < stop_epoch and self.stopped_by == "epochs":
                sampler.set_epoch(self.epoch)
                order = list(sampler)[self.step_in_epoch * self.local_batch: self.steps_per_epoch * self.local_batch]
                # own generator: creating a loader must not draw from the global torch stream
                loader = DataLoader(indexed, batch_size=self.local_batch, sampler=order, drop_last=True,
                                    num_workers=self.cfg.num_workers,
                                    generator=torch.Generator().manual_seed(self.seed + self.epoch))
                epoch_t0 = time.perf_counter()
                for batch in loader:
                    if not self._step(batch):
                        self.stopped_by = "minutes"
                        break
                    bar.update(1)
                    bar.set_postfix(epoch=self.epoch + 1, loss=f"{self.loss_sum / max(self.loss_count, 1):.4g}",
                                    lr=f"{self.optimiser.param_groups[0]['lr']:.3g}", refresh=False)
                if self.stopped_by == "epochs":
                    self._end_epoch(time.perf_counter() - epoch_t0, stop_epoch)
                    if self.horizon is not None and bar.total is None:
                        stop_epoch = self.cfg.epochs or self.horizon
                        bar.total = stop_epoch * self.steps_per_epoch
                    elif self._out_of_time_all() and self.epoch < stop_epoch:
                        self.stopped_by = "minutes"
        finally:
            bar.close()
        if self.stopped_by == "minutes":
            self._log(f"time budget of {self.cfg.minutes} min spent: stopped at epoch {self.epoch} "
                      f"step {self.step_in_epoch}/{self.steps_per_epoch}; continue with --resume")
            if self.valid_set is not None and self.last_metrics is None:
                self._validate()
            self._save_checkpoint()
        return self._finish()

    def _out_of_time_all(self) -> bool:
        return bool(ddp.any_flag(self.d, float(self._out_of_time()))[0])

    def _step(self, batch: dict[str, Any]) -> bool:
        """One optimiser step; False when the time budget is spent (nothing done)."""
        bad = _first_bad_sample(batch)
        bad_flag, stop_flag = ddp.any_flag(self.d, float(bad is not None), float(self._out_of_time()))
        where = f"epoch {self.epoch + 1}, step {self.step_in_epoch + 1}"
        kept = f"; the last good checkpoint {self.ckpt_path} is kept" if self.ckpt_path else ""
        if bad is not None:
            raise ValueRangeError(
                f"training sample {bad[0]} of {self.train_info.name} holds NaN or inf in {bad[1]!r} ({where}); "
                f"fix or remove that sample{kept}"
            )
        if bad_flag:
            raise ValueRangeError(f"another process found a NaN/inf training sample ({where}){kept}")
        if stop_flag:
            return False
        dev = self.device
        fused = self.net(batch["ms"].to(dev), batch["pan"].to(dev), batch["lms"].to(dev))
        loss = self.loss_fn(fused, batch["gt"].to(dev))
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        diverged = not bool(torch.isfinite(loss))
        if ddp.any_flag(self.d, float(diverged))[0]:
            samples = [int(i) for i in batch["index"]]
            raise ValueRangeError(
                f"the loss became NaN/inf at {where} (samples {samples}); training diverged: lower the "
                f"learning rate with --lr and start again, or --resume{kept}"
            )
        self.optimiser.step()
        self.global_step += 1
        self.step_in_epoch += 1
        loss_value = float(loss.detach())
        self.loss_sum += loss_value
        self.loss_count += 1
        self.last_metrics = None
        info = {"epoch": self.epoch, "step": self.step_in_epoch, "global_step": self.global_step, "loss": loss_value}
        for cb in self.callbacks:
            cb(info)
        return True

    def _end_epoch(self, seconds: float, stop_epoch: int) -> None:
        lr = self.optimiser.param_groups[0]["lr"]
        self.scheduler.step()
        self.epoch += 1
        entry = {"epoch": self.epoch, "loss": self.loss_sum / max(self.loss_count, 1), "lr": lr, "seconds": seconds}
        self.history.append(entry)
        self.step_in_epoch, self.loss_sum, self.loss_count = 0, 0.0, 0
        if self.horizon is None:
            self._plan_horizon(seconds)
            stop_epoch = self.cfg.epochs or self.horizon
        k = self.cfg.validate_every
        if self.valid_set is not None and ((k and self.epoch % k == 0) or self.epoch >= stop_epoch):
            entry.update(self._validate())
        if self.epoch % self.cfg.checkpoint_every == 0 or self.epoch >= stop_epoch:
            self._save_checkpoint()

    def _plan_horizon(self, first_epoch_seconds: float) -> None:
        """Minutes-only budget: plan the schedule for the epochs that fit (rank 0 decides)."""
        budget = self.cfg.minutes * 60.0 if self.cfg.minutes else None
        planned = self.preset.epochs
        if budget:
            planned = max(1, min(self.preset.epochs, int(budget // max(first_epoch_seconds, 1e-9))))
        self.horizon = ddp.broadcast_int(self.d, planned)
        self.step_size = scaled_step_size(self.preset, self.horizon, self.schedule)
        self.scheduler.step_size = self.step_size
        self._log(f"planned {self.horizon} epochs for the budget; StepLR step {self.step_size}")

    def _validate(self) -> dict[str, float]:
        if not self.d.is_main:
            return {}
        metrics = validate(self.model, self.valid_set, self.normaliser, getattr(self.model, "ratio", 4),
                           device=str(self.device))
        self.last_metrics = metrics
        if is_better(metrics, self.best["metrics"] if self.best else None, self.cfg.select_metric):
            self.best = {"epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "metrics": metrics}
            self.best_state = _state_dict_cpu(self.model)
        self._log(f"epoch {self.epoch}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
        return metrics

    # -- result -----------------------------------------------------------------------------------
    def _finish(self) -> TrainResult:
        use_best = self.cfg.select == "best" and self.best_state is not None
        final = copy.deepcopy(self.model).cpu()
        if use_best:
            final.load_state_dict(self.best_state)
        metrics = dict(self.best["metrics"]) if use_best else dict(self.last_metrics or {})
        seconds = self.seconds_before + (time.perf_counter() - self.t0)
        card = getattr(final, "card", None)
        if card is not None:
            record = self._record(seconds, "best" if use_best else "last")
            sensors = card.sensors
            sensor = self.train_info.attrs.get("sensor")
            if isinstance(sensor, str) and sensor and sensor not in sensors:
                sensors = [*sensors, sensor]
            final.card = replace(card, normaliser=self.normaliser, sensors=sensors,
                                 training=record, metrics=({"valid": self.valid_info.name, **metrics} if metrics else {}))
        written = None
        if self.out is not None and self.d.is_main:
            written = models.save(final, self.out)
        final.eval()
        return TrainResult(
            model=final, out=written, checkpoint=self.ckpt_path if self.d.is_main else None,
            epochs=self.epoch, steps=self.global_step, stopped_by=self.stopped_by, seconds=seconds,
            history=self.history, best=self.best, selected="best" if use_best else "last", preset=self.preset,
            horizon=self.horizon, step_size=self.step_size, metrics=metrics,
        )

    def _record(self, seconds: float, selected: str) -> dict[str, Any]:
        cfg = self.cfg
        command = cfg.command or (
            f"pansharpen.training.train.train({self.arch!r}, {str(cfg.data)!r}, epochs={cfg.epochs}, "
            f"minutes={cfg.minutes}, seed={self.seed})"
        )
        rec = {
            "data": self.train_info.record(),
            "valid": self.valid_info.record() if self.valid_info is not None else None,
            "command": command,
            "preset": self.preset.to_dict(),
            "schedule": {"mode": self.schedule, "step_size": self.step_size, "gamma": self.preset.gamma,
                         "planned_epochs": self.horizon},
            "epochs": self.epoch,
            "steps": self.global_step,
            "stopped_by": self.stopped_by,
            "seconds": round(seconds, 2),
            "seed": self.seed,
            "processes": self.d.world,
            "device": str(self.device),
            "selected": selected if selected == "last" else f"best by {cfg.select_metric} (epoch {self.best['epoch']})",
            "started_from": cfg.weights.name if cfg.weights is not None else None,
            "config": cfg.to_dict(),
            "pansharpen": __version__,
            "torch": torch.__version__,
        }
        return rec


def _describe(name: str, config: dict[str, Any], holder: dict[str, Any]) -> str:
    """A field's value for a resume message; data sets by file name and sample count."""
    if name in ("data", "valid"):
        rec = holder.get("data_records", {}).get(name)
        return "none" if rec is None else f"{rec.get('name')} ({rec.get('samples')} samples, {rec.get('bytes', '?')} bytes)"
    return repr(config.get(name))
