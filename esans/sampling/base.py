"""The sampler interface and the shared false-negative mask.

A sampler takes a batch of (user, positive item) pairs and returns ``Negatives``: item ids
(B, m) and the log of each id's expected count under the proposal (for logQ correction).
Ids equal to the row's positive are dropped by the loss (accidental hits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch


@dataclass(frozen=True)
class Negatives:
    ids: torch.Tensor    # (B, m) long
    log_q: torch.Tensor  # (B, m) float: log expected count of the id in this row's draw


class Sampler(Protocol):
    name: str

    def sample(self, users: torch.Tensor, pos: torch.Tensor,
               gen: torch.Generator) -> Negatives: ...


class SeenItems:
    """Membership test for (user, item) pairs in train, vectorised with ``searchsorted``."""

    def __init__(self, user_idx: np.ndarray, item_idx: np.ndarray, n_items: int) -> None:
        self.n_items = n_items
        keys = np.unique(user_idx.astype(np.int64) * n_items + item_idx.astype(np.int64))
        self.keys = torch.from_numpy(keys)

    def contains(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """(B,) users x (B, m) items -> (B, m) bool."""
        q = users.long().unsqueeze(1) * self.n_items + items.long()
        if len(self.keys) == 0:
            return torch.zeros_like(q, dtype=torch.bool)
        pos = torch.searchsorted(self.keys, q).clamp(max=len(self.keys) - 1)
        return self.keys[pos] == q


def resample_seen(ids: torch.Tensor, users: torch.Tensor, seen: SeenItems | None,
                  draw, rounds: int = 4) -> torch.Tensor:
    """Redraw negatives that are in the user's train items (at most ``rounds`` times).

    ``draw(mask)`` must return fresh ids for the masked positions (same proposal). What is
    still seen after the last round stays; the loss treats it as an ordinary negative.
    """
    if seen is None:
        return ids
    for _ in range(rounds):
        bad = seen.contains(users, ids)
        if not bad.any():
            break
        ids = torch.where(bad, draw(bad), ids)
    return ids
