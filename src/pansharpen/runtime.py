"""Keep freed memory in the process heap (glibc): CPU inference allocates the same large
activations again and again.

glibc serves allocations above its mmap threshold (128 KiB, rising dynamically to at most 32 MiB)
with fresh ``mmap`` pages and returns them on ``free``; the next allocation of the same size page-faults
and zero-fills every page again. A network's activations are 4-40 MB each, allocated and
freed once per layer per sub-tile, so on the 2-core EPYC this costs a third of a folded
LGPConv-Net forward (bench/bench_inference.py measures it). PyTorch's CPU tuning guide recommends
jemalloc/tcmalloc for the same reason; :func:`retain_freed_memory` gets most of the effect
with glibc itself by raising the mmap and trim thresholds (``mallopt``), so freed blocks are
reused. The resident memory then stays at its high-water mark until the process ends. It also
caps glibc's arenas at one (``M_ARENA_MAX``): otherwise every thread that allocates (tile threads,
oneDNN's workers) gets its own heap, each retained at its own high-water mark. Measured on the
full WV3 scene (docs/performance.md): two tile threads of MTF-GLP peaked at 1,171 MB with an
arena per thread and 820 MB with one, as fast (4.4-4.6 s); the LGPConv-Net fusion 0.99 -> 0.78 GB,
15.1-15.7 s either way.

Opt-in: the ``pansharpen`` command calls :func:`retain_freed_memory` when it starts; the
library never calls it (not on import, not inside ``fuse`` or ``train``), because it changes the
allocator of the whole process. A library user who wants the same speed calls it once at start-up::

    import pansharpen.runtime
    pansharpen.runtime.retain_freed_memory()

It also stops numpy's transparent-huge-page requests (:func:`numpy_small_pages`: their first
touch was 2.5-5x slower on the development VM). Set ``PANSHARPEN_MALLOPT=0`` to leave the
allocator alone even in the CLI. No-op outside glibc.

Threads: :func:`ordered_map` computes independent items in a thread pool and yields them in
order (scene tiles, the bands of an upsampling); :func:`compute_threads` sets, for the calling
thread's context only, how many threads such band loops may use (default 1; the scene fusion
raises it while it estimates a classical method's statistics, and pool threads start at 1, so
pools never nest); :func:`thread_budget` is how many threads the process computes with.
:func:`preload` imports modules a later step loads lazily in a background thread.
"""
from __future__ import annotations

import collections
import contextlib
import contextvars
import ctypes
import ctypes.util
import importlib
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable, Iterator, TypeVar

import numpy as np

__all__ = ["retain_freed_memory", "numpy_small_pages", "allocator_tuned", "ordered_map", "compute_threads",
           "current_threads", "loaded_torch", "preload", "thread_budget"]

T = TypeVar("T")
R = TypeVar("R")

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
_done: bool | None = None


def retain_freed_memory() -> bool:
    """Raise glibc's mmap threshold to 1 GiB (32 MiB where refused) and its trim threshold to
    2 GiB, and use one arena for all threads, once per process. Returns True when the allocator
    was tuned (the arena cap is best effort: threads that already allocated keep their arena)."""
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
    mallopt(_M_ARENA_MAX, 1)
    numpy_small_pages()
    _done = bool(mmap_ok and trim_ok)
    return _done


def numpy_small_pages() -> bool:
    """Stop numpy from asking for transparent huge pages (``madvise(MADV_HUGEPAGE)`` on every array
    of 4 MB or more, its default on Linux); True when it was turned off here.

    On the 2-core development VM (and the CI machines like it) huge pages are granted but their
    first touch is slow: filling 500 MB of new arrays took 0.9-1.9 s with them and 0.2-0.35 s
    without, and the full-scene ``pansharpen fuse --method mtf-glp`` went from 9.7-10.0 s to
    6.8-7.1 s, GSA from 6.1-6.6 s to 5.0-5.4 s (docs/performance.md, "Huge pages"). Where huge
    pages are cheap (bare metal, not measured here) they may save a little on large arrays: set
    ``PANSHARPEN_HUGEPAGES=1``, or numpy's own ``NUMPY_MADVISE_HUGEPAGE``, to keep numpy's choice.
    Part of :func:`retain_freed_memory` (the CLI's opt-in); the library never calls it.
    """
    if os.environ.get("PANSHARPEN_HUGEPAGES", "0") == "1" or "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return False
    core = getattr(np, "_core", None) or getattr(np, "core", None)  # numpy 2.x / 1.x
    setter = getattr(getattr(core, "multiarray", None), "_set_madvise_hugepage", None)  # private, so guarded
    if setter is None:
        return False
    setter(False)
    return True


