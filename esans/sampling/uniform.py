"""Uniform negatives over the catalogue (excluding the user's train items)."""

from __future__ import annotations

import math

import torch

from esans.sampling.base import Negatives, SeenItems, pick_unseen


class UniformSampler:
    name = "uniform"

    def __init__(self, n_items: int, n_neg: int, seen: SeenItems | None = None,
                 tries: int = 4) -> None:
        self.n_items, self.n_neg, self.seen, self.tries = n_items, n_neg, seen, tries

    def sample(self, users: torch.Tensor, pos: torch.Tensor,
               gen: torch.Generator) -> Negatives:
        ids, seen = pick_unseen(
            lambda rows: torch.randint(self.n_items, (len(rows), self.n_neg), generator=gen),
            users, self.seen, self.tries)
        return Negatives(ids, self.log_q(pos, ids), seen=seen)

    def log_q(self, pos: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Log expected count of each id (B, m) in a row's draw."""
        return torch.full(ids.shape, math.log(self.n_neg / self.n_items))
