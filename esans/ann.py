"""Approximate nearest-neighbour serving indexes (faiss IVF), measured against exact search.

Evaluation always uses exact inner-product search (``IndexFlatIP``); serving at millions of
items uses an inverted-file index, whose quality is reported as its recall@K of the exact
top-K and its latency per query.
"""

from __future__ import annotations

import time

import faiss
import numpy as np


def build_ivf(vecs: np.ndarray, nlist: int, nprobe: int, seed: int = 0,
              max_train: int = 256) -> faiss.IndexIVFFlat:
    """IVF-Flat over inner product; the coarse quantiser trains on a sample of at most
    ``max_train * nlist`` vectors."""
    vecs = np.ascontiguousarray(vecs, np.float32)
    quantiser = faiss.IndexFlatIP(vecs.shape[1])
    index = faiss.IndexIVFFlat(quantiser, vecs.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    n_train = min(len(vecs), max_train * nlist)
    rows = np.sort(np.random.default_rng(seed).choice(len(vecs), n_train, replace=False))
    index.cp.seed = seed
    index.train(vecs[rows])
    for s in range(0, len(vecs), 262_144):
        index.add(vecs[s:s + 262_144])
    index.nprobe = nprobe
    return index


def recall_vs_exact(approx: np.ndarray, exact: np.ndarray) -> float:
    """Mean over queries of |approx top-K ∩ exact top-K| / K (ids, -1 = empty slot)."""
    hits = [len(np.intersect1d(a[a >= 0], e[e >= 0])) / max(1, (e >= 0).sum())
            for a, e in zip(approx, exact, strict=True)]
    return float(np.mean(hits)) if hits else 0.0


def latency_ms(index, queries: np.ndarray, k: int) -> dict:
    """Per-query latency, one query at a time (p50/p95, ms) and batched throughput (q/s)."""
    q = np.ascontiguousarray(queries, np.float32)
    one = []
    for row in q:
        t0 = time.perf_counter()
        index.search(row[None], k)
        one.append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    index.search(q, k)
    batched = time.perf_counter() - t0
    return {"p50_ms": float(np.percentile(one, 50)), "p95_ms": float(np.percentile(one, 95)),
            "batched_qps": float(len(q) / batched) if batched > 0 else None}
