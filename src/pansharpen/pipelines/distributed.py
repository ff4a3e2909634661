"""Scale-out on Dask distributed: tiles (or scenes) are tasks, this process is the one writer."""
from __future__ import annotations

from typing import Iterator


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


def _fuse_job(job, fuser):
    import torch

    from .scene import fuse_tile

    torch.set_num_threads(1)  # one thread per worker process: workers are the parallelism
    return fuse_tile(job, fuser)


def run_tiles_dask(jobs, fuser, *, workers: int | None = None, scheduler: str | None = None) -> Iterator:
    """Yield ``fuse_tile`` results of ``jobs`` computed on a Dask cluster, as they complete."""
    from distributed import as_completed

    client, cluster = _client(workers, scheduler)
    try:
        shared = client.scatter(fuser, broadcast=True)
        futures = [client.submit(_fuse_job, job, shared, pure=False) for job in jobs]
        for future in as_completed(futures):
            result = future.result()
            future.release()
            yield result
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
