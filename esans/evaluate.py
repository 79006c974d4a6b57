"""Top-K retrieval from the faiss index with each user's seen items filtered out."""

from __future__ import annotations

import numpy as np
import torch

from esans.data.history import Histories
from esans.sampling.base import SeenItems


def rank_with_index(index, user_vecs: np.ndarray, users: np.ndarray, seen: Histories, k: int,
                    batch: int = 1024) -> np.ndarray:
    """Exact top-``k`` per user from ``index`` (inner product), skipping the user's ``seen``.

    Over-fetches ``k`` + the batch's largest seen count, so the result equals a full ranking of
    the catalogue with the seen items masked. A user with fewer than ``k`` unseen items gets
    -1 in the slots past them.
    """
    n_items = index.ntotal
    lengths = seen.length.numpy()
    out = np.empty((len(users), min(k, n_items)), np.int64)
    for s in range(0, len(users), batch):
        u = users[s:s + batch]
        fetch = min(n_items, k + int(lengths[u].max(initial=0)))
        _, ids = index.search(np.ascontiguousarray(user_vecs[s:s + batch], np.float32), fetch)
        ut = torch.from_numpy(u.astype(np.int64))
        rows, items = seen.seen_csr(ut)
        member = SeenItems(rows.numpy(), items.numpy(), n_items)
        bad = member.contains(torch.arange(len(u)), torch.from_numpy(ids)).numpy() | (ids < 0)
        order = np.argsort(bad, axis=1, kind="stable")          # unseen first, rank kept
        ranked = np.take_along_axis(ids, order, 1)[:, :out.shape[1]]
        dropped = np.take_along_axis(bad, order, 1)[:, :out.shape[1]]
        out[s:s + batch] = np.where(dropped, -1, ranked)
    return out
