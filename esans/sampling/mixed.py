"""Mixed negative sampling (Yang et al., WWW 2020): in-batch + a shared uniform pool.

Row r's candidates are the batch's B positives and ``n_uniform`` items drawn uniformly once
per batch. Item j's expected count in that pool is B * p_j + n_uniform / N (p_j its train
frequency), and logQ uses exactly that mixture.
"""

from __future__ import annotations

import numpy as np
import torch

from esans.sampling.base import Negatives, take


class MixedSampler:
    name = "mixed"

    def __init__(self, counts: np.ndarray, n_uniform: int) -> None:
        c = torch.from_numpy(np.asarray(counts, np.float64)) + 1e-6
        self.p = (c / c.sum()).float()
        self.n_items, self.n_uniform = len(counts), n_uniform

    def sample(self, users: torch.Tensor, pos: torch.Tensor,
               gen: torch.Generator) -> Negatives:
        b = len(pos)
        uni = torch.randint(self.n_items, (self.n_uniform,), generator=gen)
        pool = torch.cat([pos, uni])                          # one row, the same for every row
        return Negatives(pool.expand(b, -1), self.log_q(pool, b).expand(b, -1), shared=True)

    def log_q(self, ids: torch.Tensor, batch: int) -> torch.Tensor:
        """Log expected count of each id in a pool built from a batch of ``batch``."""
        return (batch * take(self.p, ids) + self.n_uniform / self.n_items).log()
