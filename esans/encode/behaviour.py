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
    # float64 from the start (counts are exact either way) and PPMI computed in place on the
    # co-occurrence CSR, a chunk of entries at a time: at 1M items x 10M events the matrix
    # holds ~250M pairs, and COO copies of it (row, col, data, mask, filtered copies) would
    # multiply the stage's peak memory.
    x = sp.csr_matrix((np.ones(len(user_idx), np.float64), (user_idx, item_idx)),
                      shape=(n_users, n_items))
    x.data[:] = 1.0  # binary even if a pair repeats
    co = (x.T @ x).tocsr()
    del x
    rows = np.repeat(np.arange(n_items, dtype=co.indices.dtype), np.diff(co.indptr))
    co.data[rows == co.indices] = 0.0  # an item does not co-occur with itself
    counts = np.bincount(rows, weights=co.data, minlength=n_items)
    total = counts.sum()
    has = np.zeros(n_items, bool)
    has[item_idx] = True
    out = np.zeros((n_items, dim), np.float32)
    if total == 0:
        return out, has
    step = 1 << 24
    for lo in range(0, co.nnz, step):
        d = co.data[lo:lo + step]
        live = d > 0
        pmi = np.log(d[live] * total / (counts[rows[lo:lo + step][live]]
                                        * counts[co.indices[lo:lo + step][live]]))
        d[live] = np.where(pmi > 0, pmi, 0.0)
    del rows
    co.eliminate_zeros()  # the positive part: PPMI
    ppmi = co
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
