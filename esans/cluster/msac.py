"""Multimodal Semantic-Aware Clustering: a two-level k-means codebook over item vectors.

Level 1 is k-means (faiss) over all items. Level 2 is k-means on the residuals
(vector - its level-1 centroid) inside each level-1 cluster. Clusters smaller than
``min_size`` are dissolved into the nearest remaining centroid, at both levels.
Level-2 ids are global (unique across level-1 clusters).

Memory and time stay bounded at millions of items: each k-means trains on a random sample of
at most ``max_points_per_centroid`` points per centroid, and assignment runs in batches.
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


def assign(x: np.ndarray, centroids: np.ndarray, batch: int = 65_536) -> np.ndarray:
    """Nearest centroid (L2) of each row of ``x``, ``batch`` rows at a time."""
    index = faiss.IndexFlatL2(centroids.shape[1])
    index.add(np.ascontiguousarray(centroids, np.float32))
    out = np.empty(len(x), np.int64)
    for s in range(0, len(x), batch):
        _, a = index.search(np.ascontiguousarray(x[s:s + batch], np.float32), 1)
        out[s:s + batch] = a.ravel()
    return out


def kmeans(x: np.ndarray, k: int, niter: int, seed: int,
           max_points_per_centroid: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """faiss k-means trained on a sample of at most ``max_points_per_centroid * k`` rows;
    returns (centroids (k, d), assignment of every row (N,))."""
    k = max(1, min(k, len(x)))
    if k == 1:
        return np.asarray(x, np.float32).mean(0, keepdims=True), np.zeros(len(x), np.int64)
    n_train = min(len(x), max_points_per_centroid * k)
    rows = (np.sort(np.random.default_rng(seed).choice(len(x), n_train, replace=False))
            if n_train < len(x) else slice(None))
    km = faiss.Kmeans(x.shape[1], k, niter=niter, seed=seed, verbose=False,
                      min_points_per_centroid=1, max_points_per_centroid=max_points_per_centroid)
    km.train(np.ascontiguousarray(x[rows], np.float32))
    return km.centroids.copy(), assign(x, km.centroids)


def cluster_means(x: np.ndarray, assign: np.ndarray, k: int) -> np.ndarray:
    """(k, d) mean of the rows of ``x`` in each cluster 0..k-1 (zeros for an empty one)."""
    order = np.argsort(assign, kind="stable")
    sizes = np.bincount(assign, minlength=k)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    sums = np.zeros((k, x.shape[1]), np.float64)
    nz = sizes > 0
    sums[nz] = np.add.reduceat(x[order].astype(np.float64), starts[nz], axis=0)
    return (sums / np.maximum(sizes, 1)[:, None]).astype(np.float32)


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
    new_assign = remap[assign]
    return cluster_means(x, new_assign, len(used)), new_assign


def msac(x: np.ndarray, n_l1: int, n_l2: int, min_size: int, niter: int = 25,
         seed: int = 0) -> Clusters:
    """Two-level clustering of item vectors ``x`` (N, d)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    c1, a1 = kmeans(x, n_l1, niter, seed)
    c1, a1 = merge_small(x, c1, a1, min_size)
    resid = x - c1[a1]
    l2 = np.empty(len(x), np.int64)
    cents2, parents = [], []
    by_cluster = np.argsort(a1, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(a1, minlength=len(c1)))])
    for c in range(len(c1)):
        members = by_cluster[bounds[c]:bounds[c + 1]]
        k2 = max(1, min(n_l2, len(members) // max(1, min_size)))
        c2, a2 = kmeans(resid[members], k2, niter, seed + 1 + c)
        c2, a2 = merge_small(resid[members], c2, a2, min_size)
        l2[members] = a2 + len(parents)
        cents2.append(c2)
        parents.extend([c] * len(c2))
    return Clusters(l1=a1, l2=l2, centroids1=c1, centroids2=np.concatenate(cents2),
                    parent=np.asarray(parents, np.int64))
