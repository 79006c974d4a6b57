"""The pieces the 1M-item path relies on: streamed generator, sampled/batched k-means,
encoding shards, IVF recall."""

import json
import subprocess
import sys

import numpy as np
import polars as pl
import pytest

from esans import ann
from esans.cluster.msac import assign, cluster_means, kmeans, msac
from esans.data.synthetic_scale import ScaleParams, generate, read_item_vectors
from esans.encode.cache import shards
from tests.conftest import ROOT

SMALL = ScaleParams(n_items=3000, n_users=500, n_events=12_000, n_groups=6,
                    topics_per_group=4, dim=16, chunk_items=1000, chunk_users=200)


def test_streamed_generator_writes_parts_deterministically(tmp_path):
    a = generate(SMALL, tmp_path / "a", seed=1)
    b = generate(SMALL, tmp_path / "b", seed=1)
    assert len(list((tmp_path / "a/items").glob("*.parquet"))) == 3        # 3000 / 1000
    assert len(list((tmp_path / "a/interactions").glob("*.parquet"))) == 3  # 500 / 200
    for part in ("items", "interactions"):
        assert pl.read_parquet(tmp_path / "a" / part).equals(pl.read_parquet(tmp_path / "b" / part))
    inter = pl.read_parquet(tmp_path / "a/interactions")
    assert inter.height == a["n_interactions"] == b["n_interactions"]
    assert 0.9 * SMALL.n_events <= inter.height <= 1.05 * SMALL.n_events
    assert inter.select(pl.struct("user_id", "item_id").is_unique().all()).item()
    ids, vecs = read_item_vectors(tmp_path / "a/items")
    assert vecs.shape == (3000, 16) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)
    assert set(inter["item_id"].unique()) <= set(ids)


def test_kmeans_on_a_sample_still_assigns_every_row_to_its_nearest_centroid():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20_000, 8)).astype(np.float32)
    c, a = kmeans(x, 50, niter=5, seed=0, max_points_per_centroid=40)   # trains on 2000 rows
    d = ((x[:, None, :] - c[None]) ** 2).sum(-1)
    assert (a == d.argmin(1)).mean() > 0.999          # ties aside, the exact nearest centroid
    assert np.array_equal(assign(x, c, batch=777), assign(x, c, batch=20_000))
    means = cluster_means(x, a, 50)
    for k in (0, 17, 49):
        assert np.allclose(means[k], x[a == k].mean(0), atol=1e-5)


def test_msac_recovers_planted_groups_and_respects_min_size(tmp_path):
    generate(SMALL, tmp_path, seed=2)
    items = pl.read_parquet(tmp_path / "items")
    vecs = np.stack(items["vector"].to_numpy())
    cl = msac(vecs, 6, 4, min_size=10, seed=0)
    assert np.bincount(cl.l1).min() >= 10 and np.bincount(cl.l2).min() >= 10
    group = items["label"].str.strip_prefix("topic").cast(pl.Int64).to_numpy() // 4
    from esans.cluster.quality import nmi

    assert nmi(group, cl.l1) > 0.8


def test_shards_cover_rows_in_order_on_batch_boundaries():
    rows = list(range(5, 105))
    parts = shards(rows, 3, align=16)
    assert [r for p in parts for r in p] == rows
    assert all(len(p) % 16 == 0 for p in parts[:-1]) and len(parts) <= 3
    assert shards([], 4) == [] and shards([1, 2], 8, align=1) == [[1], [2]]


def test_ivf_probing_every_list_is_exact():
    rng = np.random.default_rng(0)
    v = rng.standard_normal((4000, 16)).astype(np.float32)
    q = rng.standard_normal((50, 16)).astype(np.float32)
    import faiss

    flat = faiss.IndexFlatIP(16)
    flat.add(v)
    _, exact = flat.search(q, 20)
    ivf = ann.build_ivf(v, nlist=32, nprobe=32, seed=0)
    _, full = ivf.search(q, 20)
    assert ann.recall_vs_exact(full, exact) == 1.0
    ivf.nprobe = 1
    _, one = ivf.search(q, 20)
    assert ann.recall_vs_exact(one, exact) < 0.9
    lat = ann.latency_ms(ivf, q, 20)
    assert lat["p50_ms"] > 0 and lat["batched_qps"] > 0


@pytest.mark.slow
def test_the_scale_source_ingests_a_generated_catalogue_with_its_own_vectors(tmp_path,
                                                                             monkeypatch):
    from esans.config import Params
    from esans.stages.ingest import ingest

    p = Params.model_validate({"data": {"source": "scale", "scale": {
        "n_items": 1200, "n_users": 300, "n_events": 6000, "items_per_group": 400,
        "topics_per_group": 3, "dim": 8}}})
    monkeypatch.chdir(tmp_path)
    report = ingest(p)
    assert report["source"] == "scale" and report["provided_vector_dim"] == 8
    items = pl.read_parquet(tmp_path / "data/ingest/items.parquet")
    assert items.height == report["n_items"] == 1200
    assert items["text"].is_null().all() and items["label"].n_unique() == 9   # 3 groups x 3
    vectors = np.load(tmp_path / "data/ingest/vectors.npy")
    assert vectors.shape == (1200, 8)
    # same label, closer vectors: the content the clusters should find is there
    lab = items["label"].to_numpy()
    sim = vectors @ vectors.T
    same = lab[:, None] == lab[None, :]
    assert sim[same].mean() > sim[~same].mean() + 0.2
    inter = pl.read_parquet(tmp_path / "data/ingest/interactions.parquet")
    assert inter.height == report["n_interactions"] and inter["user_id"].n_unique() <= 300
    assert not any(tmp_path.joinpath("data").glob("tmp*"))    # the generated parts are gone


def test_control_keeps_behaviour_and_popularity_but_not_content(tmp_path):
    kw = dict(n_items=2000, n_users=400, n_events=8000, n_groups=2, dim=16, drift=0.3)
    generate(ScaleParams(**kw), tmp_path / "s", seed=3)
    generate(ScaleParams(**kw, content="random"), tmp_path / "c", seed=3)

    def read(d, what):
        return pl.concat([pl.read_parquet(f) for f in sorted((d / what).glob("*.parquet"))])

    assert read(tmp_path / "s", "interactions").equals(read(tmp_path / "c", "interactions"))
    s, c = read(tmp_path / "s", "items"), read(tmp_path / "c", "items")
    assert s["label"].equals(c["label"])                      # the behaviour topic
    topic = s["label"].str.replace("topic", "").cast(pl.Int64).to_numpy()

    def topic_separation(vec):  # mean cosine within a topic minus across topics
        v = np.asarray(vec.to_list(), np.float32)
        same = topic[:, None] == topic[None, :]
        cos = v @ v.T
        return cos[same].mean() - cos[~same].mean()

    assert topic_separation(s["vector"]) > 0.3               # content shows the topic
    assert abs(topic_separation(c["vector"])) < 0.05         # the control's does not
