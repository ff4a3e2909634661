"""CLI usage errors: one line on stderr, exit 2, no traceback, whichever click typer uses (typer >= 0.29
bundles its own as ``typer._click``); warnings are one line too."""
from __future__ import annotations

import pytest

from .helpers import subprocess_cli


@pytest.mark.parametrize("args, words", [
    (("fuse",), ("PAN MS OUT",)),
    (("fuse", "a.tif"), ("PAN MS OUT",)),
    (("fuse", "a", "b", "c", "--tile", "abc"), ("--tile",)),
    (("fuse", "a", "b", "c", "--workers", "two"), ("--workers",)),
    (("import-weights", "--list"), ("--list",)),
    (("evaluate", "--bogus"), ("--bogus",)),
    (("evaluate",), ("--fused",)),
    (("frobnicate",), ("frobnicate",)),
    (("train",), ("Missing argument",)),
    (("train", "lightnet", "--epochs", "many"), ("--epochs",)),
    (("--nope",), ("--nope",)),
])
def test_usage_errors_are_one_line_exit_2(cli, args, words):
    run = cli(*args)
    run.assert_error(*words)
    assert "Traceback" not in run.err
    if words != ("PAN MS OUT",):  # click's usage errors point to the help; `fuse` alone is the library's error
        assert "--help" in run.err


def test_bare_command_prints_the_help(cli):
    run = cli()
    assert run.code == 0 and "fuse" in run.out + run.err


def test_help_and_version_exit_0(cli):
    assert cli("fuse", "--help").code == 0
    assert cli("--version").code == 0


def test_usage_error_in_a_real_process():
    done = subprocess_cli("fuse", "a", "b", "c", "--tile", "abc")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pansharpen: error:") and "--tile" in lines[0]


def test_both_click_flavours_are_recognised():
    """The handler knows click's and typer's bundled click exceptions, whichever is installed."""
    import importlib

    from pansharpen.cli import _click_exceptions, _usage_error

    modules = _click_exceptions()
    assert modules, "neither click nor typer._click found"
    for mod in modules:
        assert _usage_error(mod.UsageError("bad")) == 2
    assert _usage_error(ValueError("not a usage error")) is None
    assert importlib.util.find_spec("click") or importlib.util.find_spec("typer._click")
