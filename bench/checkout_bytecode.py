"""The bytecode of the checkouts a benchmark times as whole commands (no numpy: ``bench/timeline.py``
imports this before its timeline starts)."""
from __future__ import annotations

from pathlib import Path


def compile_bytecode(*sources) -> list[str]:
    """Write the bytecode (``__pycache__``) of the ``pansharpen`` package that this interpreter imports and of
    each of ``sources`` (other checkouts' ``src``), as ``pip install`` does for an installed package.

    A whole-command timing of a source checkout otherwise includes compiling its modules from source
    at every run wherever bytecode is never written (``PYTHONDONTWRITEBYTECODE=1``, as on the
    development VM): 57 modules, about 0.09 s of a ``fuse`` command's start-up that users of an
    installed package never pay (measured in session 15: 0.48-0.50 s to the first option check
    from the editable checkout, 0.39 s from the README's ``pip install``). Returns the folders compiled.
    """
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("pansharpen")
    folders = [str(Path(spec.origin).parent)] if spec and spec.origin else []
    folders += [str(Path(s) / "pansharpen") if (Path(s) / "pansharpen").is_dir() else str(s) for s in sources if s]
    for folder in folders:
        if not compileall.compile_dir(folder, quiet=1):
            raise SystemExit(f"could not compile the bytecode of {folder}")
    return folders
