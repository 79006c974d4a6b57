"""The ``fuse`` stage."""

from __future__ import annotations

import time

import numpy as np
import polars as pl

from esans import paths
from esans.config import Params
from esans.errors import EsansError
from esans.io import atomic_dir, atomic_path, read_npy, read_parquet
from esans.stages.common import write_report



def modality_inputs() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Every modality's item vectors and which items have it, from the encode and behaviour
    stages' outputs (a modality with no dimensions, e.g. text when vectors were provided, is
    left out)."""
    status = read_parquet(paths.ENCODE / "status.parquet")
    feats = {"text": read_npy(paths.ENCODE / "text.npy"),
             "image": read_npy(paths.ENCODE / "image.npy"),
             "behaviour": read_npy(paths.BEHAVIOUR / "vectors.npy")}
    masks = {"text": np.ones(len(status), bool),  # title is always there
             "image": status["has_image"].to_numpy(),
             "behaviour": read_npy(paths.BEHAVIOUR / "has.npy")}
    if (paths.ENCODE / "provided.npy").exists():  # the items' own vectors (files source)
        feats["provided"] = read_npy(paths.ENCODE / "provided.npy")
        masks["provided"] = np.ones(len(status), bool)
    keep = [m for m, v in feats.items() if v.shape[1] > 0]
    return {m: feats[m] for m in keep}, {m: masks[m] for m in keep}


def fuse(p: Params) -> dict:
    import torch

    from esans.encode.fuse import align
    from esans.encode.fuse import fuse as fuse_vectors

    t0 = time.perf_counter()
    torch.set_num_threads(p.train.threads)
    feats, masks = modality_inputs()
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
