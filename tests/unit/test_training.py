"""Every sampler trains on a tiny in-memory dataset; logQ and MSAC distributions are right."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from esans.cluster.msac import msac
from esans.config import TrainParams
from esans.model.loss import full_softmax, sampled_softmax_logits, scores
from esans.sampling.base import SeenItems
from esans.sampling.msac import MSACSampler
from esans.sampling.popularity import PopularitySampler
from esans import config
from esans.trainer import TrainData, fit


def tiny_data(n_users=40, n_items=60, per_user=12, seed=0):
    rng = np.random.default_rng(seed)
    topics = rng.integers(0, 4, n_items)
    content = (np.eye(4)[topics] + rng.normal(0, 0.1, (n_items, 4))).astype(np.float32)
    tu, ti, tp, vu, vi = [], [], [], [], []
    for u in range(n_users):
        fav = rng.integers(0, 4)
        pool = np.flatnonzero(topics == fav)
        items = rng.choice(pool, min(per_user, len(pool)), replace=False)
        tu += [u] * (len(items) - 1)
        ti += list(items[:-1])
        tp += list(range(len(items) - 1))
        vu.append(u)
        vi.append(items[-1])
    cl = msac(content, 4, 2, 2, seed=0)
    return TrainData(n_users, n_items, np.array(tu), np.array(ti), np.array(tp), np.array(vu),
                     np.array(vi), content, cl.l1, cl.l2, cl.centroids1)


SAMPLERS = list(config.SAMPLERS)   # every sampler the config model accepts


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler_trains_and_learns(sampler):
    data = tiny_data()
    p = TrainParams(sampler=sampler, epochs=3, batch_size=64, dim=16, history_len=5,
                    n_negatives=4, candidates=2, mns_uniform=16, threads=1)
    res = fit(p, data, seed=0, log=lambda s: None)
    assert len(res.history) == 3
    assert all(math.isfinite(r["loss"]) for r in res.history)
    assert res.history[-1]["loss"] < res.history[0]["loss"]
    assert res.best_valid_recall50 > 0
    # an epoch's training seconds leave out its validation, so throughput is comparable
    assert all(0 < r["train_seconds"] < r["seconds"] for r in res.history)


@pytest.mark.parametrize("sampler", ["uniform", "dns"])
def test_edis_switches_on_over_any_sampler(sampler):
    data = tiny_data()
    p = TrainParams(sampler=sampler, edis=True, epochs=1, batch_size=64, dim=16, history_len=5,
                    n_negatives=5, candidates=2, threads=1)
    res = fit(p, data, seed=0, log=lambda s: None)
    assert math.isfinite(res.history[0]["loss"])


def test_false_negative_rate_is_measured_only_from_heldout():
    data = tiny_data()
    heldout = SeenItems(data.valid_users, data.valid_items, data.n_items)
    p = TrainParams(sampler="uniform", epochs=1, batch_size=64, dim=16, history_len=5,
                    n_negatives=20, threads=1)
    res = fit(p, data, seed=0, log=lambda s: None, heldout=heldout)
    # each user holds 1 of 60 items out; uniform draws hit it about 1/49 of the time
    assert 0.005 < res.false_negative_rate < 0.06
    assert res.false_negative_rate_hard is None            # uniform has no hard level
    assert res.false_negative_rate_easy == res.false_negative_rate


def test_false_negative_rate_per_msac_level():
    """Users here like one topic and MSAC's level 1 follows topics: a held-out item shares the
    positive's level-1 cluster, so hard draws hit it far more often than easy ones; the two
    rates recombine to the overall one."""
    data = tiny_data()
    heldout = SeenItems(data.valid_users, data.valid_items, data.n_items)
    p = TrainParams(sampler="msac", epochs=1, batch_size=64, dim=16, history_len=5,
                    m_c=4, n_negatives=8, threads=1, exclude_own_l2=False)
    res = fit(p, data, seed=0, log=lambda s: None, heldout=heldout)
    hard, easy = res.false_negative_rate_hard, res.false_negative_rate_easy
    assert hard > 3 * max(easy, 1e-3)
    assert min(hard, easy) <= res.false_negative_rate <= max(hard, easy)


def test_logq_sampled_softmax_matches_full_softmax_in_expectation():
    g = torch.Generator().manual_seed(0)
    n, d, m = 8, 4, 4000
    items = torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=-1)
    user = items[0:1] + 0.3 * torch.randn(1, d, generator=g)
    tau = 0.5
    full = full_softmax(user, items, torch.tensor([0]), tau).item()
    counts = np.arange(1, n + 1, dtype=float) ** 2            # skewed proposal
    sampler = PopularitySampler(counts, m, alpha=1.0)
    corrected, raw = [], []
    for _ in range(20):
        neg = sampler.sample(torch.tensor([0]), torch.tensor([0]), g)
        hit = neg.ids == 0
        args = ((user * items[0:1]).sum(-1), scores(user, items[neg.ids]), neg.log_q, tau, hit)
        corrected.append(sampled_softmax_logits(*args).item())
        raw.append(sampled_softmax_logits(*args, logq_correction=False).item())
    assert np.mean(corrected) == pytest.approx(full, rel=0.01)
    assert abs(np.mean(raw) - full) > 0.05 * full               # without logQ it is biased


def test_easy_negative_clusters_follow_the_stated_distribution():
    rng = np.random.default_rng(0)
    x = np.concatenate([c + rng.normal(0, 0.3, (30, 2)) for c in
                        ([0, 0], [1, 0], [3, 0], [0, 2], [5, 5])]).astype(np.float32)
    cl = msac(x, 5, 1, 2, seed=0)
    s = MSACSampler(cl.l1, cl.l2, cl.centroids1, m_c=0, m_o=5, temperature=2.0)
    pos = torch.zeros(4000, dtype=torch.long)                   # item 0, cluster c
    neg = s.sample(pos, pos, torch.Generator().manual_seed(0))
    c = int(cl.l1[0])
    got = np.bincount(cl.l1[neg.ids.numpy().ravel()], minlength=5)
    expected = s.easy_prob[c].numpy() * got.sum()
    assert got[c] == 0
    others = [k for k in range(5) if k != c]
    assert chisquare(got[others], expected[others] / expected[others].sum() * got.sum()
                     ).pvalue > 0.001
    # nearer clusters are drawn more often than the far one
    d = ((cl.centroids1 - cl.centroids1[c]) ** 2).sum(1)
    far, near = int(np.argmax(d)), int(np.argsort(d)[1])
    assert got[near] > got[far]


@pytest.mark.parametrize("variant", [{"sampler": "esans"},
                                     {"sampler": "dns", "selection_table_every": 4}])
def test_sparse_id_embeddings_learn_and_resume_exactly(tmp_path, monkeypatch, variant):
    """Lazy SparseAdam on the id tables (the scale path) learns like dense Adam, and a run
    resumed from its mid-epoch checkpoint ends on the same weights as an uninterrupted one
    (with a stale selection table too: its vectors and refresh phase are in the checkpoint;
    checkpoints every 5 steps, refreshes every 4: the resume is mid-interval)."""
    data = tiny_data()
    kw = dict(**variant, epochs=3, batch_size=32, dim=16, history_len=5, threads=1,
              checkpoint_every=5)
    sparse = fit(TrainParams(sparse_ids=True, **kw), data, seed=0, log=lambda s: None)
    dense = fit(TrainParams(sparse_ids=False, **kw), data, seed=0, log=lambda s: None)
    assert sparse.model.item_id.sparse and not dense.model.item_id.sparse
    assert sparse.history[-1]["loss"] < sparse.history[0]["loss"]
    assert sparse.best_valid_recall50 > 0.5 * dense.best_valid_recall50

    # interrupt after 7 steps by keeping the checkpoint of a run stopped early
    ckpt = tmp_path / "ckpt.pt"
    from esans.checkpoint import Checkpoint

    real_save = Checkpoint.save
    saves = []

    def save_then_stop(self, state):
        real_save(self, state)
        saves.append(state["next"])
        if len(saves) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(Checkpoint, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        fit(TrainParams(sparse_ids=True, **kw), data, seed=0, log=lambda s: None,
              checkpoint=ckpt, key="k")
    monkeypatch.setattr(Checkpoint, "save", real_save)
    assert Checkpoint(ckpt, "k", 5).load()["next"] == saves[-1]
    assert Checkpoint(ckpt, "other", 5).load() is None   # another run's state is not resumed
    resumed = fit(TrainParams(sparse_ids=True, **kw), data, seed=0, log=lambda s: None,
                    checkpoint=ckpt, key="k")
    for name, w in sparse.model.state_dict().items():
        assert torch.equal(w, resumed.model.state_dict()[name]), name


def test_full_softmax_trains_on_a_catalogue_where_ids_turn_sparse():
    """From 100k items id rows train sparse ("auto"), but the full softmax reads every row each
    step: it keeps dense Adam there (with sparse rows it failed at its first step)."""
    data = tiny_data(n_users=30, n_items=100_000, per_user=6)
    p = TrainParams(sampler="full", epochs=2, batch_size=64, dim=8, history_len=3, threads=1)
    res = fit(p, data, seed=0, log=lambda s: None)
    assert not res.model.item_id.sparse
    assert res.history[-1]["loss"] < res.history[0]["loss"]
    sampled = fit(TrainParams(sampler="uniform", epochs=1, batch_size=64, dim=8,
                                history_len=3, threads=1), data, seed=0, log=lambda s: None)
    assert sampled.model.item_id.sparse       # the sampled losses keep the scale path


def test_checkpoints_come_every_n_steps_but_at_most_once_per_min_seconds(tmp_path, monkeypatch):
    """A due step (every n) saves only when min_seconds have passed since the last save (or
    the start): the clock decides which due steps save, never a step between them."""
    from esans import checkpoint as ck

    clock = [100.0]
    monkeypatch.setattr(ck.time, "monotonic", lambda: clock[0])
    c = ck.Checkpoint(tmp_path / "c.pt", "k", every=5, min_seconds=30.0)
    saved = []
    for step in range(1, 61):
        clock[0] += 2.0                                   # 2 s a step
        if c.due(step):
            c.save({"step": step})
            saved.append(step)
    assert saved == [15, 30, 45, 60]                      # due every 5, >= 30 s apart
    assert c.load()["step"] == 60
    every = ck.Checkpoint(tmp_path / "d.pt", "k", every=5)        # min_seconds 0: every 5
    assert [s for s in range(1, 21) if every.due(s)] == [5, 10, 15, 20]


def test_slow_checkpoints_wait_until_saving_is_at_most_max_overhead_of_the_time(tmp_path,
                                                                                 monkeypatch):
    """A save that took d seconds makes the next one wait d / max_overhead (a 1M-item state
    takes seconds to write): with 2 s steps, due every 5 steps, a 10 s save and 5% overhead
    the saves are 200 s (100 steps) apart, not min_seconds'; saves taking no time fall back to
    min_seconds, and so do slow saves at max_overhead 1."""
    from esans import checkpoint as ck

    clock = [0.0]
    monkeypatch.setattr(ck.time, "monotonic", lambda: clock[0])
    real_save = torch.save

    def slow_save(obj, f):
        clock[0] += 10.0
        real_save(obj, f)

    monkeypatch.setattr(ck.torch, "save", slow_save)
    c = ck.Checkpoint(tmp_path / "c.pt", "k", every=5, min_seconds=30.0, max_overhead=0.05)
    saved = []
    for step in range(1, 301):
        clock[0] += 2.0
        if c.due(step):
            c.save({"step": step})
            saved.append(step)
    assert saved == [15, 115, 215]                        # 30 s, then (2 s x 100) apart
    assert c.cost == 10.0
    for overhead in (1.0, 0.05):  # 1: no limit; saves that take no time: min_seconds rules
        monkeypatch.setattr(ck.torch, "save", slow_save if overhead == 1.0 else real_save)
        c, saved = ck.Checkpoint(tmp_path / "d.pt", "k", 5, 30.0, overhead), []
        for step in range(1, 61):
            clock[0] += 2.0
            if c.due(step):
                c.save({"step": step})
                saved.append(step)
        assert saved == [15, 30, 45, 60], overhead       # 30 s apart (from a save's end)


def test_cluster_batching_composes_each_batch_from_a_few_level1_clusters():
    from esans.trainer import CLUSTERS_PER_BATCH, epoch_order

    data = tiny_data(n_users=200, n_items=400, per_user=20)
    items = torch.from_numpy(data.train_items).long()
    gen = torch.Generator().manual_seed(0)
    tas = TrainParams(batching="clusters")
    order = epoch_order(tas, data, items, 64, gen)
    assert torch.equal(order.sort().values, torch.arange(len(items)))    # every event once
    l1 = torch.from_numpy(data.l1)[items[order]]
    spans = [len(l1[s:s + 64].unique()) for s in range(0, len(order) - 63, 64)]
    # chunks of 16 events of one cluster: at most 4 clusters a batch, 5 where a batch
    # starts inside a cluster's shorter last chunk
    assert max(spans) <= CLUSTERS_PER_BATCH + 1 and np.mean(spans) < 4.5
    rnd = epoch_order(TrainParams(), data, items, 64, torch.Generator().manual_seed(0))
    assert np.mean([len(torch.from_numpy(data.l1)[items[rnd[s:s + 64]]].unique())
                    for s in range(0, len(rnd) - 63, 64)]) > 3.5   # random: all 4 clusters
    assert not torch.equal(order, epoch_order(tas, data, items, 64, gen))   # new each epoch


def test_mixed_pool_over_cluster_batches_masks_the_positives_own_level2_and_learns():
    from esans.sampling.own_cluster import OwnClusterMask
    from esans.trainer import build_sampler

    data = tiny_data()
    p = TrainParams(sampler="mixed", batching="clusters", exclude_own_l2=True, epochs=3,
                    batch_size=64, dim=16, history_len=5, mns_uniform=16, threads=1)
    s = build_sampler(p, data)
    assert isinstance(s, OwnClusterMask)
    pos = torch.arange(10)
    neg = s.sample(torch.arange(10), pos, torch.Generator().manual_seed(0))
    assert torch.equal(neg.masked, torch.from_numpy(data.l2)[neg.ids] ==
                       torch.from_numpy(data.l2)[pos].unsqueeze(1))
    assert neg.masked.any() and neg.shared
    res = fit(p, data, seed=0, log=lambda s: None)
    assert res.history[-1]["loss"] < res.history[0]["loss"]
