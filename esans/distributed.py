"""Data-parallel training under ``torchrun``.

    torchrun --nproc_per_node 2 "$(which esans)" train

The backend is gloo: the training loop runs on CPU tensors, and NCCL only reduces CUDA ones.
``ESANS_DIST_BACKEND=nccl`` is for a loop that has been moved to GPUs.

Each rank trains on its own slice of every global batch (the global batch size and the
number of optimiser steps equal the single-process run's), draws negatives from its own RNG
stream, and averages gradients with every other rank after each backward pass (dense ones by
all-reduce, sparse id-embedding ones by gathering their rows). In-batch samplers see the
positives of the whole global batch. Weights stay identical on every rank; rank 0 writes.
Without ``torchrun`` (no ``WORLD_SIZE``) everything here is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from esans.sampling.base import Negatives, Sampler


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def active(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def local(self, idx: torch.Tensor, local_bs: int) -> torch.Tensor | None:
        """This rank's slice of a global batch of ``local_bs * size`` rows; None for a ragged
        last global batch (dropped, so every rank takes the same number of steps)."""
        if not self.active:
            return idx
        if len(idx) < local_bs * self.size:
            return None
        return idx[self.rank * local_bs:(self.rank + 1) * local_bs]


def init() -> World:
    """Join the process group torchrun set up (env://), once; World() when not under it."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1 or not dist.is_available():
        return World()
    if not dist.is_initialized():
        dist.init_process_group(backend=os.environ.get("ESANS_DIST_BACKEND", "gloo"))
    return World(dist.get_rank(), dist.get_world_size())


def all_gather_cat(x: torch.Tensor, world: World) -> torch.Tensor:
    """Concatenate a same-shaped tensor from every rank, in rank order."""
    if not world.active:
        return x
    out = [torch.empty_like(x) for _ in range(world.size)]
    dist.all_gather(out, x.contiguous())
    return torch.cat(out)


def average_gradients(model: torch.nn.Module, world: World) -> None:
    """Make every rank's gradients the mean over ranks (call after ``backward``)."""
    if not world.active:
        return
    dense = [p for p in model.parameters() if p.grad is not None and not p.grad.is_sparse]
    if dense:
        flat = torch.cat([p.grad.reshape(-1) for p in dense])
        dist.all_reduce(flat)
        flat /= world.size
        offset = 0
        for p in dense:
            n = p.grad.numel()
            p.grad.copy_(flat[offset:offset + n].view_as(p.grad))
            offset += n
    for p in model.parameters():
        if p.grad is not None and p.grad.is_sparse:
            g = p.grad.coalesce()
            parts = [None] * world.size
            dist.all_gather_object(parts, (g.indices(), g.values()))
            idx = torch.cat([i for i, _ in parts], dim=1)
            val = torch.cat([v for _, v in parts]) / world.size
            p.grad = torch.sparse_coo_tensor(idx, val, g.shape).coalesce()


def broadcast_float(value: float, world: World) -> float:
    """Rank 0's value on every rank (so early stopping decides the same everywhere)."""
    if not world.active:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.broadcast(t, src=0)
    return float(t.item())


class GlobalBatchPool:
    """An in-batch sampler whose pool is the positives of every rank's batch slice."""

    def __init__(self, inner: Sampler, world: World) -> None:
        self.inner, self.world, self.name = inner, world, inner.name

    def sample(self, users: torch.Tensor, pos: torch.Tensor,
               gen: torch.Generator) -> Negatives:
        pool = all_gather_cat(pos, self.world)
        neg = self.inner.sample(users, pool, gen)
        b = len(pos)
        return Negatives(neg.ids[:b], neg.log_q[:b], shared=neg.shared)
