"""Scale-out on Dask distributed: tiles (or scenes) are tasks, this process is the one writer.

Each worker process runs one task at a time with ``threads_per_worker`` torch threads (default: the
machine's cores divided by the workers, at least 1), and uses the allocator setting of this process
(:func:`pansharpen.runtime.retain_freed_memory`): fresh worker processes otherwise page-fault every
activation in again, which made ``--workers 2`` 1.4x slower than serial on 2 cores (system time
1.6 s -> 12.6 s). Measurements and when to use it: docs/performance.md ("Scale-out").
"""
from __future__ import annotations

import os
from typing import Callable, Iterator

from .. import runtime
from ..errors import PanSharpenError


def threads_for(workers: int | None, threads_per_worker: int | None = None) -> int:
    """Torch threads of each worker: ``threads_per_worker``, else ``$PANSHARPEN_THREADS_PER_WORKER``,
    else ``cpu_count // workers`` (at least 1). Raises PanSharpenError on a value below 1."""
    value = threads_per_worker if threads_per_worker is not None else os.environ.get("PANSHARPEN_THREADS_PER_WORKER")
    if value is None or value == "":
        return max(1, (os.cpu_count() or 1) // max(1, int(workers or 1)))
    try:
        threads = int(value)
    except (TypeError, ValueError):
        threads = 0
    if threads < 1 or isinstance(value, bool):
        raise PanSharpenError(f"threads per worker must be a positive integer; got {value!r}")
    return threads


def _client(workers: int | None, scheduler: str | None):
    try:
        from distributed import Client, LocalCluster  # optional: the dask extra
    except ImportError:  # pragma: no cover - depends on the environment
        raise PanSharpenError("Dask scale-out needs the extra: pip install 'pansharpen[dask]'") from None
    if scheduler:
        return Client(scheduler), None
    # one task slot per worker process: the parallelism inside a task is torch's threads
    cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True, dashboard_address=None)
    return Client(cluster), cluster


def _run_one(func: Callable, job, shared, threads: int = 1, tuned_allocator: bool = False):
    if tuned_allocator:
        runtime.retain_freed_memory()  # once per worker process, as in the parent
    torch = runtime.loaded_torch()  # loaded by unpickling a network fuser; a classical task needs none
    if torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return func(job, shared)


def map_on_dask(func: Callable, jobs, shared, *, workers: int | None = None, scheduler: str | None = None,
                threads_per_worker: int | None = None) -> Iterator:
    """Yield ``func(job, shared)`` for every job, computed on a Dask cluster, as they complete.

    ``func`` must be importable by the workers (a module-level function, e.g.
    :func:`pansharpen.fusion.scene.fuse_tile`); ``shared`` (the fuser) is sent to each worker once.
    ``threads_per_worker``: torch threads per worker (:func:`threads_for`).
    """
    from distributed import as_completed  # optional: the dask extra

    threads = threads_for(workers, threads_per_worker)
    tuned = runtime.allocator_tuned()
    client, cluster = _client(workers, scheduler)
    try:
        shared = client.scatter(shared, broadcast=True)
        futures = [client.submit(_run_one, func, job, shared, threads, tuned, pure=False) for job in jobs]
        for future in as_completed(futures):
            result = future.result()
            future.release()
            yield result
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
