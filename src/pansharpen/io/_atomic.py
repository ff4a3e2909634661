"""Atomic file creation: write to a temporary file in the destination folder, then rename.

An interrupted run never leaves a file that looks finished: the final name appears only
when :func:`atomic_path` exits without an exception (``os.replace`` is atomic within one
file system, which is why the temporary file lives beside the destination).
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from ..errors import DataFormatError, OutputExistsError


def check_output(path: "str | os.PathLike", overwrite: bool) -> Path:
    """Return ``path`` as a :class:`Path` after checking that it may be written."""
    out = Path(path)
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists; pass overwrite=True (--overwrite) to replace it")
    if not out.parent.exists():
        raise DataFormatError(f"the folder of {out} does not exist; create {out.parent} first")
    return out


@contextlib.contextmanager
def atomic_path(path: "str | os.PathLike", overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success, delete it on error.

    Example::

        with atomic_path("set.h5") as tmp:
            write_everything(tmp)
    """
    out = check_output(path, overwrite)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the final file the usual permissions
    try:
        yield tmp
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if out.exists() and not overwrite:  # appeared while we were writing
        tmp.unlink()
        raise OutputExistsError(f"{out} appeared while writing; pass overwrite=True to replace it")
    os.replace(tmp, out)
