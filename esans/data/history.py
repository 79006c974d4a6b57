"""Users' interaction sequences as flat arrays, sliced into fixed-length histories in batch."""

from __future__ import annotations

import numpy as np
import torch


class Histories:
    """Per-user item sequences in time order (CSR layout), gathered without Python loops.

    ``user_idx``/``item_idx`` must be sorted by (user, time).
    """

    def __init__(self, user_idx: np.ndarray, item_idx: np.ndarray, n_users: int) -> None:
        counts = np.bincount(user_idx, minlength=n_users)
        self.items = torch.from_numpy(np.asarray(item_idx, np.int64))
        self.start = torch.from_numpy(np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64))
        self.length = torch.from_numpy(counts.astype(np.int64))

    def window(self, users: torch.Tensor, end: torch.Tensor, length: int) -> torch.Tensor:
        """Items at positions [end - length, end) of each user's sequence; -1 pads. (B, L)"""
        offs = end.unsqueeze(1) - length + torch.arange(length).unsqueeze(0)  # (B, L)
        ok = offs >= 0
        flat = (self.start[users].unsqueeze(1) + offs.clamp(min=0)).clamp(
            max=max(len(self.items) - 1, 0))
        if len(self.items) == 0:
            return torch.full(offs.shape, -1, dtype=torch.long)
        return torch.where(ok, self.items[flat], torch.full_like(offs, -1))

    def last(self, users: torch.Tensor, length: int) -> torch.Tensor:
        return self.window(users, self.length[users], length)

    def seen_csr(self, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(row, item) index pairs of every item in the given users' sequences, for masking."""
        lens = self.length[users]
        rows = torch.repeat_interleave(torch.arange(len(users)), lens)
        base = torch.repeat_interleave(self.start[users], lens)
        within = torch.arange(int(lens.sum())) - torch.repeat_interleave(
            torch.cumsum(lens, 0) - lens, lens)
        return rows, self.items[base + within]
