"""Item tags (categories, brands, attributes) as vectors: TF-IDF, then a truncated SVD.

Each item is the bag of its tags; a tag's weight is its inverse document frequency over the
catalogue (a brand on 5 items says more than a top-level category on 5,000), rows are
L2-normalised, and the SVD keeps the ``dim`` directions that explain most of the matrix
(latent semantic analysis). Tags carried by fewer than ``min_items`` items are dropped: they
say nothing two items share. Items without tags get a zero vector and ``has = False``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds


def vocabulary(tags: list[list[str] | None], min_items: int = 1) -> list[str]:
    """The tags carried by at least ``min_items`` items, sorted."""
    counts: dict[str, int] = {}
    for ts in tags:
        for t in set(ts or ()):
            counts[t] = counts.get(t, 0) + 1
    return sorted(t for t, c in counts.items() if c >= min_items)


def tfidf(tags: list[list[str] | None], vocab: list[str]) -> sp.csr_matrix:
    """(items, tags) TF-IDF matrix, rows L2-normalised (smooth idf, as scikit-learn's)."""
    col = {t: j for j, t in enumerate(vocab)}
    rows, cols = [], []
    for i, ts in enumerate(tags):
        for j in sorted({col[t] for t in (ts or ()) if t in col}):
            rows.append(i)
            cols.append(j)
    n = len(tags)
    x = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, len(vocab)))
    df = np.bincount(cols, minlength=len(vocab))
    x = x @ sp.diags(np.log((1 + n) / (1 + df)) + 1.0)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(1)).ravel())
    return sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ x)


def tags_svd(tags: list[list[str] | None], dim: int, min_items: int = 2,
             seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``((n_items, k) float32 L2-normalised vectors, (n_items,) bool has_tags)``, with
    ``k = min(dim, tags kept)``; (n_items, 0) when no item has a kept tag."""
    vocab = vocabulary(tags, min_items)
    n = len(tags)
    x = tfidf(tags, vocab)
    has = np.asarray(x.getnnz(axis=1) > 0)
    k = min(dim, len(vocab), n)
    if k == 0 or not has.any():
        return np.zeros((n, 0), np.float32), np.zeros(n, bool)
    if k >= min(x.shape) - 1:        # ARPACK needs k < min(shape): small vocabularies
        u, s, _ = np.linalg.svd(x.toarray(), full_matrices=False)
        u, s = u[:, :k], s[:k]
    else:
        v0 = np.random.default_rng(seed).standard_normal(min(x.shape))
        u, s, _ = svds(x, k=k, v0=v0, random_state=seed)
        order = np.argsort(-s)
        u, s = u[:, order], s[order]
    vec = u * s
    # Fix each component's sign so reruns give identical vectors.
    signs = np.sign(vec[np.abs(vec).argmax(axis=0), np.arange(vec.shape[1])])
    vec = vec * np.where(signs == 0, 1, signs)
    norms = np.linalg.norm(vec, axis=1, keepdims=True)
    vec = np.where(norms > 0, vec / np.maximum(norms, 1e-12), 0.0)
    vec[~has] = 0.0
    return vec.astype(np.float32), has
