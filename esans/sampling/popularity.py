"""Popularity negatives: item i drawn with probability proportional to count_i ** alpha."""

from __future__ import annotations

import numpy as np
import torch

from esans.sampling.base import (Negatives, SeenItems, alias_draw, alias_tables, pick_unseen,
                                 take)


class PopularitySampler:
    name = "popularity"

    def __init__(self, counts: np.ndarray, n_neg: int, alpha: float = 0.75,
                 seen: SeenItems | None = None, tries: int = 4) -> None:
        self.tries = tries
        w = torch.from_numpy(np.asarray(counts, np.float64) ** alpha) + 1e-12
        self.prob = (w / w.sum()).float()
        self.log_prob = self.prob.log()
        self.keep, self.alias = alias_tables(self.prob.double().numpy()[None, :])
        self.n_neg, self.seen = n_neg, seen

    def sample(self, users: torch.Tensor, pos: torch.Tensor,
               gen: torch.Generator) -> Negatives:
        def draw(rows: torch.Tensor) -> torch.Tensor:   # one distribution for every row
            return alias_draw(self.keep, self.alias, torch.zeros_like(rows),
                              (len(rows), self.n_neg), gen)

        ids, seen = pick_unseen(draw, users, self.seen, self.tries)
        return Negatives(ids, self.log_q(pos, ids), seen=seen)

    def log_q(self, pos: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Log expected count of each id (B, m) in a row's draw."""
        return take(self.log_prob, ids) + float(np.log(self.n_neg))
