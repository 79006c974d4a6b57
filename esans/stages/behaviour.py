"""The ``behaviour`` stage."""

from __future__ import annotations

import time

import numpy as np

from esans import paths
from esans.config import Params
from esans.io import atomic_dir
from esans.stages.common import split_table, write_report


def behaviour(p: Params) -> dict:
    from esans.encode.behaviour import ppmi_svd

    t0 = time.perf_counter()
    train = split_table("train")
    n_users, n_items = split_table("users").height, split_table("items").height
    vec, has = ppmi_svd(train["user_idx"].to_numpy(), train["item_idx"].to_numpy(), n_users,
                        n_items, p.behaviour.dim, p.seed)
    with atomic_dir(paths.BEHAVIOUR) as out:
        np.save(out / "vectors.npy", vec)
        np.save(out / "has.npy", has)
    report = {"n_items": n_items, "dim": int(vec.shape[1]), "items_with_behaviour": int(has.sum())}
    report = write_report("behaviour", report, t0)
    return report
