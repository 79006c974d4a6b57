"""A catalogue in the Amazon/S3-Rec format (order only, attribute ids) runs end to end with
the published split and its tags as the content modality."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from esans.cluster.quality import nmi
from tests.conftest import BIN, make_project, run

pytestmark = pytest.mark.slow


def _write_catalogue(d, n_items=300, n_users=240, seed=0):
    """6 categories in 2 departments, a brand per ~5 items; users buy within 1-2 categories."""
    rng = np.random.default_rng(seed)
    cat = np.arange(n_items) % 6
    attrs = {str(i + 1): [100 + int(c) // 3, 10 + int(c), 200 + int(rng.integers(60))]
             for i, c in enumerate(cat)}
    lines = []
    for u in range(n_users):
        likes = rng.choice(6, int(rng.integers(1, 3)), replace=False)
        pool = np.flatnonzero(np.isin(cat, likes))
        items = rng.choice(pool, int(rng.integers(4, 10)), replace=False) + 1
        lines.append(" ".join(map(str, [u + 1, *items])))
    d.mkdir()
    (d / "Shop.txt").write_text("\n".join(lines) + "\n")
    (d / "Shop_item2attributes.json").write_text(json.dumps(attrs))
    return cat


def test_s3rec_catalogue_with_leave_last_split_and_tags_modality(tmp_path):
    p = make_project(tmp_path, {
        "data": {"source": "s3rec", "s3rec": {"path": "raw", "name": "Shop"}},
        "split": {"method": "leave_last"}, "encode": {"tags": {"dim": 16}}})
    cat = _write_catalogue(p / "raw")
    run([str(BIN / "dvc"), "repro", "evaluate"], p, timeout=900)
    enc = json.loads((p / "reports/encode.json").read_text())
    assert enc["text_dim"] == 0 and enc["image_dim"] == 0 and enc["text_encoded"] == 0
    assert enc["tags_dim"] == 16 and enc["items_with_tags"] == 300
    assert json.loads((p / "reports/fuse.json").read_text())["modalities"] == [
        "behaviour", "tags"]
    split = json.loads((p / "reports/split.json").read_text())
    assert split["method"] == "leave_last" and split["test"] == split["valid"] == 240
    assign = pl.read_parquet(p / "data/cluster/assignments.parquet")
    items = pl.read_parquet(p / "data/ingest/items.parquet")
    order = items["item_id"].cast(pl.Int64).to_numpy() - 1
    assert nmi(cat[order], assign["l1"].to_numpy()) > 0.5    # clusters follow the categories
    metrics = json.loads((p / "metrics.json").read_text())
    assert metrics["source"] == "s3rec" and metrics["test"]["n_users"] == 240
    assert metrics["test"]["recall@50"] > 50 / 300            # better than chance
