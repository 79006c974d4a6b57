"""Sampled softmax with logQ correction and accidental-hit removal.

logits = [s(u, i+), s(u, n_1) - log q_1, ..., s(u, n_m) - log q_m] / tau

The positive sits in column 0; a negative equal to the row's positive is masked out.
With ``log_q`` = log(expected count of the id in the draw) this is the standard correction
that makes sampled softmax consistent for the full softmax.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sampled_softmax(user: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor,
                    log_q: torch.Tensor, tau: float, hit: torch.Tensor | None = None,
                    logq_correction: bool = True) -> torch.Tensor:
    """user (B, d), pos (B, d), neg (B, m, d), log_q (B, m), hit (B, m) bool -> scalar loss."""
    pos_logit = (user * pos).sum(-1, keepdim=True) / tau                    # (B, 1)
    neg_logit = torch.einsum("bd,bmd->bm", user, neg) / tau                 # (B, m)
    if logq_correction:
        neg_logit = neg_logit - log_q
    if hit is not None:
        neg_logit = neg_logit.masked_fill(hit, float("-inf"))
    logits = torch.cat([pos_logit, neg_logit], dim=1)
    return F.cross_entropy(logits, torch.zeros(len(user), dtype=torch.long))


def full_softmax(user: torch.Tensor, items: torch.Tensor, pos_ids: torch.Tensor,
                 tau: float) -> torch.Tensor:
    """Cross entropy over the whole catalogue: user (B, d), items (N, d), pos_ids (B,)."""
    return F.cross_entropy(user @ items.T / tau, pos_ids)
