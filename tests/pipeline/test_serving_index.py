"""`index.serving: ivf`: an IVF serving index next to the exact one, with its recall reported."""

import json
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tests.conftest import BIN, copy_project, run

pytestmark = pytest.mark.slow
ESANS = str(Path(sys.executable).parent / "esans")


def test_ivf_serving_index_is_reported_and_used(built_project, tmp_path):
    p = copy_project(built_project, tmp_path / "ws",
                     {"index": {"serving": "ivf", "nlist": 8, "nprobe": 2}})
    metrics_before = json.loads((p / "metrics.json").read_text())
    out = run([str(BIN / "dvc"), "repro"], p, timeout=900).stdout
    assert "Running stage 'train'" not in out and "Running stage 'index'" in out
    report = json.loads((p / "reports/index.json").read_text())["serving"]
    assert report["type"] == "IndexIVFFlat" and report["nlist"] == 6   # 240 items / 39
    assert 0.2 < report["recall@200_vs_exact"] < 1.0       # 2 of 6 lists: approximate
    latency = json.loads((p / "reports/timings/index.json").read_text())   # not DVC-hashed
    assert latency["ivf_p50_ms"] > 0 and latency["exact_p50_ms"] > 0
    # evaluation still ranks exactly: same metrics as before
    assert json.loads((p / "metrics.json").read_text())["test"] == metrics_before["test"]

    import faiss

    ivf = faiss.read_index(str(p / "data/index/serving.faiss"))
    assert faiss.extract_index_ivf(ivf).nprobe == 2
    item = pl.read_parquet(p / "data/split/items.parquet")["item_id"][3]
    # the new bundle is the candidate; the promoted champion (flat index) still serves
    rows = json.loads(run([ESANS, "similar", "--item", item, "-k", "5", "--json",
                           "--candidate"], p).stdout)
    vecs = np.load(p / "data/index/item_vectors.npy")
    ids = pl.read_parquet(p / "data/split/items.parquet")["item_id"].to_list()
    got = [ids.index(r["item_id"]) for r in rows]
    assert item not in {r["item_id"] for r in rows} and 0 < len(rows) <= 5
    # the IVF answer: items from the probed lists only, by score
    _, expect = ivf.search(vecs[3:4], 6)
    assert got == [j for j in expect[0] if j not in (3, -1)][:5]
