"""``pansharpen methods``: list the classical methods usable with ``pansharpen fuse --method``."""
from __future__ import annotations

import typer

from .app import app


@app.command("methods")
def methods_command(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also print each method's reference paper."),
) -> None:
    """List the classical pansharpening methods (names for `pansharpen fuse --method NAME`)."""
    from ..classical import get_method, list_methods

    for name in list_methods():
        method = get_method(name)
        typer.echo(f"{name:<14} {method.describe()}")
        if verbose:
            typer.echo(f"{'':<14}   {method.reference}")
