"""Scale-out on Dask distributed: tiles (or scenes) are tasks, this process is the one writer."""
from __future__ import annotations

from typing import Callable, Iterator

import torch


def _client(workers: int | None, scheduler: str | None):
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - depends on the environment
        from ..errors import PanSharpenError

        raise PanSharpenError("Dask scale-out needs the extra: pip install 'pansharpen[dask]'") from None
    if scheduler:
        return Client(scheduler), None
    cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True, dashboard_address=None)
    return Client(cluster), cluster


def _run_one(func: Callable, job, shared):
    torch.set_num_threads(1)  # one thread per worker process: workers are the parallelism
    return func(job, shared)


def map_on_dask(func: Callable, jobs, shared, *, workers: int | None = None, scheduler: str | None = None) -> Iterator:
    """Yield ``func(job, shared)`` for every job, computed on a Dask cluster, as they complete.

    ``func`` must be importable by the workers (a module-level function, e.g.
    :func:`pansharpen.fusion.scene.fuse_tile`); ``shared`` (the fuser) is sent to each worker once.
    """
    from distributed import as_completed

    client, cluster = _client(workers, scheduler)
    try:
        shared = client.scatter(shared, broadcast=True)
        futures = [client.submit(_run_one, func, job, shared, pure=False) for job in jobs]
        for future in as_completed(futures):
            result = future.result()
            future.release()
            yield result
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
