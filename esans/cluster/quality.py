"""Cluster quality against known labels (synthetic topics, MovieLens genres)."""

from __future__ import annotations

import numpy as np


def _contingency(labels: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    _, li = np.unique(labels, return_inverse=True)
    _, ci = np.unique(clusters, return_inverse=True)
    table = np.zeros((li.max() + 1, ci.max() + 1), np.float64)
    np.add.at(table, (li, ci), 1)
    return table


def purity(labels: np.ndarray, clusters: np.ndarray) -> float:
    """Share of items whose cluster's majority label is their own label."""
    t = _contingency(labels, clusters)
    return float(t.max(axis=0).sum() / t.sum())


def nmi(labels: np.ndarray, clusters: np.ndarray) -> float:
    """Normalised mutual information (arithmetic mean of entropies), in [0, 1]."""
    t = _contingency(labels, clusters)
    n = t.sum()
    pij = t / n
    pi, pj = pij.sum(1), pij.sum(0)
    nz = pij > 0
    mi = (pij[nz] * np.log(pij[nz] / np.outer(pi, pj)[nz])).sum()
    h = lambda p: -(p[p > 0] * np.log(p[p > 0])).sum()  # noqa: E731
    denom = (h(pi) + h(pj)) / 2
    return float(mi / denom) if denom > 0 else 1.0
