"""MixGCF-style negatives (Huang et al., KDD 2021), adapted to two towers.

MixGCF mixes the positive into each candidate negative ("positive mixing") and then keeps
the hardest mixed candidates ("hop mixing" selects per GNN layer; a two-tower model has one
output layer, so selection is on the output vectors):

    e'_j = alpha_j * e_pos + (1 - alpha_j) * e_j,  alpha_j ~ U(0, 1)

over a pool of uniform candidates, keeping the ``n_neg`` highest-scoring e'_j.
"""

from __future__ import annotations

import torch

from esans.sampling.base import Negatives, SeenItems
from esans.sampling.dns import top_by_score
from esans.sampling.uniform import UniformSampler


class MixGCFSampler:
    name = "mixgcf"

    def __init__(self, n_items: int, pool: int, n_neg: int,
                 seen: SeenItems | None = None) -> None:
        self.pool = UniformSampler(n_items, pool, seen)
        self.n_neg = n_neg

    def sample(self, users: torch.Tensor, pos: torch.Tensor,
               gen: torch.Generator) -> Negatives:
        return self.pool.sample(users, pos, gen)

    def select(self, user: torch.Tensor, pos_vec: torch.Tensor, neg_vec: torch.Tensor,
               log_q: torch.Tensor, hit: torch.Tensor, gen: torch.Generator):
        alpha = torch.rand(neg_vec.shape[:2] + (1,), generator=gen)            # (B, P, 1)
        mixed = alpha * pos_vec.unsqueeze(1) + (1 - alpha) * neg_vec
        return top_by_score(user, mixed, self.n_neg, log_q, hit, hit=hit)
