"""The training configuration: one frozen, typed, validated object per run.

:class:`TrainConfig` is what :func:`pansharpen.training.train.train` runs, what the model card's
training record holds (``training["config"]``) and what the checkpoint ``W.ckpt`` records, so
``resume`` compares the recorded and the given configuration field by field.

On resume the fields fall into three groups (:data:`RUN_FIELDS`, :data:`DATA_FIELDS`,
:data:`RECIPE_FIELDS`):

* **run** fields say how and how far this invocation runs, not what it computes; they may
  differ freely: ``epochs`` (where to stop: a finished run can be extended), ``minutes`` (this
  invocation's budget), ``out``, ``resume``, ``force``, ``overwrite``, ``quiet``, ``device``
  (resuming on another machine; bit-exactness holds on the same device and thread count),
  ``num_workers``, ``checkpoint_every`` and ``command``.
* **data** fields (the training and validation sets, the DN scale, validation and selection):
  a difference is refused unless ``force`` (``--force``), which continues the recorded run with
  the new values (for example fine-tuning on a new data file from the checkpoint). The data
  files are compared by what they hold (name, size in bytes, sample count, patch shapes,
  provenance), not by the path string, so a moved file still resumes.
* **recipe** fields (model, its options, start weights, preset, learning rate, batch size, loss,
  schedule, seed) are built into the checkpoint's model, optimiser and scheduler state and the
  data order; they never change on resume, ``force`` or not: pass the recorded values, or start
  a new run (``--overwrite``, or ``--weights W.safetensors`` to fine-tune from the weights).
  The preset overrides ``lr``, ``batch_size`` and ``loss`` may be left out (None) on resume:
  then the recorded values apply.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from torch import nn
from torch.utils.data import Dataset

from ..errors import ValueRangeError
from .presets import LOSSES, SCHEDULES, Preset
from .validation import METRICS

#: may differ on resume: how and how far the run goes, not what it computes
RUN_FIELDS = ("epochs", "minutes", "out", "resume", "force", "overwrite", "quiet", "device", "num_workers",
              "checkpoint_every", "command")
#: differ on resume only with ``force`` (then the new values apply)
DATA_FIELDS = ("data", "valid", "normaliser", "validate_every", "select", "select_metric")
#: fixed by the checkpoint's state: never change on resume
RECIPE_FIELDS = ("model", "model_options", "weights", "preset", "lr", "batch_size", "loss", "schedule", "seed")

#: recipe fields that override the preset: not given (None) on resume means "as recorded"
PRESET_OVERRIDES = ("lr", "batch_size", "loss")

SELECT_METRICS = (*METRICS, "L1")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _positive_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _as_path(value: Any) -> Any:
    return Path(value) if isinstance(value, (str, os.PathLike)) else value


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run is asked to do (validated on construction).

    Attributes:
        model: registered architecture name (``"lightnet"``), or a model to train.
        data: training set: a PanCollection h5/.mat (gt, ms, lms, pan) or a Dataset of such dicts.
        valid: validation set (same forms), scored every ``validate_every`` epochs; or None.
        preset: ``"paper"`` (the architecture's paper recipe), a preset name, or a Preset.
        epochs: epochs to train (default: the preset's); on resume, where to stop.
        minutes: wall-clock budget of this invocation; stops at a step boundary.
        batch_size, lr, loss: override the preset (global batch under torchrun; ``"l1"``/``"mse"``).
        out: weights file to write; the training state goes to ``W.ckpt`` beside it.
        resume: continue the run recorded in ``W.ckpt`` (needs ``out``).
        force: on resume, accept different data fields (see the module docstring).
        seed: seeds the initial weights and the data order.
        validate_every: validate every k epochs (and after the last); 0: only after the last.
        checkpoint_every: rewrite ``W.ckpt`` every k epochs (and at the end / budget stop).
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        quiet: no progress bar and no log lines.
        weights: start from these weights (fine-tuning) instead of a random initialisation.
        schedule: ``"scaled"`` (StepLR step scaled to ``epochs``) or ``"paper"`` (kept).
        select: ``"best"`` validated state (by ``select_metric``) or ``"last"`` goes to ``out``.
        select_metric: ``Q2n`` (higher is better), ``SAM``, ``ERGAS`` or ``L1`` (lower).
        overwrite: replace an existing ``out``/checkpoint when not resuming.
        num_workers: DataLoader worker processes.
        normaliser: DN scale (default: the file's recorded sensor, else the model card's, else 2047).
        model_options: keyword options of the architecture's constructor (``models.create``).
        command: the command line recorded in the card (the CLI passes its argv).
    """

    model: "str | nn.Module"
    data: "str | os.PathLike | Dataset"
    valid: "str | os.PathLike | Dataset | None" = None
    preset: "str | Preset" = "paper"
    epochs: int | None = None
    minutes: float | None = None
    batch_size: int | None = None
    lr: float | None = None
    loss: str | None = None
    out: "str | os.PathLike | None" = None
    resume: bool = False
    force: bool = False
    seed: int = 0
    validate_every: int = 10
    checkpoint_every: int = 1
    device: str = "cpu"
    quiet: bool = False
    weights: "str | os.PathLike | None" = None
    schedule: str = "scaled"
    select: str = "best"
    select_metric: str = "Q2n"
    overwrite: bool = False
    num_workers: int = 0
    normaliser: float | None = None
    model_options: Mapping[str, Any] = field(default_factory=dict)
    command: str | None = None

    def __post_init__(self) -> None:
        for name in ("data", "valid", "out", "weights"):
            object.__setattr__(self, name, _as_path(getattr(self, name)))
        object.__setattr__(self, "model_options", dict(self.model_options or {}))
        if not isinstance(self.model, (str, nn.Module)) or not self.model:
            raise ValueRangeError(f"model must be a registered name or an nn.Module; got {self.model!r}")
        if not isinstance(self.data, (Path, Dataset)):
            raise ValueRangeError(f"data must be a training-set file or a Dataset; got {self.data!r}")
        if self.valid is not None and not isinstance(self.valid, (Path, Dataset)):
            raise ValueRangeError(f"valid must be a validation-set file, a Dataset or None; got {self.valid!r}")
        if not isinstance(self.preset, (str, Preset)):
            raise ValueRangeError(f"preset must be a preset name or a Preset; got {self.preset!r}")
        if self.epochs is not None and not _positive_int(self.epochs):
            raise ValueRangeError(f"epochs must be a positive integer; got {self.epochs!r}")
        if self.minutes is not None and not _positive_number(self.minutes):
            raise ValueRangeError(f"minutes must be a positive number; got {self.minutes!r}")
        if self.batch_size is not None and not _positive_int(self.batch_size):
            raise ValueRangeError(f"batch size must be a positive integer; got {self.batch_size!r}")
        if self.lr is not None and not _positive_number(self.lr):
            raise ValueRangeError(f"learning rate must be a positive number; got {self.lr!r}")
        if self.loss is not None and self.loss not in LOSSES:
            raise ValueRangeError(f"loss must be one of {', '.join(LOSSES)}; got {self.loss!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueRangeError(f"seed must be an integer >= 0; got {self.seed!r}")
        if not isinstance(self.validate_every, int) or self.validate_every < 0:
            raise ValueRangeError(
                f"validate_every must be an integer >= 0 (0: only at the end); got {self.validate_every!r}"
            )
        if not _positive_int(self.checkpoint_every):
            raise ValueRangeError(f"checkpoint_every must be a positive integer; got {self.checkpoint_every!r}")
        if self.schedule not in SCHEDULES:
            raise ValueRangeError(f"schedule must be one of {', '.join(SCHEDULES)}; got {self.schedule!r}")
        if self.select not in ("best", "last"):
            raise ValueRangeError(f"select must be 'best' or 'last'; got {self.select!r}")
        if self.select_metric not in SELECT_METRICS:
            raise ValueRangeError(f"select_metric must be one of {', '.join(SELECT_METRICS)}; got {self.select_metric!r}")
        if not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise ValueRangeError(f"num_workers must be an integer >= 0; got {self.num_workers!r}")
        if self.normaliser is not None and not _positive_number(self.normaliser):
            raise ValueRangeError(
                f"normaliser must be a positive number (the DN that maps to 1.0); got {self.normaliser!r}"
            )
        if not isinstance(self.device, str) or not self.device:
            raise ValueRangeError(f"device must be a string such as 'cpu' or 'cuda'; got {self.device!r}")
        if self.resume and self.out is None:
            raise ValueRangeError("resume needs out= (the checkpoint lives beside the weights file)")
        if self.force and not self.resume:
            raise ValueRangeError(
                "force only relaxes the configuration check of a resume (--resume --force); "
                "to replace an existing output pass --overwrite"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (written into the card and the checkpoint): paths as given, a model
        object by its architecture, a Dataset by its type, a Preset as its fields."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, nn.Module):
        card = getattr(value, "card", None)
        return card.arch if card is not None else type(value).__name__
    if isinstance(value, Dataset):
        return f"<{type(value).__name__}>"
    if isinstance(value, Preset):
        return value.to_dict()
    if isinstance(value, Path):
        return str(value)
    return json.loads(json.dumps(value, default=str))


def resume_differences(recorded: Mapping[str, Any], given: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """``(data, recipe)``: names of the data and recipe fields whose values differ between two
    :meth:`TrainConfig.to_dict` forms (run fields are not compared; ``data``/``valid`` are the
    caller's to compare by content and are skipped here; ``weights`` by file name)."""
    def value(config: Mapping[str, Any], name: str) -> Any:
        v = config.get(name)
        return Path(v).name if name == "weights" and v is not None else v  # a moved start file is the same start

    data = [k for k in DATA_FIELDS if k not in ("data", "valid") and value(recorded, k) != value(given, k)]
    recipe = [k for k in RECIPE_FIELDS if value(recorded, k) != value(given, k)
              and not (k in PRESET_OVERRIDES and given.get(k) is None)]
    return data, recipe
