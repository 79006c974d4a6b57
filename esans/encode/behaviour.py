"""Behaviour item vectors from *train* interactions only: PPMI of item co-occurrence + SVD.

Two items co-occur when one user interacted with both. The positive pointwise mutual
information of that co-occurrence, factorised by a truncated SVD, gives item2vec-like vectors
(Levy & Goldberg 2014 show SGNS is an implicit PMI factorisation). Items with no train
interaction get a zero vector and ``has_behaviour = False``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds


def ppmi_svd(user_idx: np.ndarray, item_idx: np.ndarray, n_users: int, n_items: int,
             dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return ((n_items, dim) float32 L2-normalised vectors, (n_items,) bool has_behaviour)."""
    x = sp.csr_matrix((np.ones(len(user_idx), np.float32), (user_idx, item_idx)),
                      shape=(n_users, n_items))
    x.data[:] = 1.0  # binary even if a pair repeats
    co = (x.T @ x).tocsr().astype(np.float64)
    co.setdiag(0)
    co.eliminate_zeros()
    counts = np.asarray(co.sum(axis=1)).ravel()
    total = counts.sum()
    has = np.asarray(x.sum(axis=0)).ravel() > 0
    out = np.zeros((n_items, dim), np.float32)
    if total == 0:
        return out, has
    coo = co.tocoo()
    pmi = np.log(coo.data * total / (counts[coo.row] * counts[coo.col]))
    keep = pmi > 0
    ppmi = sp.csr_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=co.shape)
    k = min(dim, n_items - 2)
    rng = np.random.default_rng(seed)
    v0 = rng.standard_normal(n_items)
    u, s, _ = svds(ppmi, k=k, v0=v0, random_state=seed)
    order = np.argsort(-s)
    vec = u[:, order] * np.sqrt(s[order])
    # Fix each component's sign so reruns give identical vectors.
    signs = np.sign(vec[np.abs(vec).argmax(axis=0), np.arange(vec.shape[1])])
    vec = vec * np.where(signs == 0, 1, signs)
    norms = np.linalg.norm(vec, axis=1, keepdims=True)
    vec = np.where(norms > 0, vec / np.maximum(norms, 1e-12), 0.0)
    out[:, :k] = vec.astype(np.float32)
    out[~has] = 0.0
    return out, has
