"""DNS-style dynamic hard negatives (Zhang et al., SIGIR 2013), for two towers.

Draw a pool of ``pool`` uniform candidates per positive (user's train items redrawn), score
them with the current model, keep the ``n_neg`` highest-scoring. Selection runs on detached
scores; only the kept negatives' vectors enter the loss (with their gradient).
"""

from __future__ import annotations

import torch

from esans.sampling.base import Negatives, SeenItems, Selection
from esans.sampling.uniform import UniformSampler


def candidate_scores(user: torch.Tensor, cand: torch.Tensor,
                     hit: torch.Tensor | None = None) -> torch.Tensor:
    """Scores (B, P) of the candidates (B, P, d) against ``user`` (B, d), masked ones
    (``hit``) -inf; no gradient."""
    with torch.no_grad():
        s = torch.einsum("bd,bpd->bp", user, cand)
        return s.masked_fill_(hit, float("-inf")) if hit is not None else s


def top_columns(user: torch.Tensor, cand: torch.Tensor, n: int,
                hit: torch.Tensor | None = None) -> torch.Tensor:
    """Columns (B, n) of the ``n`` candidates (B, P, d) scoring highest against ``user``
    (B, d), masked ones (``hit``) last; no gradient."""
    s = candidate_scores(user, cand, hit)
    return s.topk(min(n, s.shape[1]), dim=1).indices


class DNSSampler:
    name = "dns"

    def __init__(self, n_items: int, pool: int, n_neg: int,
                 seen: SeenItems | None = None) -> None:
        self.pool = UniformSampler(n_items, pool, seen)
        self.n_neg = n_neg

    def sample(self, users: torch.Tensor, pos: torch.Tensor,
               gen: torch.Generator) -> Negatives:
        return self.pool.sample(users, pos, gen)

    def select(self, user: torch.Tensor, pos_vec: torch.Tensor, neg_vec: torch.Tensor,
               hit: torch.Tensor, gen: torch.Generator) -> Selection:
        """(B, P, d) candidates -> the ``n_neg`` hardest (by the current model's score)."""
        return Selection(top_columns(user, neg_vec, self.n_neg, hit))
