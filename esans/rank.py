"""The evaluation protocol, written once: rank the whole catalogue for each user with the
user's seen items masked, then score the ranking against held-out items (Recall@K / NDCG@K,
``esans.metrics``).

The evaluate stage, early stopping in training, the promotion gate's re-scoring, serving
(``recommend``) and the benches all call these functions; none ranks or masks on its own.
"""

from __future__ import annotations

import numpy as np
import torch

from esans.data.history import Histories
from esans.metrics import recall_ndcg
from esans.model.towers import TwoTower
from esans.sampling.base import SeenItems


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
def topk(user_vecs: torch.Tensor | np.ndarray, users: np.ndarray, seen: Histories, k: int, *,
         item_vecs: torch.Tensor | None = None, index=None, batch: int = 1024) -> np.ndarray:
    """Exact top-``k`` item indices per user over the whole catalogue, the user's ``seen``
    items excluded; -1 in the slots past a user's unseen items.

    Scores are inner products with ``item_vecs`` (torch), or come from a faiss ``index``
    (inner product, over-fetching ``k`` + the batch's largest seen count, so the result is
    the same full ranking with the seen items masked)."""
    if index is not None:
        return _topk_index(index, np.asarray(user_vecs, np.float32), users, seen, k, batch)
    assert item_vecs is not None, "topk needs item_vecs or an index"
    uv = torch.as_tensor(user_vecs)
    # a score block stays under 64M floats (256 MB)
    batch = max(1, min(batch, (1 << 26) // max(1, item_vecs.shape[0])))
    out = [_take(uv[s:s + batch] @ item_vecs.T, users[s:s + batch], seen, k)
           for s in range(0, len(users), batch)]
    return np.concatenate(out) if out else np.zeros((0, min(k, item_vecs.shape[0])), np.int64)


@torch.inference_mode()
def topk_scores(scores: torch.Tensor | np.ndarray, users: np.ndarray, seen: Histories,
                k: int) -> np.ndarray:
    """Top-``k`` of a dense (users, items) score block, ``seen`` items masked (-1 past a
    user's unseen items): for models that score the catalogue directly (EASE)."""
    return _take(torch.as_tensor(scores).clone(), users, seen, k)


def _take(scores: torch.Tensor, users: np.ndarray, seen: Histories, k: int) -> np.ndarray:
    rows, items = seen.seen_csr(torch.from_numpy(np.asarray(users, np.int64)))
    scores[rows, items] = -float("inf")
    val, idx = torch.topk(scores, min(k, scores.shape[1]), dim=1)
    return torch.where(torch.isneginf(val), -1, idx).numpy()


def _topk_index(index, user_vecs: np.ndarray, users: np.ndarray, seen: Histories, k: int,
                batch: int) -> np.ndarray:
    n_items = index.ntotal
    lengths = seen.length.numpy()
    out = np.empty((len(users), min(k, n_items)), np.int64)
    for s in range(0, len(users), batch):
        u = users[s:s + batch]
        fetch = min(n_items, k + int(lengths[u].max(initial=0)))
        _, ids = index.search(np.ascontiguousarray(user_vecs[s:s + batch]), fetch)
        rows, items = seen.seen_csr(torch.from_numpy(u.astype(np.int64)))
        member = SeenItems(rows.numpy(), items.numpy(), n_items)
        bad = member.contains(torch.arange(len(u)), torch.from_numpy(ids)).numpy() | (ids < 0)
        order = np.argsort(bad, axis=1, kind="stable")          # unseen first, rank kept
        ranked = np.take_along_axis(ids, order, 1)[:, :out.shape[1]]
        dropped = np.take_along_axis(bad, order, 1)[:, :out.shape[1]]
        out[s:s + batch] = np.where(dropped, -1, ranked)
    return out


def sample_users(users: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``users`` (sorted, unique), or a fixed sorted sample of ``n`` of them when
    0 < n < len(users): the same users on every run with the same seed and split."""
    if not 0 < n < len(users):
        return users
    return np.sort(np.random.default_rng(seed).choice(users, n, replace=False))


def score(top: np.ndarray, users: np.ndarray, held_users: np.ndarray, held_items: np.ndarray,
          ks: list[int]) -> dict[str, float]:
    """Recall@K / NDCG@K of ``top`` (one row per entry of ``users``) against the held-out
    (user, item) pairs; users without held-out items are skipped."""
    order = np.argsort(held_users, kind="stable")
    hu, hi = np.asarray(held_users)[order], np.asarray(held_items)[order]
    lo, up = np.searchsorted(hu, users, side="left"), np.searchsorted(hu, users, side="right")
    return recall_ndcg(top, [hi[a:b] for a, b in zip(lo, up)], ks)


@torch.inference_mode()
def evaluate(model: TwoTower, users: np.ndarray, seen: Histories, history_len: int,
             held_users: np.ndarray, held_items: np.ndarray, ks: list[int], *,
             item_vecs: torch.Tensor | None = None, index=None,
             batch: int = 1024) -> tuple[dict, np.ndarray]:
    """The protocol end to end for ``users``: their vectors from their ``seen`` histories,
    the masked full-catalogue top-max(ks), and its metrics against the held-out pairs.
    Item vectors default to the model's own; ``index`` ranks with faiss instead of torch;
    ``batch`` users are ranked per block. Returns (metrics, top)."""
    items = model.all_items() if item_vecs is None else item_vecs
    uv = user_vectors(model, users, seen, history_len, items)
    top = topk(uv if index is None else uv.numpy(), users, seen, max(ks), item_vecs=items,
               index=index, batch=batch)
    return score(top, users, held_users, held_items, ks), top


def evaluate_splits(model: TwoTower, split: dict, n_users: int, history_len: int,
                    ks: list[int], *, users: int = 0, seed: int = 0,
                    item_vecs: torch.Tensor | None = None, index=None, batch: int = 1024
                    ) -> tuple[dict[str, dict], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The protocol on the split's valid and test parts, as every reported number uses it:
    valid is ranked from train histories, test from train + valid, each user's seen items
    masked; ``users`` > 0 scores a fixed seeded sample of each part's users.

    ``split``: polars tables ``train``, ``valid``, ``test`` (user_idx, item_idx, pos). Returns
    ``({"valid": metrics, "test": metrics}, {part: (users, top)})``."""
    import polars as pl

    metrics, tops = {}, {}
    for name, seen_parts in (("valid", ["train"]), ("test", ["train", "valid"])):
        held = split[name]
        seen_df = pl.concat([split[s] for s in seen_parts]).sort(["user_idx", "pos"])
        seen = Histories(seen_df["user_idx"].to_numpy(), seen_df["item_idx"].to_numpy(),
                         n_users)
        who = sample_users(np.unique(held["user_idx"].to_numpy()), users, seed)
        m, top = evaluate(model, who, seen, history_len, held["user_idx"].to_numpy(),
                          held["item_idx"].to_numpy(), ks, item_vecs=item_vecs, index=index,
                          batch=batch)
        metrics[name] = {k: round(v, 6) if isinstance(v, float) else v for k, v in m.items()}
        tops[name] = (who, top)
    return metrics, tops
