"""Multimodal Semantic-Aware Clustering: a two-level k-means codebook over item vectors.

Level 1 is k-means (faiss) over all items. Level 2 is k-means on the residuals
(vector - its level-1 centroid) inside each level-1 cluster. Clusters smaller than
``min_size`` are dissolved into the nearest remaining centroid, at both levels.
Level-2 ids are global (unique across level-1 clusters).
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np


@dataclass(frozen=True)
class Clusters:
    l1: np.ndarray          # (N,) level-1 cluster per item, 0..K1-1
    l2: np.ndarray          # (N,) global level-2 cluster per item, 0..K2-1
    centroids1: np.ndarray  # (K1, d)
    centroids2: np.ndarray  # (K2, d) residual centroids
    parent: np.ndarray      # (K2,) level-1 cluster of each level-2 cluster


def kmeans(x: np.ndarray, k: int, niter: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """faiss k-means; returns (centroids (k, d), assignment (N,))."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    k = max(1, min(k, len(x)))
    if k == 1:
        c = x.mean(0, keepdims=True)
        return c, np.zeros(len(x), np.int64)
    km = faiss.Kmeans(x.shape[1], k, niter=niter, seed=seed, verbose=False,
                      min_points_per_centroid=1, max_points_per_centroid=100_000)
    km.train(x)
    _, assign = km.index.search(x, 1)
    return km.centroids.copy(), assign.ravel().astype(np.int64)


def merge_small(x: np.ndarray, centroids: np.ndarray, assign: np.ndarray,
                min_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Dissolve clusters with fewer than ``min_size`` members into their nearest neighbours.

    Returns renumbered (centroids, assignment) with every cluster at least ``min_size``
    (unless only one cluster remains).
    """
    centroids, assign = centroids.copy(), assign.copy()
    while True:
        sizes = np.bincount(assign, minlength=len(centroids))
        alive = sizes > 0
        small = alive & (sizes < min_size)
        if not small.any() or alive.sum() <= 1:
            break
        worst = int(np.argmin(np.where(small, sizes, np.iinfo(np.int64).max)))
        keep = np.flatnonzero(alive)
        keep = keep[keep != worst]
        members = np.flatnonzero(assign == worst)
        d = ((x[members, None, :] - centroids[None, keep, :]) ** 2).sum(-1)
        assign[members] = keep[d.argmin(1)]
    used = np.flatnonzero(np.bincount(assign, minlength=len(centroids)) > 0)
    remap = np.full(len(centroids), -1, np.int64)
    remap[used] = np.arange(len(used))
    new_centroids = np.stack([x[assign == c].mean(0) for c in used]).astype(np.float32)
    return new_centroids, remap[assign]


def msac(x: np.ndarray, n_l1: int, n_l2: int, min_size: int, niter: int = 25,
         seed: int = 0) -> Clusters:
    """Two-level clustering of item vectors ``x`` (N, d)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    c1, a1 = kmeans(x, n_l1, niter, seed)
    c1, a1 = merge_small(x, c1, a1, min_size)
    resid = x - c1[a1]
    l2 = np.empty(len(x), np.int64)
    cents2, parents = [], []
    for c in range(len(c1)):
        members = np.flatnonzero(a1 == c)
        k2 = max(1, min(n_l2, len(members) // max(1, min_size)))
        c2, a2 = kmeans(resid[members], k2, niter, seed + 1 + c)
        c2, a2 = merge_small(resid[members], c2, a2, min_size)
        l2[members] = a2 + len(parents)
        cents2.append(c2)
        parents.extend([c] * len(c2))
    return Clusters(l1=a1, l2=l2, centroids1=c1, centroids2=np.concatenate(cents2),
                    parent=np.asarray(parents, np.int64))
