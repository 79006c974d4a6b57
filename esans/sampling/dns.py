"""DNS-style dynamic hard negatives (Zhang et al., SIGIR 2013), for two towers.

Draw a pool of ``pool`` uniform candidates per positive (user's train items redrawn), score
them with the current model, keep the ``n_neg`` highest-scoring. Selection runs without
gradient; the kept negatives' vectors keep theirs.
"""

from __future__ import annotations

import torch

from esans.sampling.base import Negatives, SeenItems
from esans.sampling.uniform import UniformSampler


def top_by_score(user: torch.Tensor, cand: torch.Tensor, n: int, *extra: torch.Tensor,
                 hit: torch.Tensor | None = None) -> list[torch.Tensor]:
    """Keep the ``n`` candidates (B, P, d) scoring highest against ``user`` (B, d)."""
    with torch.no_grad():
        s = torch.einsum("bd,bpd->bp", user, cand)
        if hit is not None:
            s = s.masked_fill(hit, float("-inf"))
        top = s.topk(min(n, s.shape[1]), dim=1).indices                     # (B, n)
    out = [torch.gather(cand, 1, top.unsqueeze(-1).expand(-1, -1, cand.shape[-1]))]
    out += [torch.gather(x, 1, top) for x in extra]
    return out


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
               log_q: torch.Tensor, hit: torch.Tensor, gen: torch.Generator):
        """(B, P, d) candidates -> the ``n_neg`` hardest: (vectors, log_q, hit)."""
        return top_by_score(user, neg_vec, self.n_neg, log_q, hit, hit=hit)
