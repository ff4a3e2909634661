"""``pansharpen cross-scene``: networks against the classical methods on held-out scenes."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import ValueRangeError
from ..io.atomic import atomic_path
from .app import app


@app.command("cross-scene")
def cross_scene_command(
    valid: Path = typer.Argument(..., help="SET_valid.h5 of `pansharpen simulate corpus:FAMILY` (held-out scenes)."),
    weights: Optional[List[str]] = typer.Option(
        None, "--weights", "-w", help="Weights file or bundled name to score (repeatable)."),
    import_: Optional[List[str]] = typer.Option(
        None, "--import", help="IMPORTER:CHECKPOINT of the authors' weights, e.g. lightnet:spanconv_wv3_weight-760.pth "
        "(repeatable)."),
    methods: Optional[str] = typer.Option(None, "--methods", help="Classical methods, comma-separated (default: all)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the full result as JSON."),
) -> None:
    """Score networks, every classical method and EXP per held-out scene (Q2n, SAM, ERGAS) and print the table.

    Scenes count once each in the mean; 'best classical (per scene)' is an oracle, the best single
    classical method is what a fixed default gives (docs/generalization.md)."""
    from ..benchmark.crossscene import cross_scene  # network side: imported by the command, not by `--help`
    from ..models.checkpoints import import_checkpoint  # network side


    networks: dict = {w: w for w in weights or []}
    for item in import_ or []:
        name, sep, path = item.partition(":")
        if not sep or not path:
            raise ValueRangeError(f"--import takes IMPORTER:CHECKPOINT (e.g. lightnet:weight-760.pth); got {item!r}")
        networks[f"{name} ({Path(path).name})"] = import_checkpoint(name, path)
    classical = [m.strip() for m in methods.split(",") if m.strip()] if methods else None
    res = cross_scene(valid, networks, classical=classical)
    typer.echo(res.to_markdown().rstrip())
    if json_out is not None:
        with atomic_path(json_out, overwrite=True) as tmp:
            Path(tmp).write_text(json.dumps(res.to_dict(), indent=1) + "\n")
