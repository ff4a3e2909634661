"""Training recipes ("presets") of the papers, selectable by name, with overrides.

A :class:`Preset` is the whole recipe: loss, optimiser, learning rate, step schedule,
batch size and epochs. ``resolve_preset(model, "paper")`` returns the recipe of the
paper that defines ``model``; any preset can also be asked for by its own name
(``"lightnet"``, ``"lgpconv-net"``, ``"ada3d"``, ``"fusionnet"``, ``"default"``).

Sources (``docs/seed-implementations.md``, read from the authors' training scripts):

* ``lightnet`` (SpanConv, IJCAI 2022, section 1.4): L1, Adam lr 0.0025 betas (0.9, 0.999),
  StepLR(120, 0.75), batch 8, 800 epochs.
* ``lgpconv-net`` (LGPConv, IJCAI 2023, section 2.5): MSE, Adam lr 0.0025 weight decay 1e-8,
  StepLR(100, 0.5), batch 32, 650 epochs.
* ``ada3d`` (Ada3D, TIP 2026, section 3.5; the authors' only recipe, for HS): L1 + 3e-5 * ERGAS,
  Adam lr 5e-4, StepLR(250, 0.5), batch 2, 1500 epochs.
* ``fusionnet`` (Deng et al., TGRS 2021): MSE, Adam lr 3e-4, batch 32, 400 epochs, constant lr.
  From the paper's text as we recall it; not checked against a script here.
* ``default``: our documented default for the comparison networks whose recipe is
  iteration-based SGD on other data (PNN, PanNet, DiCNN): MSE, Adam lr 1e-3,
  StepLR(200, 0.5), batch 32, 500 epochs.

Schedules when epochs are cut (:func:`scaled_step_size`): with ``schedule="scaled"``
(the default) the step size is scaled by ``epochs / preset.epochs`` so that a short run
makes the same number of learning-rate decays as the paper's run (LightNet for 80 epochs:
step 12 instead of 120). ``schedule="paper"`` keeps the paper's step size in epochs.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from ..errors import ModelError

LOSSES = ("l1", "mse")
OPTIMISERS = ("adam", "sgd")
SCHEDULES = ("scaled", "paper")


@dataclass(frozen=True)
class Preset:
    """One training recipe.

    Attributes:
        name: preset name.
        loss: ``"l1"`` or ``"mse"`` (mean over all pixels and bands).
        ergas_weight: weight of the ERGAS term added to the loss (Ada3D: 3e-5); 0 for none.
        optimiser: ``"adam"`` or ``"sgd"``.
        lr: initial learning rate.
        weight_decay: L2 weight decay of the optimiser.
        betas: Adam betas.
        momentum: SGD momentum.
        step_size: StepLR step in epochs (the paper's value, before scaling).
        gamma: StepLR factor.
        batch_size: global batch size (split over processes under torchrun).
        epochs: the paper's number of epochs.
        paper_seed: the seed the authors' script used (recorded only; ours is ``seed=``).
        source: where the recipe comes from.
    """

    name: str
    loss: str
    lr: float
    step_size: int
    gamma: float
    batch_size: int
    epochs: int
    ergas_weight: float = 0.0
    optimiser: str = "adam"
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    momentum: float = 0.9
    paper_seed: int | None = None
    source: str = ""

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ModelError(f"preset {self.name}: loss must be one of {LOSSES}; got {self.loss!r}")
        if self.optimiser not in OPTIMISERS:
            raise ModelError(f"preset {self.name}: optimiser must be one of {OPTIMISERS}; got {self.optimiser!r}")
        for label, value in (("lr", self.lr), ("gamma", self.gamma)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ModelError(f"preset {self.name}: {label} must be a positive number; got {value!r}")
        for label, value in (("step_size", self.step_size), ("batch_size", self.batch_size), ("epochs", self.epochs)):
            if not (isinstance(value, int) and value >= 1):
                raise ModelError(f"preset {self.name}: {label} must be a positive integer; got {value!r}")
        if self.ergas_weight < 0 or self.weight_decay < 0:
            raise ModelError(f"preset {self.name}: ergas_weight and weight_decay must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["betas"] = list(self.betas)
        return d


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("lightnet", loss="l1", lr=0.0025, step_size=120, gamma=0.75, batch_size=8, epochs=800,
               paper_seed=3047, source="SpanConv/LightNet, IJCAI 2022 (authors' main_train_wv3.py)"),
        Preset("lgpconv-net", loss="mse", lr=0.0025, weight_decay=1e-8, step_size=100, gamma=0.5, batch_size=32,
               epochs=650, paper_seed=1, source="LGPConv-Net, IJCAI 2023 (authors' train.py)"),
        Preset("ada3d", loss="l1", ergas_weight=3e-5, lr=5e-4, step_size=250, gamma=0.5, batch_size=2, epochs=1500,
               paper_seed=1, source="Ada3D, IEEE TIP 2026 (authors' train.py, hyperspectral recipe)"),
        Preset("fusionnet", loss="mse", lr=3e-4, step_size=400, gamma=1.0, batch_size=32, epochs=400,
               source="FusionNet, Deng et al. TGRS 2021 (paper text; constant lr)"),
        Preset("default", loss="mse", lr=1e-3, step_size=200, gamma=0.5, batch_size=32, epochs=500,
               source="pansharpen default for comparison networks (documented in docs/training.md)"),
    )
}

#: the paper recipe of each registered architecture; variants named ``<family>-<variant>``
#: (``lgpconv-net-bsconv``) take their family's; architectures not listed use "default"
PAPER_PRESET = {
    "lightnet": "lightnet",
    "lgpconv-net": "lgpconv-net",
    "ada3d-pan": "ada3d",
    "ada3d-hs": "ada3d",
    "ada3d-hisr": "ada3d",
    "fusionnet": "fusionnet",
    "pnn": "default",
    "pannet": "default",
    "dicnn": "default",
}


def paper_preset_name(arch: str) -> str:
    """Name of the preset holding ``arch``'s paper recipe (longest listed prefix, else ``"default"``)."""
    family = max((k for k in PAPER_PRESET if arch == k or arch.startswith(k + "-")), key=len, default=None)
    return PAPER_PRESET[family] if family else "default"


def preset_names() -> list[str]:
    """Names accepted by :func:`resolve_preset` (besides ``"paper"``)."""
    return sorted(PRESETS)


def resolve_preset(arch: str, preset: "str | Preset" = "paper", **overrides: Any) -> Preset:
    """The recipe for architecture ``arch``: ``"paper"`` (its paper's), a preset name, or a Preset.

    ``overrides`` replace fields (``lr=1e-3``, ``batch_size=16``, ``epochs=50``); ``None``
    values are ignored so that unset command-line options fall through.
    """
    if isinstance(preset, Preset):
        base = preset
    elif preset == "paper":
        base = PRESETS[paper_preset_name(arch)]
    elif preset in PRESETS:
        base = PRESETS[preset]
    else:
        raise ModelError(f"unknown preset {preset!r}; use 'paper' or one of {', '.join(preset_names())}")
    changes = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(changes) - set(Preset.__dataclass_fields__)
    if unknown:
        raise ModelError(f"unknown preset field(s) {sorted(unknown)}; fields: {sorted(Preset.__dataclass_fields__)}")
    return replace(base, **changes) if changes else base


def scaled_step_size(preset: Preset, epochs: int, schedule: str = "scaled") -> int:
    """StepLR step (epochs) for a run of ``epochs`` epochs.

    ``"scaled"``: ``max(1, round(step_size * epochs / preset.epochs))``, the paper's number of
    decays compressed into the shorter run; ``"paper"``: the paper's ``step_size`` unchanged.
    """
    if schedule not in SCHEDULES:
        raise ModelError(f"schedule must be one of {SCHEDULES}; got {schedule!r}")
    if schedule == "paper":
        return preset.step_size
    return max(1, round(preset.step_size * epochs / preset.epochs))
