"""The typer application object shared by the command modules."""
from __future__ import annotations

import typer

from .._version import __version__

app = typer.Typer(
    name="pansharpen",
    help="Pansharpening and remote-sensing image fusion: fuse, evaluate, train, benchmark.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pansharpen {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Pansharpening and remote-sensing image fusion."""
