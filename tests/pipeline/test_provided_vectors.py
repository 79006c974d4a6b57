"""Bring your own item vectors: a parquet catalogue with a `vector` column skips encoding."""

import json
import shutil

import numpy as np
import polars as pl
import pytest
from esans.cluster.quality import nmi

from esans.data.synthetic_scale import ScaleParams, generate
from tests.conftest import BIN, make_project, run

pytestmark = pytest.mark.slow


def test_files_source_with_precomputed_vectors_runs_without_encoders(tmp_path):
    p = make_project(tmp_path, {
        "data": {"source": "files",
                 "files": {"interactions": "raw/interactions", "items": "raw/items"}},
        "cluster": {"n_l1": 8, "n_l2": 4, "min_cluster_size": 3},
        "validate": {"min_interactions": 100}})
    # a streamed catalogue in parquet parts: 8 groups x 3 topics, items with 32-d vectors
    info = generate(ScaleParams(n_items=1500, n_users=300, n_events=6000, n_groups=8,
                                topics_per_group=3, dim=32, chunk_items=500, chunk_users=100),
                    p / "raw", seed=3)
    assert len(list((p / "raw/items").glob("part-*.parquet"))) == 3
    assert len(list((p / "raw/interactions").glob("part-*.parquet"))) == 3
    run([str(BIN / "dvc"), "repro"], p, timeout=900)
    # outputs restored from DVC's cache (as every `dvc exp run` restores them) leave nothing
    # stale or missing: the ingest folder keeps its images folder though it holds no image
    shutil.rmtree(p / "data/ingest")
    run([str(BIN / "dvc"), "checkout", "data/ingest"], p)
    assert (p / "data/ingest/images").is_dir()
    status = run([str(BIN / "dvc"), "status", "--json"], p)
    stale = {k: v for k, v in json.loads(status.stdout).items() if v != ["always changed"]}
    assert stale == {}, status.stdout       # (source re-reads the data each run, by design)

    enc = json.loads((p / "reports/encode.json").read_text())
    assert enc["provided_dim"] == 32 and enc["text_encoded"] == 0 and enc["image_encoded"] == 0
    assert json.loads((p / "reports/fuse.json").read_text())["modalities"] == [
        "behaviour", "provided"]
    ingest = json.loads((p / "reports/ingest.json").read_text())
    assert ingest["n_items"] == 1500 and ingest["n_interactions"] == info["n_interactions"]
    # the clusters follow the vectors' latent groups
    items = pl.read_parquet(p / "data/ingest/items.parquet")
    assign = pl.read_parquet(p / "data/cluster/assignments.parquet")
    labels = items.join(assign, on="item_id")
    group = labels["label"].str.strip_prefix("topic").cast(pl.Int64) // 3
    assert nmi(group.to_numpy(), labels["l1"].to_numpy()) > 0.5
    metrics = json.loads((p / "metrics.json").read_text())
    assert metrics["test"]["recall@50"] > 0
    vecs = np.load(p / "data/ingest/vectors.npy")
    assert vecs.shape == (1500, 32) and np.isfinite(vecs).all()
