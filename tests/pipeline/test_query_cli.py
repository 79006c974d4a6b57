"""`esans recommend / similar / negatives / report` on the tiny built pipeline."""

import json
import sys
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import run

pytestmark = pytest.mark.slow
ESANS = str(Path(sys.executable).parent / "esans")


def test_recommend_returns_unseen_items_ranked(built_project):
    p = built_project
    user = pl.read_parquet(p / "data/split/users.parquet")["user_id"][0]
    rows = json.loads(run([ESANS, "recommend", "--user", user, "-k", "7", "--json"],
                          p).stdout)
    assert len(rows) == 7
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    seen = pl.concat([pl.read_parquet(p / f"data/split/{s}.parquet")
                      for s in ("train", "valid", "test")]).filter(pl.col("user_id") == user)
    assert not set(r["item_id"] for r in rows) & set(seen["item_id"])
    text = run([ESANS, "recommend", "--user", user, "-k", "3"], p).stdout
    assert text.splitlines()[0].split() == ["item_id", "title", "score"]


def test_similar_excludes_the_item_itself(built_project):
    rows = json.loads(run([ESANS, "similar", "--item", "i000003", "-k", "5", "--json"],
                          built_project).stdout)
    assert len(rows) == 5 and "i000003" not in {r["item_id"] for r in rows}


def test_negatives_show_clusters_and_edis(built_project):
    p = built_project
    out = json.loads(run([ESANS, "negatives", "--item", "i000003", "--json"], p).stdout)
    item = out["item"]
    hard = [r for r in out["real"] if r["kind"] == "hard"]
    easy = [r for r in out["real"] if r["kind"] == "easy"]
    assert (len(hard), len(easy)) == (2, 5)
    assert all(r["l2"] != item["l2"] for r in out["real"])
    assert all(r["l1"] != item["l1"] for r in easy)
    assert len(out["virtual"]) == 14
    assert sorted(len(v["sources"]) for v in out["virtual"]) == sorted(
        k for k in range(2, 6) for _ in range(k))


def test_unknown_ids_are_one_line_errors(built_project):
    for args in (["recommend", "--user", "nobody"], ["similar", "--item", "nothing"]):
        proc = run([ESANS, *args], built_project, check=False)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert proc.stderr.strip().startswith("esans: error:")
