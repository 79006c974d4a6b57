"""The ``train`` stage."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np
import polars as pl

from esans import paths
from esans.config import Params
from esans.io import atomic_dir, atomic_path, write_json
from esans.stages.common import write_report
from esans.train_data import load_train_data

log = logging.getLogger("esans")


CHECKPOINT = Path(".cache/train/checkpoint.pt")


def run_key(p: Params, data) -> str:
    """What a checkpoint must match to be resumed: train params, seed and the input arrays."""
    h = hashlib.sha256(json.dumps({"train": p.train.model_dump(), "seed": p.seed},
                                  sort_keys=True).encode())
    for arr in (data.train_users, data.train_items, data.train_pos, data.valid_users,
                data.valid_items, data.content, data.l1, data.l2, data.centroids1):
        if arr is not None:
            h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def train(p: Params) -> dict:
    import torch

    from esans import distributed
    from esans.trainer import fit

    t0 = time.perf_counter()
    world = distributed.init()       # torchrun --nproc_per_node N: data-parallel ranks
    data = load_train_data(Path("."), p)
    res = fit(p.train, data, p.seed, log=log.info if world.is_main else lambda s: None,
              checkpoint=CHECKPOINT, key=run_key(p, data),
              progress=log.isEnabledFor(logging.INFO))  # a bar with ETA unless --quiet
    report = {"sampler": res.sampler, "sampler_choice": res.sampler_choice,
              "edis": res.edis,
              "epochs_run": len(res.history), "best_epoch": res.best_epoch,
              "best_valid_recall@50": res.best_valid_recall50,
              "world_size": world.size}
    if not world.is_main:            # every rank holds the same weights; rank 0 writes
        return report
    with atomic_dir(paths.MODELS) as out:
        torch.save(res.model.state_dict(), out / "model.pt")
        write_json({"n_users": data.n_users, "n_items": data.n_items,
                    "content_dim": int(data.content.shape[1]), "dim": p.train.dim,
                    "history_len": p.train.history_len, "sampler": res.sampler,
                    "best_epoch": res.best_epoch}, out / "meta.json")
    with atomic_path(paths.REPORTS / "train_history.csv") as tmp:
        pl.DataFrame(res.history).drop("seconds", "train_seconds", strict=False).write_csv(tmp)
    report = write_report("train", report, t0, mean_step_ms=round(1000 * res.mean_step_s, 3),
                          epoch_seconds=[round(r["seconds"], 3) for r in res.history])
    return report

