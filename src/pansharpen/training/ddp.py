"""Multi-process data parallel training through ``torchrun`` (``torch.distributed``).

``torchrun --nproc-per-node 2 -m pansharpen train ...`` starts one process per worker
with ``RANK``/``WORLD_SIZE``/``MASTER_ADDR`` set; :func:`init_from_env` joins the group
(gloo on CPU, nccl on CUDA). Without those variables training runs in one process and
every helper here is a no-op.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    """Where this process sits: ``rank`` of ``world`` processes; ``owns_group`` if we initialised it."""

    rank: int = 0
    world: int = 1
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def init_from_env(device: str = "cpu") -> Dist:
    """Join the process group described by torchrun's environment, if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if dist.is_initialized():
        return Dist(dist.get_rank(), dist.get_world_size(), owns_group=False)
    backend = "nccl" if str(device).startswith("cuda") else "gloo"
    dist.init_process_group(backend=backend)
    return Dist(dist.get_rank(), dist.get_world_size(), owns_group=True)


def shutdown(d: Dist, *, finished: bool = False) -> None:
    """Leave the group we joined. ``finished``: every rank got here without an error, so wait at a
    barrier first: no rank closes its gloo connections while another is still at work (rank 0
    writing the weights). A rank that leaves first can otherwise abort the other ("terminate called
    without an active exception", seen once in CI on the 2-core machine). After an error there is
    no barrier: the other ranks may never reach it (torchrun stops them when one rank fails)."""
    if d.owns_group and dist.is_initialized():
        if finished and d.active:
            dist.barrier()
        dist.destroy_process_group()


def any_flag(d: Dist, *flags: float) -> list[float]:
    """Elementwise maximum of ``flags`` over all processes (identity in one process)."""
    if not d.active:
        return list(flags)
    t = torch.tensor(flags, dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.tolist()


def broadcast_int(d: Dist, value: int) -> int:
    """Rank 0's ``value`` on every process."""
    if not d.active:
        return value
    t = torch.tensor([value], dtype=torch.int64)
    dist.broadcast(t, src=0)
    return int(t.item())
