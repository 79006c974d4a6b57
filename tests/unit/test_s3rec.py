"""The s3rec source: Amazon catalogues as published with S3-Rec (order only, attribute ids)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from esans.config import DataParams
from esans.data import s3rec
from esans.data.ingest import normalise
from esans.data.sources import check_inputs, inputs
from esans.errors import EsansError

SHARED = (Path(__file__).resolve().parents[2] / "../shared/datasets/amazon-s3rec").resolve()


def _write(d: Path, lines: str, attrs: dict, name: str = "Shop") -> Path:
    (d / f"{name}.txt").write_text(lines)
    (d / f"{name}_item2attributes.json").write_text(json.dumps(attrs))
    return d


def test_order_becomes_per_user_timestamps_and_attributes_become_tags(tmp_path):
    _write(tmp_path, "1 3 1 2\n2 2 4 1 3\n", {"1": [7], "2": [7, 8], "3": [9], "4": [8], "5": [9]})
    items, inter, report = normalise(*s3rec.load(tmp_path, "Shop"))
    u1 = inter.filter(pl.col("user_id") == "1").sort("timestamp")
    assert u1["item_id"].to_list() == ["3", "1", "2"] and u1["timestamp"].to_list() == [1, 2, 3]
    assert inter.filter(pl.col("user_id") == "2")["timestamp"].to_list() == [1, 2, 3, 4]
    assert items["item_id"].to_list() == ["1", "2", "3", "4", "5"]   # 5: attributes, no events
    assert items.filter(pl.col("item_id") == "2")["tags"].to_list() == [["attr:7", "attr:8"]]
    assert items["text"].null_count() == 5 and items["title"].null_count() == 0
    assert report["items_without_events"] == 1 and report["items_with_tags"] == 5


@pytest.mark.parametrize("lines, attrs, rule, row", [
    ("1 2 3\n2 x 4\n", {}, "s3rec-line", 2),
    ("1 2 3\n1 4\n", {}, "s3rec-user", 2),
    ("1 2 3\n7\n", {}, "s3rec-line", 2),
    ("1 2 3\n", {"2": [1]}, "s3rec-attributes", None),
    ("1 2 3\n", {"2": [1], "3": ["brand"]}, "s3rec-attributes", None),
])
def test_bad_files_fail_with_one_error_naming_file_line_and_rule(tmp_path, lines, attrs, rule,
                                                                row):
    attrs = attrs or {"2": [1], "3": [1], "4": [1]}
    _write(tmp_path, lines, attrs)
    with pytest.raises(EsansError) as e:
        s3rec.load(tmp_path, "Shop")
    assert e.value.rule == rule and e.value.row == row
    assert "Shop" in str(e.value)


def test_the_source_fingerprints_both_files_and_names_its_params_when_missing(tmp_path):
    _write(tmp_path, "1 2 3\n", {"2": [1], "3": [1]})
    data = DataParams(source="s3rec", s3rec={"path": str(tmp_path), "name": "Shop"})
    assert [f.name for f in inputs(tmp_path, data)] == ["Shop.txt", "Shop_item2attributes.json"]
    check_inputs(tmp_path, data)
    with pytest.raises(EsansError, match="data.s3rec.path and data.s3rec.name"):
        check_inputs(tmp_path, data.model_copy(update={"s3rec": data.s3rec.model_copy(
            update={"name": "Other"})}))


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/datasets/amazon-s3rec is absent")
@pytest.mark.parametrize("name, n_items, n_users, n_events", [
    ("Beauty", 12_101, 22_363, 198_502), ("Sports_and_Outdoors", 18_357, 35_598, 296_337)])
def test_the_published_catalogues_load_with_the_documented_counts(name, n_items, n_users,
                                                                   n_events):
    items, inter, report = normalise(*s3rec.load(SHARED, name))
    assert (items.height, inter["user_id"].n_unique(), inter.height) == (n_items, n_users,
                                                                         n_events)
    assert report["items_with_tags"] == n_items and report["duplicate_interactions"] == 0
