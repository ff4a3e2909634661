"""On-the-fly augmentation of a training set: dihedral transforms and radiometric gain jitter.

:class:`AugmentedSet` holds a PanCollection training file in memory (float32, network scale) and
returns every sample under a fresh random transform each time it is read:

* ``dihedral``: one of the 8 flips/quarter turns (:func:`pansharpen.datasets.simulate.transform`),
  the same for ``gt``, ``ms``, ``lms`` and ``pan``. The MS decimation phase (offset ``r // 2``)
  moves by at most one PAN pixel under a flip, as in ``simulate --augment``.
* ``gain``: every key multiplied by one factor ``g = exp(u)``, ``u ~ U(-ln(1 + gain), ln(1 + gain))``:
  products of other brightness, bit-depth use or sensor calibration. A common factor keeps
  ``gt``, ``ms``, ``lms`` and ``pan`` consistent (Wald's protocol is linear).

Reproducible: the draw for the ``k``-th read of sample ``i`` comes from
``numpy.random.default_rng([seed, i, k])``, so the same seed and data order (``train``'s sampler
is a function of its seed) give the same batches. A resumed run restarts the read counters, so
``--resume`` is exact only without augmentation.
"""
from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..datasets.simulate import N_TRANSFORMS
from ..datasets.training_sets import TRAIN_KEYS, SetInfo, open_training_set
from ..errors import ValueRangeError

__all__ = ["AugmentedSet", "parse_augment"]


def parse_augment(text: str | None) -> dict[str, Any]:
    """``"dihedral,gain=0.3"`` -> ``{"dihedral": True, "gain": 0.3}``; ``None``/``"none"`` -> no augmentation."""
    spec: dict[str, Any] = {"dihedral": False, "gain": 0.0}
    for item in (text or "none").replace("+", ",").split(","):
        item = item.strip().lower()
        if item in ("", "none"):
            continue
        key, _, value = item.partition("=")
        if key == "dihedral" and not value:
            spec["dihedral"] = True
        elif key == "gain":
            try:
                spec["gain"] = float(value or 0.3)
            except ValueError:
                raise ValueRangeError(f"--augment gain=X takes a number; got {item!r}") from None
            if not 0.0 <= spec["gain"] < 1.0:
                raise ValueRangeError(f"--augment gain must be in [0, 1); got {spec['gain']}")
        else:
            raise ValueRangeError(f"unknown augmentation {item!r}; use dihedral and/or gain=X (e.g. dihedral,gain=0.3)")
    return spec


def _dihedral(x: torch.Tensor, t: int) -> torch.Tensor:
    if t >= 4:
        x = x.flip(-1)
    return torch.rot90(x, t % 4, dims=(-2, -1)) if t % 4 else x


class AugmentedSet(Dataset):
    """A training file held in memory, augmented on every read.

    Args:
        source: PanCollection training file (or any Dataset of ``gt``/``ms``/``lms``/``pan`` items).
        normaliser: DN scale of the file (the network sees ``DN / normaliser``).
        dihedral: random flip/rotation per read.
        gain: radiometric gain jitter amplitude (0: none), see the module docstring.
        seed: seed of the draws.

    ``info`` is the file's :class:`~pansharpen.datasets.training_sets.SetInfo` with the
    augmentation added to its attributes (it goes into the model card).
    """

    def __init__(self, source: "str | os.PathLike | Dataset", normaliser: float, dihedral: bool = True,
                 gain: float = 0.0, seed: int = 0):
        base, info = open_training_set(source, normaliser, "training")
        self.arrays = {k: torch.stack([base[i][k].float() for i in range(len(base))]) for k in TRAIN_KEYS}
        self.dihedral, self.gain, self.seed = bool(dihedral), float(gain), int(seed)
        self.reads = np.zeros(len(base), dtype=np.int64)
        aug = {"dihedral": self.dihedral, "gain": self.gain, "seed": self.seed}
        self.info = SetInfo(info.name, info.samples, info.shapes, {**info.attrs, "augment": aug}, info.path)

    def __len__(self) -> int:
        return self.arrays["gt"].shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, int(i), int(self.reads[i])])
        self.reads[i] += 1
        t = int(rng.integers(N_TRANSFORMS)) if self.dihedral else 0
        g = math.exp(rng.uniform(-1.0, 1.0) * math.log1p(self.gain)) if self.gain else 1.0
        return {k: _dihedral(v[i], t) * g for k, v in self.arrays.items()}
