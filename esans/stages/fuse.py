"""The ``fuse`` stage."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import polars as pl

from esans import paths
from esans.config import Params
from esans.errors import EsansError
from esans.io import atomic_dir, atomic_path
from esans.stages.common import write_report



def fuse(p: Params) -> dict:
    import torch

    from esans.encode.fuse import align, modality_inputs
    from esans.encode.fuse import fuse as fuse_vectors

    t0 = time.perf_counter()
    torch.set_num_threads(p.train.threads)
    feats, masks = modality_inputs(Path("."))
    present = list(feats)
    feats = {m: v for m, v in feats.items() if p.fuse.weights.get(m, 0) > 0}
    if not feats:
        raise EsansError(f"fuse.weights: every modality this catalogue has ({present}) has "
                         f"weight 0; give at least one a weight > 0", rule="params")
    masks = {m: masks[m] for m in feats}
    proj, losses = align(feats, masks, p.fuse.dim, p.fuse.epochs, p.fuse.lr,
                         p.fuse.temperature, p.seed)
    fused = fuse_vectors(proj, masks, dict(p.fuse.weights))
    with atomic_dir(paths.FUSE) as out:
        np.save(out / "items.npy", fused)
    with atomic_path(paths.REPORTS / "fuse_loss.csv") as tmp:
        pl.DataFrame({"step": np.arange(1, len(losses) + 1), "loss": losses}).write_csv(tmp)
    report = {"dim": int(fused.shape[1]), "modalities": list(feats),
              "final_loss": losses[-1] if losses else None,
              "coverage": {m: float(masks[m].mean()) for m in masks}}
    report = write_report("fuse", report, t0)
    return report
