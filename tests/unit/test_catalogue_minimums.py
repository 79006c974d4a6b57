"""Degenerate catalogues and data-quality thresholds: one error naming the params key, before
anything downstream is published."""

from __future__ import annotations

import polars as pl
import pytest

from esans import paths, stages
from esans.config import Params, ValidateParams
from esans.errors import EsansError
from esans.stages.validate import catalogue_minimums
from esans.validate.suites import describe_failure, run


def test_too_few_items_for_the_clusters_or_negatives_names_the_params():
    p = Params.model_validate({"cluster": {"n_l1": 6, "min_cluster_size": 3},
                               "evaluate": {"ks": [5, 10]}})
    with pytest.raises(EsansError, match=r"catalogue-size\]: the catalogue has 17 items; "
                                         r"cluster.n_l1 \(6\) x cluster.min_cluster_size \(3\)"):
        catalogue_minimums(p, 17, 50)
    catalogue_minimums(p, 18, 50)
    p = Params.model_validate({"cluster": {"n_l1": 2, "min_cluster_size": 1},
                               "train": {"sampler": "esans", "n_negatives": 7},
                               "evaluate": {"ks": [5]}})
    with pytest.raises(EsansError, match=r"train.n_negatives \(7\) \+ the positive"):
        catalogue_minimums(p, 7, 50)
    # the default rule (full softmax / pool) draws no per-row negatives: no such minimum
    auto = p.model_copy(update={"train": p.train.model_copy(update={"sampler": "auto"})})
    catalogue_minimums(auto, 7, 50)
    p = p.model_copy(update={"train": p.train.model_copy(update={"sampler": "uniform"})})
    with pytest.raises(EsansError, match=r"train.n_negatives \(7\) \+ the positive"):
        catalogue_minimums(p, 7, 50)
    with pytest.raises(EsansError, match=r"1 user\(s\)"):
        catalogue_minimums(p, 100, 1)
    # a cut-off K that can hold the whole catalogue scores any ranking as perfect
    p = Params.model_validate({"cluster": {"n_l1": 2, "min_cluster_size": 1}})
    with pytest.raises(EsansError, match=r"the catalogue has 40 items; evaluate.ks \(K up to "
                                         r"200"):
        catalogue_minimums(p, 40, 50)
    catalogue_minimums(p, 201, 50)


def _ingested(root, per_user: int) -> None:
    (root / paths.INGEST).mkdir(parents=True)
    pl.DataFrame({"item_id": [str(i) for i in range(30)]}).write_parquet(
        root / paths.INGEST_CATALOGUE)
    rows = [(f"u{u}", str((u + i) % 30), 1_600_000_000 + 100 * u + i, None, 0)
            for u in range(5) for i in range(per_user)]
    pl.DataFrame(rows, schema={"user_id": pl.String, "item_id": pl.String,
                               "timestamp": pl.Int64, "rating": pl.Float64, "seq": pl.Int64},
                 orient="row").with_row_index("s").with_columns(
        pl.col("s").cast(pl.Int64).alias("seq")).drop("s").write_parquet(
        root / paths.INGEST_INTERACTIONS)
    _validated(root)


def _validated(root) -> None:
    """validate's passing verdict on what is ingested now (as the stage writes it)."""
    import json
    import os

    import numpy as np

    from esans.stages.common import ingest_digest

    pl.read_parquet(root / paths.INGEST_CATALOGUE).write_parquet(root / paths.INGEST_ITEMS)
    np.save(root / paths.INGEST_VECTORS, np.zeros((30, 0), np.float32))
    cwd = os.getcwd()
    os.chdir(root)
    try:
        (root / "reports").mkdir(exist_ok=True)
        (root / paths.report("validate")).write_text(json.dumps(
            {"success": True, "checked": ingest_digest()}))
    finally:
        os.chdir(cwd)


