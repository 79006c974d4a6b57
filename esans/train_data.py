"""What training reads from a project: the split, the fused item vectors and (for samplers
that draw from clusters) the MSAC assignments, as one ``TrainData``. The train stage and the
benches call this; paths resolve against the project root passed in, never the working
directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from esans import paths
from esans.config import Params
from esans.io import read_npy, read_parquet


def load_train_data(root: str | Path, p: Params):
    """``TrainData`` for ``p`` from the project at ``root`` (its split, fuse and cluster
    outputs). With ``train.valid_users`` > 0, early stopping scores a fixed sample of the
    validation users (drawn with ``seed``)."""
    from esans.rank import sample_users
    from esans.trainer import TrainData

    root = Path(root)
    split = {n: read_parquet(root / paths.SPLIT / f"{n}.parquet")
             for n in ("users", "items", "train", "valid")}
    train, valid = split["train"], split["valid"]
    kw = {}
    if p.train.needs_clusters:
        a = read_parquet(root / paths.CLUSTER / "assignments.parquet")
        kw = {"l1": a["l1"].to_numpy(), "l2": a["l2"].to_numpy(),
              "centroids1": read_npy(root / paths.CLUSTER / "centroids1.npy")}
    vu = valid["user_idx"].to_numpy()
    users = np.unique(vu)
    keep = sample_users(users, p.train.valid_users, p.seed)  # the same users every epoch
    if len(keep) < len(users):
        valid = valid.filter(pl.Series(np.isin(vu, keep)))
    return TrainData(
        n_users=split["users"].height, n_items=split["items"].height,
        train_users=train["user_idx"].to_numpy(), train_items=train["item_idx"].to_numpy(),
        train_pos=train["pos"].to_numpy(), valid_users=valid["user_idx"].to_numpy(),
        valid_items=valid["item_idx"].to_numpy(),
        content=read_npy(root / paths.FUSE / "items.npy"), **kw)
