"""Recall@K and NDCG@K over full-catalogue rankings, exactly as docs/pipeline.md states.

Recall@K = hits in the top K / number of the user's held-out items, averaged over users with
at least one held-out item. NDCG@K uses binary gains, DCG = sum 1/log2(rank + 1) over hits in
the top K, and the ideal DCG over min(#held-out items, K).
"""

from __future__ import annotations

import numpy as np


def recall_ndcg(topk: np.ndarray, truth: list[np.ndarray], ks: list[int]) -> dict[str, float]:
    """``topk``: (U, L) ranked item indices per user (-1 = no item); ``truth``: held-out items
    per user. Lists shorter than max(ks) (a catalogue smaller than K) count as misses past
    their end. Users with no held-out items are skipped.
    """
    kmax = max(ks)
    if topk.shape[1] < kmax:
        pad = np.full((topk.shape[0], kmax - topk.shape[1]), -1, dtype=topk.dtype)
        topk = np.concatenate([topk, pad], axis=1)
    discounts = 1.0 / np.log2(np.arange(2, kmax + 2))
    cum_disc = np.cumsum(discounts)
    recall = {k: [] for k in ks}
    ndcg = {k: [] for k in ks}
    for row, items in zip(topk, truth):
        if len(items) == 0:
            continue
        hits = np.isin(row[:kmax], items)
        for k in ks:
            h = hits[:k]
            recall[k].append(h.sum() / len(items))
            idcg = cum_disc[min(len(items), k) - 1]
            ndcg[k].append((h * discounts[:k]).sum() / idcg)
    out: dict[str, float] = {}
    for k in ks:
        out[f"recall@{k}"] = float(np.mean(recall[k])) if recall[k] else 0.0
        out[f"ndcg@{k}"] = float(np.mean(ndcg[k])) if ndcg[k] else 0.0
    out["n_users"] = len(recall[ks[0]])
    return out
