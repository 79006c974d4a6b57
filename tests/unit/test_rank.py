"""The one evaluation protocol (esans.rank): torch scores, a faiss index and a dense score
block give the same masked full-catalogue ranking as a brute-force numpy one."""

import faiss
import numpy as np
import torch

from esans.data.history import Histories
from esans.rank import score, topk, topk_scores


def _case(seed=0, n_users=40, n_items=60, d=8):
    rng = np.random.default_rng(seed)
    items = rng.normal(size=(n_items, d)).astype(np.float32)
    users_v = rng.normal(size=(n_users, d)).astype(np.float32)
    hu, hi = [], []
    for u in range(n_users):
        # user 0 has seen all but 3 items: fewer unseen than K
        n = n_items - 3 if u == 0 else int(rng.integers(0, 15))
        for i in rng.choice(n_items, n, replace=False):
            hu.append(u)
            hi.append(int(i))
    return items, users_v, Histories(np.array(hu), np.array(hi), n_users), hu, hi


def _brute(items, users_v, hu, hi, k):
    s = users_v @ items.T
    s[hu, hi] = -np.inf
    top = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.where(np.take_along_axis(s, top, 1) == -np.inf, -1, top)


def test_torch_faiss_and_dense_rankings_equal_brute_force():
    items, uv, seen, hu, hi = _case()
    users = np.arange(len(uv))
    want = _brute(items, uv, hu, hi, 10)
    index = faiss.IndexFlatIP(items.shape[1])
    index.add(items)
    by_torch = topk(torch.from_numpy(uv), users, seen, 10, item_vecs=torch.from_numpy(items),
                    batch=7)
    by_index = topk(uv, users, seen, 10, index=index, batch=7)
    by_dense = topk_scores(uv @ items.T, users, seen, 10)
    for got in (by_torch, by_index, by_dense):
        np.testing.assert_array_equal(got, want)
    assert (by_torch[0, :3] >= 0).all() and (by_torch[0, 3:] == -1).all()
    assert not np.isin(by_torch[0, :3], np.array(hi)[np.array(hu) == 0]).any()


def test_score_groups_held_out_pairs_per_user_in_any_order():
    top = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    users = np.array([0, 1, 2])
    held_u, held_i = np.array([2, 0, 0, 1]), np.array([9, 3, 42, 0])
    m = score(top, users, held_u, held_i, [3])
    # user 0: 1 of 2 held items in its top 3; user 1: 0 of 1; user 2: 1 of 1
    assert m["recall@3"] == np.mean([0.5, 0.0, 1.0])
    assert m["n_users"] == 3
    m2 = score(top, np.array([1]), held_u, held_i, [3])     # only the users asked for
    assert m2["recall@3"] == 0.0 and m2["n_users"] == 1
