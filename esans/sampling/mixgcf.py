"""MixGCF-style negatives (Huang et al., KDD 2021), adapted to two towers.

MixGCF mixes the positive into each candidate negative ("positive mixing") and then keeps
the hardest mixed candidates ("hop mixing" selects per GNN layer; a two-tower model has one
output layer, so selection is on the output vectors):

    e'_j = alpha_j * e_pos + (1 - alpha_j) * e_j,  alpha_j ~ U(0, 1)

over a pool of uniform candidates (drawn as for DNS), keeping the ``n_neg`` highest-scoring.
"""

from __future__ import annotations

import torch

from esans.sampling.base import Selection
from esans.sampling.dns import DNSSampler, top_columns


class MixGCFSampler(DNSSampler):
    name = "mixgcf"

    def select(self, user: torch.Tensor, pos_vec: torch.Tensor, neg_vec: torch.Tensor,
               hit: torch.Tensor, gen: torch.Generator) -> Selection:
        alpha = torch.rand(neg_vec.shape[:2] + (1,), generator=gen)            # (B, P, 1)
        mixed = alpha * pos_vec.unsqueeze(1) + (1 - alpha) * neg_vec
        keep = top_columns(user, mixed, self.n_neg, hit)
        return Selection(keep, mix=torch.gather(alpha, 1, keep.unsqueeze(-1)))
