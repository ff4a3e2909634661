"""Keep freed memory in the process heap (glibc): CPU inference allocates the same large
activations again and again.

glibc serves allocations above its mmap threshold (128 KiB, rising dynamically to at most 32 MiB)
with fresh ``mmap`` pages and returns them on ``free``; the next allocation of the same size page-faults
and zero-fills every page again. A network's activations are 4-40 MB each, allocated and
freed once per layer per sub-tile, so on the 2-core EPYC this costs a third of a folded
LGPConv-Net forward (bench/bench_inference.py measures it). PyTorch's CPU tuning guide recommends
jemalloc/tcmalloc for the same reason; :func:`retain_freed_memory` gets most of the effect
with glibc itself by raising the mmap and trim thresholds (``mallopt``), so freed blocks are
reused. The resident memory then stays at its high-water mark until the process ends.

Opt-in: the ``pansharpen`` command calls :func:`retain_freed_memory` when it starts; the
library never calls it (not on import, not inside ``fuse`` or ``train``), because it changes the
allocator of the whole process. A library user who wants the same speed calls it once at start-up::

    import pansharpen.runtime
    pansharpen.runtime.retain_freed_memory()

Set ``PANSHARPEN_MALLOPT=0`` to leave the allocator alone even in the CLI. No-op outside glibc.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os

__all__ = ["retain_freed_memory", "allocator_tuned"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_done: bool | None = None


def retain_freed_memory() -> bool:
    """Raise glibc's mmap threshold to 1 GiB (32 MiB where refused) and its trim threshold to
    2 GiB, once per process. Returns True when the allocator was tuned."""
    global _done
    if _done is not None:
        return _done
    _done = False
    if os.environ.get("PANSHARPEN_MALLOPT", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    mmap_ok = mallopt(_M_MMAP_THRESHOLD, 1 << 30) == 1 or mallopt(_M_MMAP_THRESHOLD, 32 << 20) == 1
    trim_ok = mallopt(_M_TRIM_THRESHOLD, (1 << 31) - 1) == 1
    _done = bool(mmap_ok and trim_ok)
    return _done


def allocator_tuned() -> bool:
    """True when :func:`retain_freed_memory` has tuned this process's allocator (Dask workers
    started from it tune theirs the same way)."""
    return bool(_done)
