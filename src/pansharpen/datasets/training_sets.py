"""Training sets for :func:`pansharpen.training.train.train`: opening, checking, in-memory sets.

A training set is any torch ``Dataset`` whose items are ``{"gt", "ms", "lms", "pan"}``
float32 tensors ``(C, H, W)`` / ``(C, h, w)`` / ``(C, H, W)`` / ``(G, H, W)`` on the network
scale (digital numbers / normaliser): a PanCollection file opened with
:class:`PanCollectionDataset`, or an :class:`InMemorySet`
(scene-adaptive training builds one from the user's product).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from torch.utils.data import Dataset

from ..errors import DataFormatError, ModelError, ShapeError, ValueRangeError
from ..io.pancollection import PanCollectionFile, open_pancollection

TRAIN_KEYS = ("gt", "ms", "lms", "pan")


class PanCollectionDataset(Dataset):
    """A PanCollection file as a torch ``Dataset`` of ``{key: float32 tensor (C, H, W)}``.

    Values are digital numbers divided by ``normaliser`` (2047 for 11-bit WorldView/QuickBird,
    1023 for GF2). The file is opened lazily in each process on its first ``__getitem__``
    (h5py handles do not survive ``fork``), so it works with ``DataLoader(num_workers>0)``;
    only the requested sample is read from disk.

    Raises :class:`DataFormatError` at construction if a requested key is missing.
    """

    def __init__(
        self,
        path: "str | os.PathLike",
        normaliser: float = 2047.0,
        keys: Sequence[str] = ("gt", "ms", "lms", "pan"),
    ):
        self.path = Path(path)
        self.normaliser = float(normaliser)
        if not self.normaliser > 0:
            raise ValueRangeError(f"normaliser must be positive; got {normaliser}")
        self.keys = tuple(k.lower() for k in keys)
        with open_pancollection(self.path) as f:
            missing = [k for k in self.keys if k not in f]
            if missing:
                raise DataFormatError(
                    f"{self.path}: key(s) {', '.join(missing)} missing; the file holds {', '.join(f.keys)} "
                    f"(pass keys=... to read a subset, e.g. a full-resolution set has no gt)"
                )
            self._len = len(f)
            self.shapes = {k: f.shape(k)[1:] for k in self.keys}
        self._file: PanCollectionFile | None = None
        self._pid: int | None = None

    def __len__(self) -> int:
        return self._len

    def _handle(self) -> PanCollectionFile:
        if self._file is None or self._pid != os.getpid():
            self._file = open_pancollection(self.path)
            self._pid = os.getpid()
        return self._file

    def __getitem__(self, i: int):
        if not -self._len <= i < self._len:
            raise IndexError(f"sample {i} out of range for {self._len} samples in {self.path}")
        f = self._handle()
        return {k: torch.from_numpy(f.read(k, int(i)) / self.normaliser).float() for k in self.keys}

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_file"] = None
        state["_pid"] = None
        return state

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None


class InMemorySet(Dataset):
    """Samples held as tensors: ``gt``/``lms`` ``(N, C, H, W)``, ``ms`` ``(N, C, h, w)``, ``pan`` ``(N, G, H, W)``.

    Values on the network scale (DN / normaliser), float32.
    """

    def __init__(self, gt, ms, lms, pan):
        self.arrays = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in zip(TRAIN_KEYS, (gt, ms, lms, pan))}
        counts = {k: v.shape[0] for k, v in self.arrays.items()}
        if len(set(counts.values())) != 1 or any(v.ndim != 4 for v in self.arrays.values()):
            raise ShapeError(f"InMemorySet: arrays must be 4-D with the same sample count; got {counts}")
        self.shapes = {k: tuple(v.shape[1:]) for k, v in self.arrays.items()}

    def __len__(self) -> int:
        return next(iter(self.arrays.values())).shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.arrays.items()}


class Indexed(Dataset):
    """Adds the sample's position (``"index"``) to each item, to name bad samples in errors."""

    def __init__(self, base: Dataset):
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {**self.base[i], "index": i}


