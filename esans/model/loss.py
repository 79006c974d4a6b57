"""Sampled softmax with logQ correction and accidental-hit removal.

logits = [s(u, i+), s(u, n_1) - log q_1, ..., s(u, n_m) - log q_m] / tau

The positive sits in column 0; a negative equal to the row's positive (or otherwise masked by
``hit``) is removed. With ``log_q`` = log(expected count of the id in the draw) this is the
standard correction that makes sampled softmax consistent for the full softmax.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def scores(user: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """user (B, d) x items -> (B, m): per-row items (B, m, d) or one shared set (m, d)."""
    if items.dim() == 2:
        return user @ items.T
    # multiply-and-sum, not a batched matmul: on CPU the (B, 1, d) x (B, d, m) GEMMs' backward
    # costs ~5x more for the few negatives of a row
    return (items * user.unsqueeze(1)).sum(-1)


def sampled_softmax_logits(pos_score: torch.Tensor, neg_score: torch.Tensor,
                           log_q: torch.Tensor, tau: float, hit: torch.Tensor | None = None,
                           logq_correction: bool = True) -> torch.Tensor:
    """The loss from raw scores: pos_score (B,), neg_score (B, m)."""
    neg_logit = neg_score / tau
    if logq_correction:
        neg_logit = neg_logit - log_q
    if hit is not None:
        neg_logit = neg_logit.masked_fill(hit, float("-inf"))
    logits = torch.cat([pos_score.unsqueeze(1) / tau, neg_logit], dim=1)
    return F.cross_entropy(logits, torch.zeros(len(pos_score), dtype=torch.long))


def full_softmax(user: torch.Tensor, items: torch.Tensor, pos_ids: torch.Tensor,
                 tau: float) -> torch.Tensor:
    """Cross entropy over the whole catalogue: user (B, d), items (N, d), pos_ids (B,)."""
    return F.cross_entropy(user @ items.T / tau, pos_ids)
