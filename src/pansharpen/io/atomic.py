"""The one atomic writer: every output of every command is created through :func:`atomic_path`.

A file is written under a temporary name in the destination folder
(``.NAME.PID-RANDOM.partial``), flushed to disk (``fsync``), and renamed to its final name
(``os.replace``, atomic within one file system) only when the writing code returned without an
exception; the folder is then fsynced so that the rename itself survives a crash. So an
interrupted or failed run never leaves a file that looks finished, and a reader sees either the
old complete file or the new complete one.

The temporary file is created with mode ``0o666`` filtered by the process umask, as ``open()``
would create a normal file (0644 under umask 022), not with ``mkstemp``'s 0600. Partial files
left by a killed run of the same output (their process is gone) are removed on the next run.
A failing write (full disk, quota, I/O error) in the writing code, the fsync or the rename becomes a
:class:`~pansharpen.errors.WriteError` naming the output (one line in the CLI), after the
temporary file is removed.
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
from pathlib import Path
from typing import Callable, Iterator

from ..errors import DataFormatError, OutputExistsError, PanSharpenError, WriteError

__all__ = ["atomic_path", "atomic_write_bytes", "check_output", "remove_stale_partials", "write_error"]

_PARTIAL = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[0-9a-f]{8}\.partial$")


def check_output(path: "str | os.PathLike", overwrite: bool) -> Path:
    """Return ``path`` as a :class:`Path` after checking that it may be written."""
    out = Path(path)
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists; pass overwrite=True (--overwrite) to replace it")
    if not out.parent.exists():
        raise DataFormatError(f"the folder of {out} does not exist; create {out.parent} first")
    return out


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_partials(path: "str | os.PathLike") -> list[Path]:
    """Delete temporary files of ``path`` left by processes that no longer run; returns them.

    Only files named by :func:`atomic_path` for this very output are considered, and only when
    the process id in their name is gone, so a concurrent writer of the same output is left alone.
    """
    out = Path(path)
    removed = []
    with contextlib.suppress(OSError):
        for entry in out.parent.iterdir():
            m = _PARTIAL.match(entry.name)
            if m and m["name"] == out.name and not _alive(int(m["pid"])):
                with contextlib.suppress(OSError):
                    entry.unlink()
                    removed.append(entry)
    return removed


def _fsync_path(path: Path) -> None:
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if path.is_dir() else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:  # a directory fsync is refused on some file systems; a file's is not
        if not path.is_dir():
            raise
        del exc
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: "str | os.PathLike", overwrite: bool = True, *, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it to ``path``,
    on any exception delete it and re-raise.

    The writing code must close its files inside the ``with`` block, so that a failure at close
    (a full disk often surfaces there) raises before anything is published. Example::

        with atomic_path("set.h5") as tmp:
            write_everything(tmp)
    """
    out = check_output(path, overwrite)
    remove_stale_partials(out)
    tmp = out.parent / f".{out.name}.{os.getpid()}-{secrets.token_hex(4)}.partial"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for open()
    os.close(fd)
    mode = stat.S_IMODE(os.stat(tmp).st_mode)
    try:
        try:
            yield tmp
        except OSError as exc:
            if isinstance(exc, PanSharpenError) or exc.errno not in _WRITE_ERRNOS:
                raise
            raise write_error(out, exc) from None
        try:
            if fsync:
                _fsync_path(tmp)
            if stat.S_IMODE(os.stat(tmp).st_mode) != mode:  # a writer that recreated the file (safetensors: 0600)
                os.chmod(tmp, mode)
            if out.exists() and not overwrite:  # appeared while we were writing
                raise OutputExistsError(f"{out} appeared while writing; pass overwrite=True to replace it")
            os.replace(tmp, out)
        except OSError as exc:
            if isinstance(exc, PanSharpenError):
                raise
            raise write_error(out, exc) from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if fsync:
        _fsync_path(out.parent)


#: errors of a failing write (full disk, quota, I/O, read-only or too large file): turned into WriteError
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EFBIG}


def write_error(out: "str | os.PathLike", exc: "BaseException | str") -> WriteError:
    """The :class:`~pansharpen.errors.WriteError` for an output that could not be written completely.

    A full disk is named as such: ENOSPC/EDQUOT, libtiff's "No space left", or under 1 MiB free.
    """
    out = Path(out)
    code = getattr(exc, "errno", None)
    try:
        stat = os.statvfs(out.parent)
        nearly_full = stat.f_bavail * stat.f_frsize < 1 << 20
    except (OSError, AttributeError):
        nearly_full = False
    full = code in (errno.ENOSPC, errno.EDQUOT) or "No space left" in str(exc) or nearly_full
    reason = "the disk is full" if full else f"writing failed ({getattr(exc, 'strerror', None) or exc})"
    return WriteError(errno.ENOSPC if full else (code or errno.EIO),
                      f"{reason} while writing {out}; nothing was written there -- free space (or choose another "
                      "folder) and run again")


def atomic_write_bytes(path: "str | os.PathLike", data: "bytes | str", *, overwrite: bool = True) -> Path:
    """Write ``data`` (text is UTF-8 encoded) to ``path`` through :func:`atomic_path`."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path, overwrite=overwrite) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(payload)
    return Path(path)


def atomic_write_with(path: "str | os.PathLike", writer: Callable[[Path], None], *, overwrite: bool = True) -> Path:
    """Call ``writer(tmp)`` to create the file, then publish it at ``path`` (see :func:`atomic_path`)."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        writer(tmp)
    return Path(path)


__all__.append("atomic_write_with")