@dataclass
class SetInfo:
    """What a training set holds: sample count, per-key shapes ``(C, H, W)``, provenance."""

    name: str
    samples: int
    shapes: dict[str, tuple[int, ...]]
    attrs: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def bands(self) -> int:
        return self.shapes["gt"][0]

    def record(self) -> dict[str, Any]:
        """JSON-able description for the model card's training record."""
        rec: dict[str, Any] = {"name": self.name, "samples": self.samples,
                               "shapes": {k: list(v) for k, v in self.shapes.items()}}
        if self.path is not None:
            rec["bytes"] = self.path.stat().st_size
        if self.attrs:
            rec["provenance"] = json.loads(json.dumps(self.attrs, default=str))
        return rec


def file_attrs(path: "str | os.PathLike") -> dict[str, Any]:
    """The provenance attributes of a PanCollection file (opens and closes it; raises on damage)."""
    with open_pancollection(path) as f:
        return dict(f.attrs)


def open_training_set(source: "str | os.PathLike | Dataset", normaliser: float, role: str = "training") -> tuple[Dataset, SetInfo]:
    """Open ``source`` (a PanCollection file or a Dataset) and check it before any training.

    Reads the first and the last sample, so a truncated file fails here, not hours later.
    Raises :class:`DataFormatError` (missing/corrupt file, missing keys) or
    :class:`ShapeError` (an empty set, inconsistent shapes).
    """
    if isinstance(source, Dataset):
        own = getattr(source, "info", None)  # e.g. training.augment.AugmentedSet: keep the file's provenance
        if isinstance(own, SetInfo):
            dataset, name, attrs, path = source, own.name, dict(own.attrs), own.path
        else:
            dataset, name, attrs, path = source, type(source).__name__, {}, None
    else:
        path = Path(source)
        if not path.is_file():
            raise DataFormatError(f"{role} set {path} does not exist; create one with `pansharpen simulate`")
        attrs = file_attrs(path)
        dataset = PanCollectionDataset(path, normaliser=normaliser, keys=TRAIN_KEYS)
        name = path.name
    n = len(dataset)
    if n == 0:
        raise ShapeError(f"{role} set {name} holds no samples")
    try:
        first, last = dataset[0], dataset[n - 1]
    except DataFormatError:
        raise
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        raise DataFormatError(f"{role} set {name}: reading samples failed ({exc}); the file is truncated or corrupt") from exc
    missing = [k for k in TRAIN_KEYS if k not in first]
    if missing:
        raise DataFormatError(f"{role} set {name}: items lack key(s) {', '.join(missing)}; need {', '.join(TRAIN_KEYS)}")
    shapes = {k: tuple(first[k].shape) for k in TRAIN_KEYS}
    if any(tuple(last[k].shape) != shapes[k] for k in TRAIN_KEYS):
        raise ShapeError(f"{role} set {name}: samples differ in shape; all patches must have the same size")
    if len({shapes["gt"][0], shapes["ms"][0], shapes["lms"][0]}) != 1:
        raise ShapeError(f"{role} set {name}: gt, ms and lms band counts differ: {shapes}")
    return dataset, SetInfo(name, n, shapes, attrs, path)


def check_model_for_set(model: torch.nn.Module, info: SetInfo) -> None:
    """Raise :class:`ModelError` (or :class:`ShapeError`) when ``model`` cannot be trained on ``info``'s
    samples: band count, guide channels, PAN/MS size ratio. Compare
    :func:`pansharpen.fusion.fuse.check_card_for_product` (a trained model against a product)."""
    bands = getattr(model, "bands", None)
    guide = getattr(model, "guide_bands", 1)
    ratio = getattr(model, "ratio", 4)
    arch = getattr(getattr(model, "card", None), "arch", type(model).__name__)
    c, h, w = info.shapes["ms"]
    if bands is not None and bands != c:
        raise ModelError(
            f"{arch} has {bands} bands but the {info.name} samples have {c}; "
            f"create the model with bands={c} or use a set of {bands}-band images"
        )
    if info.shapes["pan"][0] != guide:
        raise ModelError(f"{arch} expects a {guide}-channel guide; {info.name} has pan with {info.shapes['pan'][0]}")
    if tuple(info.shapes["pan"][1:]) != (h * ratio, w * ratio):
        raise ShapeError(
            f"{info.name}: pan patches are {info.shapes['pan'][1:]} and ms patches {(h, w)}; "
            f"{arch} needs ratio {ratio} (pan = {(h * ratio, w * ratio)})"
        )
