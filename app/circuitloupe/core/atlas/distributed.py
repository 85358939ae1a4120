"""Sharding atlas work over torchrun processes with torch.distributed (no networking of our own).

Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) :func:`process_group` joins the
default group (NCCL when the model is on CUDA, else gloo) from torchrun's environment
variables, and a gloo group for moving the (CPU, numpy) summaries to rank 0. Outside torchrun
everything runs in one process.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Group:
    """This process's ``rank`` among ``world`` processes, and the gloo group for objects."""

    rank: int = 0
    world: int = 1
    cpu_group: Any = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def share(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank."""
        if self.world == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0, group=self.cpu_group)
        return box[0]

    def gather(self, value: Any) -> list[Any] | None:
        """Every rank's ``value`` in rank order, on rank 0 (None elsewhere)."""
        if self.world == 1:
            return [value]
        out = [None] * self.world if self.is_main else None
        dist.gather_object(value, out, dst=0, group=self.cpu_group)
        return out

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier(group=self.cpu_group)


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


@contextmanager
def process_group(device: torch.device) -> Iterator[Group]:
    """The process group for this run (a one-process :class:`Group` outside torchrun)."""
    if not launched_by_torchrun():
        yield Group()
        return
    created = not dist.is_initialized()
    if created:
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend)
    try:
        yield Group(dist.get_rank(), dist.get_world_size(), dist.new_group(backend="gloo"))
    finally:
        if created:
            dist.destroy_process_group()


def shard(count: int, rank: int, world: int) -> range:
    """The contiguous part of ``range(count)`` that ``rank`` of ``world`` works on."""
    return range(count * rank // world, count * (rank + 1) // world)
