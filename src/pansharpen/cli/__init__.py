"""Command-line interface (typer). One module per command group; ``main`` is the console entry point.

Every :class:`~pansharpen.errors.PanSharpenError` becomes one line on stderr and exit code 2.
"""
from __future__ import annotations

import importlib
import sys

from ..errors import PanSharpenError
from ..runtime import retain_freed_memory
from .app import app

#: command modules; each registers its commands on ``app`` when imported
COMMAND_MODULES = ("models_cmd", "evaluate_cmd", "train_cmd", "simulate_cmd", "fuse_cmd", "methods_cmd", "benchmark_cmd", "hyperspectral_cmd", "crossscene_cmd", "adapt_cmd")


def _load_commands() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script passes it to ``sys.exit``)."""
    _load_commands()
    retain_freed_memory()  # the CLI opts in: CPU inference and training reuse freed activations
    try:
        result = app(args=argv, standalone_mode=False)
    except PanSharpenError as exc:
        print(f"pansharpen: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pansharpen: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:  # typer.Exit inside standalone_mode=False
        return exc.code if isinstance(exc.code, int) else 0
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.exceptions.Exit):
            return exc.exit_code
        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        if isinstance(exc, click.exceptions.Abort):
            print("pansharpen: aborted", file=sys.stderr)
            return 1
        raise
    return result if isinstance(result, int) else 0

