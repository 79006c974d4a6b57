"""Uniform negatives over the catalogue (excluding the user's train items)."""

from __future__ import annotations

import math

import torch

from esans.sampling.base import Negatives, SeenItems, resample_seen


class UniformSampler:
    name = "uniform"

    def __init__(self, n_items: int, n_neg: int, seen: SeenItems | None = None) -> None:
        self.n_items, self.n_neg, self.seen = n_items, n_neg, seen

    def sample(self, users: torch.Tensor, pos: torch.Tensor,
               gen: torch.Generator) -> Negatives:
        shape = (len(pos), self.n_neg)
        ids = torch.randint(self.n_items, shape, generator=gen)
        ids = resample_seen(ids, users, self.seen,
                            lambda m: torch.randint(self.n_items, shape, generator=gen))
        log_q = torch.full(shape, math.log(self.n_neg / self.n_items))
        return Negatives(ids, log_q)
