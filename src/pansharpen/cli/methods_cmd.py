"""``pansharpen methods`` and ``pansharpen sensors``: what ``pansharpen fuse --method`` / ``--sensor`` accept."""
from __future__ import annotations

import typer

from ..classical import get_method, list_methods
from ..protocol.sensors import catalogue
from .app import app


@app.command("methods")
def methods_command(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also print each method's reference paper."),
) -> None:
    """List the classical pansharpening methods (names for `pansharpen fuse --method NAME`)."""
    for name in list_methods():
        method = get_method(name)
        typer.echo(f"{name:<14} {method.describe()}")
        if verbose:
            typer.echo(f"{'':<14}   {method.reference}")


@app.command("sensors")
def sensors_command() -> None:
    """List the sensor catalogue (names for `--sensor NAME`): bands, bit depth, ratio, MTF gains and their source."""
    for s in catalogue():
        gains = ", ".join(f"{g:g}" for g in s.ms_gnyq)
        mark = " (fallback: no published gains)" if s.fallback else ""
        typer.echo(f"{s.name:<12} {s.nbands} bands ({', '.join(s.bands)}), {s.bits} bits, ratio {s.ratio}; "
                   f"MTF MS {gains} / PAN {s.pan_gnyq:g}{mark}")
        if s.aliases:
            typer.echo(f"{'':<12} also: {', '.join(s.aliases)}")
