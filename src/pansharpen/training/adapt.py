"""Scene-adaptive fine-tuning: adapt a trained network to the user's own PAN + MS product.

Wald's protocol on the product itself (as in ``pansharpen simulate``): ``gt`` = the MS,
``ms`` = decimate(MTF_sensor(MS)), ``pan`` = imresize(PAN, 1/ratio), ``lms`` = interp23tap(ms).
The reduced-resolution scene is split by rows::

    rows [0, t)   training block -> patch x patch patches every `stride` pixels (in memory)
    rows [t, h)   held-out block -> one image, never seen in training

Each block is simulated on its own, so no training patch depends on a held-out pixel. The
starting weights are scored on the held-out block (Q2n, SAM, ERGAS), fine-tuned for a few
minutes with the architecture's paper recipe (learning rate scaled by ``lr_scale``), and the
best validated state is scored again. The adapted weights are kept only when they are at
least as good as the starting ones on all three indices; otherwise the starting weights are
written unchanged (``kept="start"``), so the result is never worse on the held-out block.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import models
from ..datasets.simulate import cut, patch_origins, simulate_block
from ..datasets.training_sets import InMemorySet, SetInfo, check_model_for_set
from ..errors import ModelError, OutputExistsError, ShapeError
from ..io.raster import read_pair
from ..protocol.policy import resolve_sensor
from ..protocol.scaling import network_normaliser, to_network
from .config import TrainConfig
from .presets import resolve_preset
from .train import TrainResult, train
from .validation import dominates, validate


@dataclass
class SceneSets:
    """In-memory training patches and the held-out block of one product (network scale)."""

    train: InMemorySet
    held_out: InMemorySet
    sensor: str
    rows: tuple[int, int]  # held-out rows at the reduced-resolution gt scale
    record: dict[str, Any]


@dataclass
class AdaptResult:
    """Outcome of :func:`adapt_to_scene`.

    ``before``/``after``: held-out Q2n, SAM, ERGAS (and L1) of the starting and of the best
    fine-tuned weights; ``kept``: ``"adapted"`` or ``"start"`` (what went to ``out``).
    """

    out: Path
    kept: str
    before: dict[str, float]
    after: dict[str, float]
    patches: int
    training: TrainResult
    sets: SceneSets

    def table(self) -> str:
        """A small markdown table of the held-out metrics before and after."""
        lines = ["| weights | Q2n | SAM | ERGAS |", "|---|---|---|---|"]
        for label, m in (("start", self.before), ("adapted", self.after)):
            lines.append(f"| {label} | {m['Q2n']:.4f} | {m['SAM']:.4f} | {m['ERGAS']:.4f} |")
        return "\n".join(lines) + f"\n\nkept: {self.kept}\n"


def scene_sets(pan_path: "str | os.PathLike", ms_path: "str | os.PathLike", normaliser: float,
               sensor: str | None = None, patch: int = 64, stride: int = 32, held_out: float = 0.25,
               card=None) -> SceneSets:
    """Build the training patches and the held-out block of a product (see the module docstring).

    Args:
        pan_path, ms_path: GeoTIFF pair (grids checked by :func:`pansharpen.io.raster.read_pair`).
        normaliser: DN divisor of the network (its card's).
        sensor: sensor name for the MTF (default: the sensor policy,
            :func:`pansharpen.protocol.policy.resolve_sensor`: product metadata, then ``card``'s sensor).
        patch, stride: training patch side and step (reduced-resolution gt pixels).
        held_out: fraction of the rows kept for the held-out block (bottom of the scene).
    """

    pan_path, ms_path = Path(pan_path), Path(ms_path)
    pan, ms, info = read_pair(pan_path, ms_path)
    ratio = info.ratio
    sens, _ = resolve_sensor(sensor, pan_path=pan_path, ms_path=ms_path, card=card, nbands=ms.shape[0])
    h, w = ms.shape[1] - ms.shape[1] % ratio, ms.shape[2] - ms.shape[2] % ratio
    ms = ms[:, :h, :w].astype(np.float64)
    pan = pan[:, : h * ratio, : w * ratio].astype(np.float64)
    if not 0.0 < held_out < 1.0:
        raise ShapeError(f"held_out must be a fraction in (0, 1); got {held_out}")
    hold = max(ratio * 8, -(-int(np.ceil(held_out * h)) // ratio) * ratio)
    top = h - hold
    if top < patch or w < patch or patch % ratio or stride % ratio:
        raise ShapeError(
            f"the product is {h} x {w} MS pixels: after a {hold}-row held-out block, {max(top, 0)} rows remain, "
            f"fewer than one {patch}-pixel patch (patch and stride must be multiples of {ratio}); "
            "use a larger product or a smaller --patch"
        )
    train_block = simulate_block(ms[:, :top], pan[:, : top * ratio], sens, ratio)
    test_block = simulate_block(ms[:, top:], pan[:, top * ratio:], sens, ratio, row=top)
    patches = [cut(train_block, r, c, patch, ratio) for r, c in patch_origins(top, w, patch, stride)]
    stack = {k: to_network(np.stack([p[k] for p in patches]), normaliser) for k in ("gt", "ms", "lms", "pan")}
    held = {k: to_network(getattr(test_block, k)[None], normaliser) for k in ("gt", "ms", "lms", "pan")}
    record = {"pan": pan_path.name, "ms": ms_path.name, "sensor": sens.name, "ratio": ratio,
              "reduced_size": [h, w], "train_rows": [0, top], "held_out_rows": [top, h],
              "patch": patch, "stride": stride, "patches": len(patches)}
    return SceneSets(InMemorySet(**stack), InMemorySet(**held), sens.name, (top, h), record)


def adapt_to_scene(
    model: str,
    pan_path: "str | os.PathLike",
    ms_path: "str | os.PathLike",
    weights: "str | os.PathLike",
    out: "str | os.PathLike",
    minutes: float | None = 3.0,
    epochs: int | None = None,
    *,
    sensor: str | None = None,
    patch: int = 64,
    stride: int = 32,
    held_out: float = 0.25,
    preset: str = "paper",
    lr: float | None = None,
    lr_scale: float = 0.2,
    batch_size: int | None = None,
    seed: int = 0,
    validate_every: int = 1,
    overwrite: bool = False,
    quiet: bool = False,
    device: str = "cpu",
    command: str | None = None,
) -> AdaptResult:
    """Fine-tune ``weights`` on the product ``pan_path`` + ``ms_path`` and write ``out``.

    ``minutes`` (default 3) and/or ``epochs`` bound the fine-tuning. ``lr`` defaults to the
    preset's learning rate times ``lr_scale`` (0.2: a gentler step for weights that are
    already trained). Returns the held-out metrics before and after and what was kept.
    """

    out = Path(out)
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists; pass --overwrite to replace it")
    start = models.load(weights)
    if model and start.card.arch != model:
        raise ModelError(f"{weights} holds {start.card.arch} weights, not {model}; name the matching model")
    norm = network_normaliser(card=start.card)
    sets = scene_sets(pan_path, ms_path, norm, sensor, patch, stride, held_out, card=start.card)
    check_model_for_set(start, SetInfo(f"scene {Path(ms_path).name}", len(sets.train), sets.train.shapes))
    ratio = getattr(start, "ratio", 4)
    before = validate(start, sets.held_out, norm, ratio, device=device)
    recipe = resolve_preset(start.card.arch, preset, batch_size=batch_size)
    recipe = replace(recipe, lr=lr if lr is not None else recipe.lr * lr_scale)
    batch = min(recipe.batch_size, len(sets.train))
    recipe = replace(recipe, batch_size=batch)
    result = train(TrainConfig(start.card.arch, sets.train, sets.held_out, preset=recipe, epochs=epochs,
                               minutes=minutes, out=None, seed=seed, validate_every=validate_every, device=device,
                               quiet=quiet, weights=weights, select="best", command=command))
    after = result.metrics
    adapted = bool(after) and dominates(after, before)
    final = result.model if adapted else start
    card = final.card
    record = dict(result.model.card.training)
    record["scene"] = sets.record
    record["held_out_before"] = before
    record["held_out_after"] = after
    record["kept"] = "adapted" if adapted else "start"
    training = record if adapted else {**record, "original_training": card.training}
    final.card = replace(card, training=training,
                         metrics={"held_out_rows": sets.record["held_out_rows"], **(after if adapted else before)})
    models.save(final, out)
    return AdaptResult(out, "adapted" if adapted else "start", before, after, len(sets.train), result, sets)
