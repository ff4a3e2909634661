"""``pansharpen train``: train a network on a PanCollection set, or adapt one to a scene."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional, Tuple

import typer
import yaml

from ..errors import ValueRangeError
from ..protocol.scaling import network_normaliser
from .app import app


def parse_model_options(items: List[str]) -> dict:
    """``["init=balanced", "blocks=3"]`` -> ``{"init": "balanced", "blocks": 3}`` (values read as YAML scalars)."""

    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueRangeError(f"--option takes KEY=VALUE (e.g. init=balanced); got {item!r}")
        options[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return options


@app.command("train")
def train_command(
    model: str = typer.Argument(..., help="Registered network (see `pansharpen models`), e.g. lightnet."),
    data: Optional[Path] = typer.Option(None, "--data", help="Training set (PanCollection .h5/.mat: gt, ms, lms, pan)."),
    valid: Optional[Path] = typer.Option(None, "--valid", help="Validation set, scored with Q2n/SAM/ERGAS."),
    scene: Optional[Tuple[Path, Path]] = typer.Option(
        None, "--scene", help="Scene-adaptive fine-tuning on a product: --scene PAN.tif MS.tif (needs --weights).",
        show_default=False,
    ),
    out: Path = typer.Option(..., "--out", help="Weights file to write (.safetensors); W.ckpt holds the training state."),
    preset: str = typer.Option("paper", "--preset", help="Recipe: 'paper' (the model's paper) or a preset name."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Epochs to train (default: the preset's)."),
    minutes: Optional[float] = typer.Option(None, "--minutes", help="Wall-clock budget; stops cleanly at a step boundary."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Global batch size (overrides the preset)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Learning rate (overrides the preset)."),
    loss: Optional[str] = typer.Option(None, "--loss", help="l1 or mse (overrides the preset)."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Start from these weights (fine-tuning)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run whose checkpoint is beside --out."),
    force: bool = typer.Option(
        False, "--force", help="With --resume: continue even if the data, validation set or selection differ from the "
        "recorded run (the recipe never changes on resume)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the initial weights and the data order."),
    validate_every: int = typer.Option(10, "--validate-every", help="Validate every k epochs (0: only at the end)."),
    schedule: str = typer.Option("scaled", "--schedule", help="'scaled': StepLR step scaled to --epochs; 'paper': kept."),
    select: str = typer.Option("best", "--select", help="Weights to write: 'best' validated or 'last'."),
    sensor: Optional[str] = typer.Option(None, "--sensor", help="Sensor of the --scene product (default: from its .IMD)."),
    normaliser: Optional[float] = typer.Option(
        None, "--normaliser", help="Divide DN by this (default: the set's sensor 2**bits-1, else the card's, else 2047; "
        "1 for pre-normalised hyperspectral sets)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out and its checkpoint."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads (default: torch's choice)."),
    workers: int = typer.Option(0, "--workers", help="DataLoader worker processes."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or log lines."),
    augment: Optional[str] = typer.Option(
        None, "--augment", help="On-the-fly augmentation of --data (held in memory): dihedral and/or gain=X, "
        "e.g. dihedral,gain=0.3 (random flips/rotations; common radiometric gain in [1/(1+X), 1+X])."),
    option: Optional[List[str]] = typer.Option(
        None, "--option", "-O", help="Network constructor option KEY=VALUE (repeatable), e.g. -O init=balanced -O blocks=3."),
) -> None:
    """Train MODEL on --data (or adapt --weights to a --scene) and write --out.

    Multi-process data parallel: torchrun --nproc-per-node 2 -m pansharpen train ...
    """
    import torch  # network side: imported by the command, not by `pansharpen --help`

    from ..datasets.training_sets import file_attrs  # network side (torch)
    from ..training.adapt import adapt_to_scene  # network side
    from ..training.augment import AugmentedSet, parse_augment  # network side
    from ..training.config import TrainConfig  # network side
    from ..training.train import train  # network side

    if threads:
        torch.set_num_threads(threads)
    command = " ".join(["pansharpen", *sys.argv[1:]]) if sys.argv and sys.argv[0] else None
    if scene and all(scene):
        if data is not None:
            raise ValueRangeError("--scene takes the PAN and the MS GeoTIFF (--scene PAN.tif MS.tif) and excludes --data")
        if weights is None:
            raise ValueRangeError("--scene fine-tunes trained weights: pass --weights START.safetensors")

        res = adapt_to_scene(model, scene[0], scene[1], weights, out, minutes=minutes if minutes or epochs else 3.0,
                             epochs=epochs, sensor=sensor, preset=preset, lr=lr, batch_size=batch_size, seed=seed,
                             overwrite=overwrite, quiet=quiet, device=device, command=command)
        typer.echo(f"held-out block (rows {res.sets.rows[0]}-{res.sets.rows[1]} at reduced resolution), "
                   f"{res.patches} training patches:")
        typer.echo(res.table().rstrip())
        typer.echo(f"wrote {res.out}")
        return
    if data is None:
        raise ValueRangeError("give the training set with --data SET.h5 (or --scene PAN MS for scene adaptation)")

    if augment:
        spec = parse_augment(augment)
        if spec["dihedral"] or spec["gain"]:
            attrs = file_attrs(data) if normaliser is None and Path(data).is_file() else None
            normaliser = network_normaliser(given=normaliser, attrs=attrs)  # the rule train() applies
            data = AugmentedSet(data, normaliser, spec["dihedral"], spec["gain"], seed=seed)
    config = TrainConfig(
        model, data, valid, preset=preset, epochs=epochs, minutes=minutes, batch_size=batch_size, lr=lr, loss=loss,
        out=out, resume=resume, force=force, seed=seed, validate_every=validate_every, device=device, quiet=quiet,
        weights=weights, schedule=schedule, select=select, overwrite=overwrite, num_workers=workers,
        normaliser=normaliser, model_options=parse_model_options(option or []), command=command,
    )
    res = train(config)
    if res.out is None:  # a torchrun worker other than rank 0
        return
    line = (f"wrote {res.out}: {res.epochs} epochs, {res.steps} steps, stopped by {res.stopped_by}, "
            f"{res.seconds:.1f} s")
    if res.metrics:
        line += f"; {res.selected} weights: " + ", ".join(f"{k} {res.metrics[k]:.4f}" for k in ("Q2n", "SAM", "ERGAS"))
    typer.echo(line)
