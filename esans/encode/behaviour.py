"""Behaviour item vectors from *train* interactions only: PPMI of item co-occurrence + SVD.

Two items co-occur when one user interacted with both. The positive pointwise mutual
information of that co-occurrence, factorised by a truncated SVD, gives item2vec-like vectors
(Levy & Goldberg 2014 show SGNS is an implicit PMI factorisation). Items with no train
interaction get a zero vector and ``has_behaviour = False``.

The PPMI matrix is symmetric, so its top singular vectors are its eigenvectors of largest
magnitude (singular value = |eigenvalue|): one Lanczos run on the matrix itself (``eigsh``),
in float32, gives them with fewer and cheaper matrix products than ``svds``, which iterates on
the matrix's square (`bench/behaviour_svd.py` compares the two).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import eigsh


def ppmi_matrix(user_idx: np.ndarray, item_idx: np.ndarray, n_users: int,
                n_items: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """Return (the (n_items, n_items) float32 PPMI matrix, (n_items,) bool has_behaviour)."""
    # float64 counts (exact) and PPMI computed in place on the co-occurrence CSR, a chunk of
    # entries at a time: at 1M items x 10M events the matrix holds ~250M pairs, and COO
    # copies of it (row, col, data, mask, filtered copies) would multiply the stage's peak
    # memory.
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
    step = 1 << 24
    for lo in range(0, co.nnz, step):   # total == 0: every entry is 0, none is live
        d = co.data[lo:lo + step]
        live = d > 0
        pmi = np.log(d[live] * total / (counts[rows[lo:lo + step][live]]
                                        * counts[co.indices[lo:lo + step][live]]))
        d[live] = np.where(pmi > 0, pmi, 0.0)
    del rows
    co.eliminate_zeros()  # the positive part: PPMI
    co.data = co.data.astype(np.float32)   # only the values are copied, not the indices
    return co, has


def top_eigen(ppmi: sp.csr_matrix, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` singular values (descending) and vectors of the symmetric ``ppmi``."""
    v0 = np.random.default_rng(seed).standard_normal(ppmi.shape[0]).astype(ppmi.dtype)
    w, u = eigsh(ppmi, k=k, which="LM", v0=v0)
    order = np.argsort(-np.abs(w))
    return np.abs(w[order]).astype(np.float64), u[:, order].astype(np.float64)


def embed(u: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Item vectors u * sqrt(s), each component's sign fixed (reruns give identical vectors),
    rows L2-normalised (zero rows stay zero)."""
    vec = u * np.sqrt(s)
    signs = np.sign(vec[np.abs(vec).argmax(axis=0), np.arange(vec.shape[1])])
    vec = vec * np.where(signs == 0, 1, signs)
    norms = np.linalg.norm(vec, axis=1, keepdims=True)
    return np.where(norms > 0, vec / np.maximum(norms, 1e-12), 0.0)


def ppmi_svd(user_idx: np.ndarray, item_idx: np.ndarray, n_users: int, n_items: int,
             dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return ((n_items, dim) float32 L2-normalised vectors, (n_items,) bool has_behaviour)."""
    ppmi, has = ppmi_matrix(user_idx, item_idx, n_users, n_items)
    out = np.zeros((n_items, dim), np.float32)
    if ppmi.nnz == 0:
        return out, has
    k = min(dim, n_items - 2)
    s, u = top_eigen(ppmi, k, seed)
    del ppmi
    out[:, :k] = embed(u, s).astype(np.float32)
    out[~has] = 0.0
    return out, has
