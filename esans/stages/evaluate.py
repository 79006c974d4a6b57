"""The ``evaluate`` stage."""

from __future__ import annotations

import time

import numpy as np
import polars as pl

from esans import paths
from esans.config import Params
from esans.io import atomic_dir, atomic_path, read_npy, write_json
from esans.stages.common import split_table, write_report


def evaluate(p: Params) -> dict:
    import faiss
    import torch

    from esans.model.towers import load
    from esans.rank import evaluate_splits

    t0 = time.perf_counter()
    torch.set_num_threads(p.train.threads)
    model, meta = load(paths.MODELS)
    idx = faiss.read_index(str(paths.INDEX / "items.faiss"))
    item_vecs = torch.from_numpy(read_npy(paths.INDEX / "item_vectors.npy"))
    users_t, items_t = split_table("users"), split_table("items")
    train, valid, test = (split_table(n) for n in ("train", "valid", "test"))
    metrics, tops = evaluate_splits(
        model, {"train": train, "valid": valid, "test": test}, users_t.height,
        meta["history_len"], p.evaluate.ks, users=p.evaluate.users, seed=p.seed,
        item_vecs=item_vecs, index=idx, batch=p.evaluate.batch_users)
    users, top = tops["test"]
    uid = users_t["user_id"].to_numpy()[users]
    iid = items_t["item_id"].to_numpy()[np.maximum(top, 0)]
    top_df = pl.DataFrame({"user_id": np.repeat(uid, top.shape[1]),
                           "rank": np.tile(np.arange(1, top.shape[1] + 1), len(users)),
                           "item_id": iid.reshape(-1)}).filter(pl.Series(top.reshape(-1) >= 0))
    with atomic_dir(paths.EVALUATE) as out:
        top_df.write_parquet(out / "top200_test.parquet")
        for name, df in (("train", train), ("valid", valid), ("test", test)):
            df.select("user_id", "item_id", "timestamp").write_parquet(out / f"{name}.parquet")
    curve = pl.DataFrame({"k": p.evaluate.ks,
                          "recall": [metrics["test"][f"recall@{k}"] for k in p.evaluate.ks],
                          "ndcg": [metrics["test"][f"ndcg@{k}"] for k in p.evaluate.ks]})
    with atomic_path(paths.REPORTS / "recall_at_k.csv") as tmp:
        curve.write_csv(tmp)
    metrics["sampler"] = meta.get("sampler", p.train.sampler)   # auto: what it resolved to
    metrics["source"] = p.data.source
    write_json(metrics, paths.METRICS)
    write_report("evaluate", {"test_users": len(users)}, t0)
    return metrics
