"""Command-line interface (typer). One module per command group; ``main`` is the console entry point.

Every :class:`~pansharpen.errors.PanSharpenError` becomes one line on stderr and exit code 2.
"""
from __future__ import annotations

import importlib
import sys
import warnings

from ..errors import PanSharpenError
from ..runtime import retain_freed_memory
from .app import app

#: command -> the module that registers it on ``app`` when imported (in the order of ``--help``)
COMMANDS = {
    "models": "models_cmd", "import-weights": "models_cmd", "evaluate": "evaluate_cmd", "train": "train_cmd",
    "simulate": "simulate_cmd", "fuse": "fuse_cmd", "demo": "fuse_cmd", "methods": "methods_cmd",
    "sensors": "methods_cmd", "benchmark": "benchmark_cmd", "simulate-hs": "hyperspectral_cmd",
    "cross-scene": "crossscene_cmd", "adapt": "adapt_cmd",
}
COMMAND_MODULES = tuple(dict.fromkeys(COMMANDS.values()))


def _load_commands(argv: list[str] | None = None) -> None:
    """Import the module of the command in ``argv`` only (``pansharpen fuse --method gsa`` then never
    imports torch, which the training and network modules do: 1.2-1.4 s of start-up), or every
    command module for ``--help`` and anything that is not a command (so typer lists all commands
    and suggests the nearest); none for ``--version``."""
    args = sys.argv[1:] if argv is None else list(argv)
    first = next((a for a in args if not a.startswith("-")), None)
    before = args[:args.index(first)] if first is not None else args
    if "--version" in before and "--help" not in before:
        names = ()  # the root's eager option: no command runs
    elif first in COMMANDS and "--help" not in before:
        names = (COMMANDS[first],)
    else:
        names = COMMAND_MODULES
    for name in names:
        importlib.import_module(f"{__name__}.{name}")


def _click_exceptions() -> list:
    """The ``exceptions`` modules of click and of the click that typer bundles (typer >= 0.29: ``typer._click``)."""
    modules = []
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            modules.append(importlib.import_module(name))
        except ImportError:
            continue
    return modules


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _usage_error(exc: BaseException) -> int | None:
    """Exit code for a click/typer exception (printed as one line), or None when ``exc`` is not one."""
    for mod in _click_exceptions():
        if isinstance(exc, getattr(mod, "Exit", ())):
            return exc.exit_code
        if isinstance(exc, getattr(mod, "NoArgsIsHelpError", ())):  # bare `pansharpen`: the help, not an error
            exc.show()
            return 0
        if isinstance(exc, getattr(mod, "Abort", ())):
            print("pansharpen: aborted", file=sys.stderr)
            return 1
        if isinstance(exc, mod.ClickException):
            ctx = getattr(exc, "ctx", None)
            hint = f"; see `{ctx.command_path} --help`" if ctx is not None else ""
            print(f"pansharpen: error: {_one_line(exc.format_message()).rstrip('.')}{hint}", file=sys.stderr)
            return 2
    return None


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line; library deprecation notices, which a user cannot act on, are dropped."""
    if issubclass(category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)):
        return
    print(f"pansharpen: warning: {_one_line(message)}", file=sys.stderr if file is None else file)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script passes it to ``sys.exit``).

    Errors of the library (:class:`~pansharpen.errors.PanSharpenError`) and usage errors (missing
    argument, bad value, unknown option or command; from click or typer's bundled click) are one
    line on stderr and exit code 2; warnings are one line each.
    """
    _load_commands(argv)
    retain_freed_memory()  # the CLI opts in: CPU inference and training reuse freed activations
    show = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        result = app(args=argv, standalone_mode=False, prog_name="pansharpen")
    except PanSharpenError as exc:
        print(f"pansharpen: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pansharpen: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:  # typer.Exit inside standalone_mode=False
        return exc.code if isinstance(exc.code, int) else 0
    except Exception as exc:  # click usage errors and the like
        code = _usage_error(exc)
        if code is None:
            raise
        return code
    finally:
        warnings.showwarning = show
    return result if isinstance(result, int) else 0
