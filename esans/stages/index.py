"""The ``index`` stage."""

from __future__ import annotations

import time

import numpy as np

from esans import paths
from esans.config import Params
from esans.io import atomic_dir
from esans.stages.common import write_report



def index(p: Params) -> dict:
    import faiss
    import torch

    from esans.model.towers import load

    t0 = time.perf_counter()
    model, _ = load(paths.MODELS)
    with torch.inference_mode():
        vecs = model.all_items().numpy().astype(np.float32)
    idx = faiss.IndexFlatIP(vecs.shape[1])
    idx.add(vecs)
    report = {"n_items": int(idx.ntotal), "dim": int(vecs.shape[1]), "type": "IndexFlatIP"}
    serving, latency = None, {}
    if p.index.serving == "ivf":
        from esans import ann

        nlist = max(1, min(p.index.nlist, len(vecs) // 39))
        serving = ann.build_ivf(vecs, nlist, p.index.nprobe, seed=p.seed)
        # quality and speed on item queries (similar-items), against the exact index
        q = vecs[np.random.default_rng(p.seed).choice(len(vecs), min(1000, len(vecs)),
                                                      replace=False)]
        k = min(200, len(vecs))
        _, exact = idx.search(q, k)
        _, approx = serving.search(q, k)
        report["serving"] = {"type": "IndexIVFFlat", "nlist": nlist, "nprobe": p.index.nprobe,
                             f"recall@{k}_vs_exact": round(ann.recall_vs_exact(approx, exact), 4)}
        latency = {**{f"ivf_{a}": round(b, 4) for a, b in
                      ann.latency_ms(serving, q[:200], k).items()},
                   **{f"exact_{a}": round(b, 4) for a, b in
                      ann.latency_ms(idx, q[:200], k).items()}}
    with atomic_dir(paths.INDEX) as out:
        faiss.write_index(idx, str(out / "items.faiss"))
        if serving is not None:
            faiss.write_index(serving, str(out / "serving.faiss"))
        np.save(out / "item_vectors.npy", vecs)
    report = write_report("index", report, t0, **latency)
    return report