def test_a_stage_run_by_hand_refuses_an_ingest_validate_has_not_passed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _ingested(tmp_path, per_user=12)
    ok = Params.model_validate({"split": {"valid_frac": 0.25, "test_frac": 0.25}})
    stages.get("split")(ok)
    # new data lands (say, with unknown item ids) and validate refuses it: its verdict stays
    # the old one, and the split does not go ahead on the new data
    inter = pl.read_parquet(tmp_path / paths.INGEST_INTERACTIONS)
    inter.with_columns(pl.lit("999").alias("item_id")).write_parquet(
        tmp_path / paths.INGEST_INTERACTIONS)
    with pytest.raises(EsansError, match=r"data/ingest \[validated\]: the ingested data has "
                                         r"not passed validation"):
        stages.get("split")(ok)
    (tmp_path / paths.report("validate")).unlink()
    with pytest.raises(EsansError, match="not passed validation"):
        stages.get("split")(ok)


def test_a_split_with_an_empty_part_is_refused_and_publishes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _ingested(tmp_path, per_user=4)
    with pytest.raises(EsansError, match=r"no valid events: a user needs >= 10 interactions "
                                         r".*split.valid_frac = 0.1 \(the most active user "
                                         r"has 4\)"):
        stages.get("split")(Params())
    assert not (tmp_path / paths.SPLIT).exists()
    stages.get("split")(Params.model_validate({"split": {"valid_frac": 0.25,
                                                         "test_frac": 0.25}}))
    assert pl.read_parquet(tmp_path / paths.SPLIT / "test.parquet").height == 5


def test_a_failed_quality_threshold_names_its_param_and_value(tmp_path):
    items = pl.DataFrame({"item_id": ["1", "2", "3", "4"], "title": ["a", "b", "c", "d"],
                          "text": ["x", "y", "z", "w"], "image_path": [None, None, None, "p"],
                          "label": [None] * 4, "image_sha256": [None] * 4},
                         schema={c: pl.String for c in ("item_id", "title", "text",
                                                        "image_path", "label",
                                                        "image_sha256")}
                         ).with_columns(pl.lit(None, pl.List(pl.String)).alias("tags"))
    inter = pl.DataFrame({"user_id": ["u"] * 4, "item_id": ["1", "2", "3", "4"],
                          "timestamp": [1, 2, 3, 4], "rating": [None] * 4,
                          "seq": [0, 1, 2, 3]},
                         schema={"user_id": pl.String, "item_id": pl.String,
                                 "timestamp": pl.Int64, "rating": pl.Float64, "seq": pl.Int64})
    summary = run(items, inter, ValidateParams(min_interactions=1, max_missing_image_frac=0.2),
                  root=tmp_path)
    failed = [r for r in summary["results"] if not r["success"] and r["severity"] == "error"]
    assert len(failed) == 1
    line = describe_failure(failed[0], "items.csv")
    assert "params key validate.max_missing_image_frac = 0.2" in line and "100.0% of rows" in line


def test_validate_numbers_rows_as_ingest_does_in_parquet_and_multi_line_csv(tmp_path):
    from esans.stages.validate import _source_rows

    pl.DataFrame({"item_id": ["1", "2", "3"], "title": ["a", "b", "c"]}).write_parquet(
        tmp_path / "items.parquet")
    (tmp_path / "items.csv").write_text('item_id,title,text\n1,a,"two\nlines"\n2,b,x\n3,c,y\n')
    inter = pl.DataFrame({"seq": [0, 1, 2]})
    for items, want in (("items.parquet", [3]), ("items.csv", [5])):
        p = Params.model_validate({"data": {"source": "files", "files": {
            "items": str(tmp_path / items), "interactions": str(tmp_path / "i.csv")}}})
        assert _source_rows(p, {"table": "items", "rows": [2]}, inter)[1] == want, items


def test_auto_level1_count_grows_with_the_catalogue_and_fits_small_ones():
    c = Params().cluster
    assert c.n_l1 == "auto"
    assert [c.level1(n) for n in (1682, 2000, 12_101, 1_000_000)] == [16, 16, 39, 354]
    assert c.level1(40) == 8                      # at most items / min_cluster_size
    assert Params.model_validate({"cluster": {"n_l1": 7}}).cluster.level1(10**6) == 7
    with pytest.raises(EsansError, match=r"cluster.n_l1 \(auto: 2\) x cluster.min_cl"):
        catalogue_minimums(Params(), n_items=4, n_users=50)
