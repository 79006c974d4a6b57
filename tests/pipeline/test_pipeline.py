"""`dvc repro` end to end on a tiny synthetic config, then a no-op re-run."""

import json

import numpy as np
import polars as pl
import pytest

from tests.conftest import BIN, copy_project, run

pytestmark = pytest.mark.slow


def _recompute_recall(project, k):
    """Recall@k from the published top-200 lists and splits alone (original ids)."""
    top = pl.read_parquet(project / "data/evaluate/top200_test.parquet")
    test = pl.read_parquet(project / "data/evaluate/test.parquet")
    truth = test.group_by("user_id").agg(pl.col("item_id"))
    hits = (top.filter(pl.col("rank") <= k).join(test, on=["user_id", "item_id"])
            .group_by("user_id").len())
    df = truth.join(hits, on="user_id", how="left").with_columns(pl.col("len").fill_null(0))
    return float((df["len"] / df["item_id"].list.len()).mean())


def test_dvc_repro_end_to_end_then_noop(built_project):
    p = built_project
    metrics = json.loads((p / "metrics.json").read_text())
    for k in (20, 50, 100, 200):
        assert 0 < metrics["test"][f"recall@{k}"] <= 1
    assert metrics["test"]["recall@200"] >= metrics["test"]["recall@20"]
    # the published lists and splits let anyone recompute the metrics
    assert _recompute_recall(p, 50) == pytest.approx(metrics["test"]["recall@50"], abs=1e-6)
    top = pl.read_parquet(p / "data/evaluate/top200_test.parquet")
    # seen items (train + valid) never appear in a user's list; the list holds 200 items or
    # every unseen item when fewer are left
    seen = pl.concat([pl.read_parquet(p / f"data/evaluate/{s}.parquet") for s in ("train",
                                                                                  "valid")])
    assert top.join(seen, on=["user_id", "item_id"]).height == 0
    n_seen = dict(seen.group_by("user_id").len().iter_rows())
    for user, n in top.group_by("user_id").len().iter_rows():
        assert n == min(200, 240 - n_seen.get(user, 0)), user
    assert top.filter(pl.col("rank") > pl.len().over("user_id")).height == 0
    # splits partition the ingested interactions
    n = sum(pl.read_parquet(p / f"data/evaluate/{s}.parquet").height
            for s in ("train", "valid", "test"))
    assert n == json.loads((p / "reports/ingest.json").read_text())["n_interactions"]
    # the latent topics show up in the clusters
    assert json.loads((p / "reports/cluster.json").read_text())["nmi_l1"] > 0.5
    assert (p / "reports/index.html").stat().st_size > 1000
    assert np.load(p / "data/fuse/items.npy").shape[0] == 240

    lock = (p / "dvc.lock").read_bytes()
    again = run([str(BIN / "dvc"), "repro"], p, timeout=300)
    out = again.stdout + again.stderr
    # only the cheap source fingerprint reruns; it comes out identical, so ingest and all
    # after it are skipped and nothing in dvc.lock moves
    assert "Running stage 'source'" in out and (p / "dvc.lock").read_bytes() == lock
    assert json.loads((p / "reports/timings/ingest.json").read_text())["seconds"] > 0
    for stage in ("ingest", "split", "encode", "behaviour", "fuse", "cluster", "train", "evaluate"):
        assert f"Stage '{stage}' didn't change, skipping" in out, out



def test_a_thread_count_change_reruns_nothing_upstream_of_train(built_project, tmp_path):
    p = copy_project(built_project, tmp_path / "p", {"train": {"threads": 1}})
    status = json.loads(run([str(BIN / "dvc"), "status", "--json"], p).stdout)
    stale = {k for k, v in status.items() if v != ["always changed"]}
    upstream = {"ingest", "validate", "split", "encode", "behaviour", "fuse", "cluster"}
    assert "train" in stale and not stale & upstream, status
    assert "evaluate" not in stale     # not a param of evaluate: it reruns only on a new model
