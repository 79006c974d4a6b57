"""Full-catalogue ranking with seen items masked."""

from __future__ import annotations

import numpy as np
import torch

from esans.data.history import Histories
from esans.metrics import recall_ndcg
from esans.model.towers import TwoTower


@torch.inference_mode()
def user_vectors(model: TwoTower, users: np.ndarray, hist: Histories, history_len: int,
                 item_vecs: torch.Tensor, batch: int = 4096) -> torch.Tensor:
    out = []
    for s in range(0, len(users), batch):
        u = torch.from_numpy(np.asarray(users[s:s + batch], np.int64))
        h = hist.last(u, history_len)
        out.append(model.users(u, h, item_vecs[h.clamp(min=0)]))
    return torch.cat(out) if out else torch.zeros((0, item_vecs.shape[1]))


@torch.inference_mode()
def topk_masked(user_vecs: torch.Tensor, item_vecs: torch.Tensor, users: np.ndarray,
                seen: Histories, k: int, batch: int = 1024) -> np.ndarray:
    """Exact top-k item indices per user over all items, the user's ``seen`` items excluded.

    Users are scored ``batch`` at a time, fewer for big catalogues (a score block stays
    under 64M floats, 256 MB)."""
    batch = max(1, min(batch, (1 << 26) // max(1, item_vecs.shape[0])))
    out = []
    for s in range(0, len(users), batch):
        u = torch.from_numpy(np.asarray(users[s:s + batch], np.int64))
        scores = user_vecs[s:s + batch] @ item_vecs.T                    # (b, N)
        rows, items = seen.seen_csr(u)
        scores[rows, items] = -float("inf")
        out.append(torch.topk(scores, min(k, scores.shape[1]), dim=1).indices.numpy())
    return np.concatenate(out) if out else np.zeros((0, k), np.int64)


def heldout_metrics(model: TwoTower, users: np.ndarray, seen: Histories, history_len: int,
                    held_users: np.ndarray, held_items: np.ndarray,
                    ks: list[int]) -> dict[str, float]:
    """Recall@K / NDCG@K of ``users`` (sorted, unique) against their held-out (user, item)
    pairs: the whole catalogue ranked from each user's ``seen`` history, seen items masked."""
    with torch.inference_mode():
        items = model.all_items()
        uv = user_vectors(model, users, seen, history_len, items)
        top = topk_masked(uv, items, users, seen, max(ks))
    order = np.argsort(held_users, kind="stable")
    hu, hi = held_users[order], held_items[order]
    lo, up = np.searchsorted(hu, users, side="left"), np.searchsorted(hu, users, side="right")
    return recall_ndcg(top, [hi[a:b] for a, b in zip(lo, up)], ks)
