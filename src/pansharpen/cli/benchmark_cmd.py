"""``pansharpen benchmark``: paper-style tables, a timing table and figures from one config."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Optional

import typer

from .app import app

_HELP = """Run a benchmark: methods x test sets -> tables (Markdown, CSV, LaTeX), timing table, figures.

CONFIG is a YAML or TOML file (examples and the reproduced studies: benchmarks/ in the repository; format: docs/benchmark.md).

The whole config is checked first (unknown methods, missing files, test sets without ground truth for reduced-resolution indices, weights for another band count); then networks with a training budget are trained (cached in OUT/weights), every method fuses every test image, and OUT receives results.md/.csv/.tex, per_image.csv, timing.md/.csv/.tex, protocol.json and figures/.
"""


@app.command("benchmark", help=_HELP)
def benchmark_command(
    config: Path = typer.Argument(..., help="Benchmark config (.yaml, .yml or .toml)."),
    out: Path = typer.Option(Path("benchmark-results"), "--out", "-o", help="Output folder."),
    data_dir: Optional[Path] = typer.Option(
        None, "--data-dir", help="Folder for the config's relative data paths (default: the config's data_dir)."
    ),
    retrain: bool = typer.Option(False, "--retrain", help="Train budgeted networks again even if cached weights match."),
    check: bool = typer.Option(False, "--check", help="Only validate the config (opens files, trains and fuses nothing)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines."),
    train_device: str = typer.Option(
        "cpu", "--train-device", help="Where budgeted networks train (cpu or cuda); evaluation and timing run on the CPU."
    ),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Train budgeted networks in N processes at once."),
    train_only: bool = typer.Option(
        False, "--train-only", help="Train (or reuse cached) weights into OUT/weights and stop; a later run evaluates them."
    ),
) -> None:
    from ..benchmark.config import load_config  # network side: imported by the command, not by `--help`
    from ..benchmark.runner import run_benchmark  # network side

    cfg = load_config(config, data_dir=data_dir)
    if check:
        typer.echo(f"{config}: OK ({len(cfg.methods)} methods, {len(cfg.test_sets)} test sets)")
        return
    command = "pansharpen " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["benchmark"] else None
    if command is None:
        command = f"pansharpen benchmark {shlex.quote(str(config))} --out {shlex.quote(str(out))}"
    if train_device not in ("cpu", "cuda") and not train_device.startswith("cuda:"):
        raise typer.BadParameter(f"--train-device must be cpu or cuda[:N]; got {train_device!r}")
    result = run_benchmark(cfg, out, retrain=retrain, quiet=quiet, command=command, train_device=train_device,
                           train_only=train_only, jobs=jobs)
    if result is None:
        typer.echo(f"trained weights are in {out / 'weights'}; run again without --train-only to evaluate")
        return
    typer.echo(result.markdown)
    typer.echo(f"wrote {len(result.files)} files to {out}")
