"""The console entry point: which command modules it imports for a command line."""
from __future__ import annotations

import importlib

from pansharpen.cli import COMMAND_MODULES, COMMANDS
from pansharpen.cli.app import app


def _registered() -> dict[str, str]:
    for name in COMMAND_MODULES:
        importlib.import_module(f"pansharpen.cli.{name}")
    return {(c.name or c.callback.__name__): c.callback.__module__.rsplit(".", 1)[-1] for c in app.registered_commands}


def test_the_command_table_names_every_registered_command_and_its_module():
    """A command added to a module but not to ``COMMANDS`` would be missing from ``pansharpen CMD``
    (only the table's module is imported); a wrong module would register nothing."""
    assert _registered() == COMMANDS


def test_only_the_named_commands_module_is_loaded(monkeypatch):
    from pansharpen import cli

    loaded = []
    monkeypatch.setattr(cli.importlib, "import_module", lambda name: loaded.append(name.rsplit(".", 1)[-1]))
    cases = {
        ("fuse", "pan.tif", "ms.tif", "out.tif", "--method", "gsa"): ["fuse_cmd"],
        ("methods",): ["methods_cmd"],
        ("import-weights", "x.pth"): ["models_cmd"],
        ("--version",): [],
        ("--help",): list(COMMAND_MODULES),
        ("--help", "fuse"): list(COMMAND_MODULES),
        ("fus",): list(COMMAND_MODULES),  # not a command: all, so typer can suggest the nearest
        (): list(COMMAND_MODULES),
    }
    for argv, expected in cases.items():
        loaded.clear()
        cli._load_commands(list(argv))
        assert loaded == expected, argv
