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


def test_negatives_show_what_training_draws_keeps_and_mixes(built_project):
    import torch

    from esans.config import load_params
    from esans.trainer import build_sampler
    from esans.train_data import load_train_data

    p = built_project
    out = json.loads(run([ESANS, "negatives", "--item", "i000003", "--json"], p).stdout)
    item = out["item"]
    hard = [r for r in out["real"] if r["kind"] == "hard"]
    easy = [r for r in out["real"] if r["kind"] == "easy"]
    t = load_params(p / "params.yaml").train
    assert t.sampler == "esans" and out["sampler"] == "esans" and out["selects"]
    # the project's ESANS draws k candidates a slot; which it keeps depends on the user
    assert (len(hard), len(easy)) == (2 * t.candidates, 5 * t.candidates)
    assert all(r["l2"] != item["l2"] for r in out["real"])
    assert all(r["l1"] != item["l1"] for r in easy) and out["virtual"] == []
    # the same draws as training's own sampler for the same row and seed
    data = load_train_data(p, load_params(p / "params.yaml"))
    users = pl.read_parquet(p / "data/split/users.parquet")
    items = pl.read_parquet(p / "data/split/items.parquet")
    u = int(users["user_idx"][3])
    i = int(items.filter(pl.col("item_id") == "i000003")["item_idx"][0])
    neg = build_sampler(t, data).sample(torch.tensor([u]), torch.tensor([i]),
                                        torch.Generator().manual_seed(5))
    out = json.loads(run([ESANS, "negatives", "--item", "i000003", "--user",
                          users["user_id"][3], "--seed", "5", "--json"], p).stdout)
    names = items["item_id"].to_list()
    assert [r["item_id"] for r in out["real"]] == [names[k] for k in neg.ids[0].tolist()]
    kept = [r for r in out["real"] if r["kept"]]
    assert [r["kind"] for r in kept].count("hard") == 2 and len(kept) == 7
    assert len(out["virtual"]) == 14                 # EDIS over the 5 kept easy ones
    assert sorted(len(v["sources"]) for v in out["virtual"]) == sorted(
        k for k in range(2, 6) for _ in range(k))


def test_unknown_ids_are_one_line_errors(built_project):
    for args in (["recommend", "--user", "nobody"], ["similar", "--item", "nothing"]):
        proc = run([ESANS, *args], built_project, check=False)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert proc.stderr.strip().startswith("esans: error:")
