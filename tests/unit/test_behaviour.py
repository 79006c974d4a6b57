"""Behaviour vectors (PPMI of item co-occurrence + truncated SVD) against a dense reference."""

from __future__ import annotations

import numpy as np

from esans.encode.behaviour import ppmi_svd


def _dense_reference(users, items, n_users, n_items, k):
    """PPMI and its top-k singular vectors the slow, obvious way."""
    x = np.zeros((n_users, n_items))
    x[users, items] = 1.0
    co = x.T @ x
    np.fill_diagonal(co, 0.0)
    counts, total = co.sum(axis=1), co.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(co * total / np.outer(counts, counts))
    ppmi = np.where((co > 0) & (pmi > 0), pmi, 0.0)
    u, s, _ = np.linalg.svd(ppmi)
    vec = u[:, :k] * np.sqrt(s[:k])
    signs = np.sign(vec[np.abs(vec).argmax(axis=0), np.arange(k)])
    vec = vec * signs
    norms = np.linalg.norm(vec, axis=1, keepdims=True)
    return np.where(norms > 0, vec / np.maximum(norms, 1e-12), 0.0), x.sum(axis=0) > 0


def _events(seed=0, n_users=60, n_items=40, n=500):
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n)
    # two taste groups, so the PPMI matrix has a clear low-rank part
    items = (users % 2) * (n_items // 2) + rng.integers(0, n_items // 2, n)
    items[items == n_items - 1] = 0  # the last item never seen: no behaviour
    users[:6], items[:6] = 3, 5      # a repeated pair counts once
    return users, items


def test_vectors_match_a_dense_ppmi_svd():
    users, items = _events()
    k = 6
    vec, has = ppmi_svd(users, items, 60, 40, k, seed=0)
    ref, ref_has = _dense_reference(users, items, 60, 40, k)
    assert vec.dtype == np.float32 and vec.shape == (40, k)
    np.testing.assert_array_equal(has, ref_has)
    assert not has[39] and not vec[39].any()
    np.testing.assert_allclose(vec, ref, atol=2e-4)


def test_an_item_alone_in_every_history_has_behaviour_but_no_vector():
    # item 7 is only ever the single item of user 59: it co-occurs with nothing (not with
    # itself either), so it is seen (has = True) but its PPMI row is empty
    users, items = _events(seed=1)
    keep = (items != 7) & (users != 59)
    users, items = np.append(users[keep], 59), np.append(items[keep], 7)
    vec, has = ppmi_svd(users, items, 60, 40, 6, seed=0)
    assert has[7] and not vec[7].any()
    assert np.allclose(np.linalg.norm(vec[has & vec.any(axis=1)], axis=1), 1.0, atol=1e-5)


def test_reruns_are_identical():
    users, items = _events(seed=2)
    a, _ = ppmi_svd(users, items, 60, 40, 6, seed=3)
    b, _ = ppmi_svd(users, items, 60, 40, 6, seed=3)
    np.testing.assert_array_equal(a, b)