def allocator_tuned() -> bool:
    """True when :func:`retain_freed_memory` has tuned this process's allocator (Dask workers
    started from it tune theirs the same way)."""
    return bool(_done)


def ordered_map(items: Iterable[T], fn: Callable[[T], R], threads: int, name: str = "pansharpen-pool") -> Iterator[R]:
    """``fn(item)`` for each item computed by a pool of ``threads`` threads, yielded in input order.

    The items are drawn from ``items`` in the consumer's thread (a reader that is not thread-safe,
    such as a GDAL dataset, stays in one thread), at most ``threads + 1`` at a time, so memory
    stays bounded. An exception raised by ``fn`` is re-raised at its item; closing the generator
    (or an exception in the consumer) cancels the items not started and waits for the running ones.
    numpy and scipy release the GIL in their loops, so numeric items run in parallel.
    """
    pool = ThreadPoolExecutor(max_workers=max(1, int(threads)), thread_name_prefix=name)
    pending: collections.deque = collections.deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) > threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


#: The most threads :func:`map_in_order` uses: an item of a streamed statistics pass holds a group of
#: upsampled strips and its derived images (up to 190 MB for PRACS on a full WV3 scene), a
#: whole-scene FFT item a spectrum (6 MB for one MTF gain's product spectrum; its kernel spectra are
#: formed in blocks), so peaks stay under issue 18's 1 GB on machines with more cores too.
STATISTICS_THREADS_MAX = 2


def statistics_threads() -> int:
    """Threads of a streamed statistics pass here: :func:`current_threads`, at most
    :data:`STATISTICS_THREADS_MAX`."""
    return max(1, min(current_threads(), STATISTICS_THREADS_MAX))


def map_in_order(items, fn: Callable[[Any], Any]):
    """``fn(item)`` for each item, yielded in order, computed by
    :func:`current_threads` threads (at most :data:`STATISTICS_THREADS_MAX`)
    at once; in this thread when that is one."""
    items = list(items)
    threads = min(statistics_threads(), len(items))
    return ordered_map(items, fn, threads) if threads > 1 else map(fn, items)


def preload(modules: Iterable[str]) -> threading.Thread | None:
    """Import ``modules`` (dotted names) in a background thread and return it (None when all are
    loaded already).

    For modules that a later step imports lazily (scipy's, 0.1-0.15 s each at start-up): a scene
    fusion starts them while it reads and checks its inputs, which leave the second core idle.
    Python's per-module import lock makes the later import wait for this one when it is still
    running, never execute the module twice. An import that fails here is ignored: the later
    import raises it where it belongs. Not a daemon thread, so the interpreter never stops in the
    middle of an import.
    """
    missing = [name for name in modules if name not in sys.modules]
    if not missing:
        return None

    def load() -> None:
        for name in missing:
            with contextlib.suppress(Exception):
                importlib.import_module(name)

    thread = threading.Thread(target=load, name="pansharpen-preload")
    thread.start()
    return thread


def loaded_torch():
    """The torch module if this process has imported it, else None, without importing it: the one
    test of the classical path, which never loads torch (a tensor, a torch thread setting or a
    network fuser exists only once something imported it; :mod:`pansharpen._arrays`)."""
    return sys.modules.get("torch")


def thread_budget() -> int:
    """Threads this process computes with: torch's setting when torch is loaded
    (``torch.set_num_threads``: the CLI's ``--threads``, a library caller's choice), else
    ``$OMP_NUM_THREADS`` (what torch would start with), else the CPUs this process may run on.
    Asked without importing torch, so the classical path does not load it (:mod:`pansharpen._arrays`)."""
    torch = loaded_torch()
    if torch is not None and hasattr(torch, "get_num_threads"):
        return max(1, torch.get_num_threads())
    try:
        value = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        value = 0
    if value >= 1:
        return value
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


_THREADS: contextvars.ContextVar[int] = contextvars.ContextVar("pansharpen_compute_threads", default=1)


def current_threads() -> int:
    """Threads the calling context's band loops may use (:func:`compute_threads`; 1 by default)."""
    return _THREADS.get()


@contextlib.contextmanager
def compute_threads(threads: int) -> Iterator[None]:
    """Let band loops in this thread's context use ``threads`` threads (restored on exit). Threads
    of a pool start from the default, 1, so a loop inside a pooled item stays serial."""
    token = _THREADS.set(max(1, int(threads)))
    try:
        yield
    finally:
        _THREADS.reset(token)
