"""The ``index`` stage."""

from __future__ import annotations

import logging
import time

import numpy as np

from esans import paths
from esans.config import Params
from esans.io import atomic_dir, write_json
from esans.stages.common import load_model, timed

log = logging.getLogger("esans")


def index(p: Params) -> dict:
    import faiss
    import torch

    t0 = time.perf_counter()
    model, _ = load_model()
    with torch.inference_mode():
        vecs = model.all_items().numpy().astype(np.float32)
    idx = faiss.IndexFlatIP(vecs.shape[1])
    idx.add(vecs)
    with atomic_dir(paths.INDEX) as out:
        faiss.write_index(idx, str(out / "items.faiss"))
        np.save(out / "item_vectors.npy", vecs)
    report = {"n_items": int(idx.ntotal), "dim": int(vecs.shape[1]), "type": "IndexFlatIP"}
    write_json(timed(report, t0), paths.report("index"))
    return report
