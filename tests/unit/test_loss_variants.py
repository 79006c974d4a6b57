"""The loss variants: logQ consistency, hardness weighting, EDIS log q,
and hard negatives added to a shared mixed pool."""

import math

import numpy as np
import pytest
import torch

from esans.cluster.msac import msac
from esans.config import REMOVED_TRAIN_KNOBS, Params, TrainParams
from esans.model.loss import sampled_softmax_logits
from esans.sampling import edis
from esans.sampling.mixed import MixedSampler
from esans.sampling.msac import MSACSampler
from esans.sampling.uniform import UniformSampler
from esans.trainer import batch_loss, build_sampler, selector, fit
from esans.data.history import Histories
from esans.model.towers import TwoTower
from esans.sampling.base import SeenItems
from tests.unit.test_training import tiny_data


def _clusters(n=48, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (3, 6))
    x = np.concatenate([c + rng.normal(0, 1.0, (n // 3, 6)) for c in centres])
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)  # as fused vectors
    return x, msac(x, 3, 3, 3, seed=0)


def test_logq_makes_msac_an_unbiased_estimate_of_the_full_partition_sum():
    """E[sum_j exp(s_j/tau - log q_j)] over MSAC draws = sum over every item the proposal can
    draw (all but the positive's own level-2 cluster) of exp(s_i/tau), by brute force."""
    x, cl = _clusters()
    n = len(x)
    s = MSACSampler(cl.l1, cl.l2, cl.centroids1, 2, 3, 1.0)
    rng = np.random.default_rng(1)
    score = torch.from_numpy(rng.normal(0, 1, n)).float()          # one user's item scores
    g = torch.Generator().manual_seed(0)
    for pos in (0, n // 2, n - 1):
        draws = 40_000
        neg = s.sample(torch.zeros(draws, dtype=torch.long),
                       torch.full((draws,), pos, dtype=torch.long), g)
        est = torch.exp(score[neg.ids] - neg.log_q).sum(1).mean().item()
        reachable = torch.from_numpy(cl.l2 != cl.l2[pos])
        truth = torch.exp(score)[reachable].sum().item()
        assert est == pytest.approx(truth, rel=0.03)


def test_logq_of_two_proposals_together_is_unbiased_for_the_full_sum():
    """A row's uniform draws plus a shared mixed pool, each corrected by the *sum* of both
    proposals' expected counts (as batch_loss does), estimate the full partition sum."""
    n, b, m = 30, 8, 4
    counts = np.random.default_rng(0).integers(1, 50, n)
    uni, pool = UniformSampler(n, m), MixedSampler(counts, 6)
    score = torch.from_numpy(np.random.default_rng(2).normal(0, 1, n)).float()
    g, rng = torch.Generator().manual_seed(0), np.random.default_rng(5)
    total, reps = 0.0, 20_000
    for _ in range(reps // b):
        pos = torch.from_numpy(rng.choice(n, b, p=counts / counts.sum())).long()
        own, shared = uni.sample(pos, pos, g), pool.sample(pos, pos, g)
        q_own = torch.logaddexp(own.log_q, pool.log_q(own.ids, b))
        q_pool = torch.logaddexp(shared.log_q, uni.log_q(pos, shared.ids))
        est = (torch.exp(score[own.ids] - q_own).sum(1)
               + torch.exp(score[shared.ids] - q_pool).sum(1))
        total += est.sum().item()
    assert total / reps == pytest.approx(torch.exp(score).sum().item(), rel=0.03)


def test_msac_marks_exactly_its_same_cluster_draws_as_hard():
    x, cl = _clusters()
    s = MSACSampler(cl.l1, cl.l2, cl.centroids1, 2, 3, 1.0)
    pos = torch.arange(len(x))
    neg = s.sample(pos, pos, torch.Generator().manual_seed(0))
    l1 = torch.from_numpy(cl.l1)
    assert torch.equal(neg.hard, l1[neg.ids] == l1[pos].unsqueeze(1))
    assert neg.hard[:, :2].all() and not neg.hard[:, 2:].any()


def test_hard_candidates_keep_the_models_hardest_same_cluster_draws():
    x, cl = _clusters()
    k, m_c, m_o = 4, 2, 3
    s = MSACSampler(cl.l1, cl.l2, cl.centroids1, m_c, m_o, 1.0, hard_candidates=k)
    pos = torch.arange(len(x))
    neg = s.sample(pos, pos, torch.Generator().manual_seed(0))
    assert neg.ids.shape == (len(x), m_c * k + m_o) and neg.hard[:, :m_c * k].all()
    emb = torch.from_numpy(x)
    user = emb[pos]                                   # a user who looks like the positive
    hit = torch.zeros(neg.ids.shape, dtype=torch.bool)
    sel = s.select(user, emb[pos], emb[neg.ids], hit, None)
    assert sel.keep.shape == (len(x), m_c + m_o) and sel.mix is None
    kept_ids = neg.ids.gather(1, sel.keep)
    assert neg.hard.gather(1, sel.keep)[:, :m_c].all()
    cand = (user.unsqueeze(1) * emb[neg.ids[:, :m_c * k]]).sum(-1)
    kept = (user.unsqueeze(1) * emb[kept_ids[:, :m_c]]).sum(-1)
    assert torch.allclose(kept, cand.topk(m_c, dim=1).values)     # the hardest m_c
    assert torch.equal(kept_ids[:, m_c:], neg.ids[:, m_c * k:])   # easy ones untouched


def test_easy_candidates_keep_the_models_hardest_other_cluster_draws():
    x, cl = _clusters()
    k, ke, m_c, m_o = 3, 4, 2, 3
    s = MSACSampler(cl.l1, cl.l2, cl.centroids1, m_c, m_o, 1.0, hard_candidates=k,
                    easy_candidates=ke)
    pos = torch.arange(len(x))
    neg = s.sample(pos, pos, torch.Generator().manual_seed(0))
    h = m_c * k
    assert neg.ids.shape == (len(x), h + m_o * ke) and neg.n_easy == m_o
    assert neg.hard[:, :h].all() and not neg.hard[:, h:].any()
    emb = torch.from_numpy(x)
    user = emb[(pos + 5) % len(x)]                    # any user: selection is by its scores
    hit = torch.zeros(neg.ids.shape, dtype=torch.bool)
    hit[:, h] = True                                  # a masked easy candidate is never kept
    keep = s.select(user, emb[pos], emb[neg.ids], hit, None).keep
    assert keep.shape == (len(x), m_c + m_o)
    hard, ht, lq = (t.gather(1, keep) for t in (neg.hard, hit, neg.log_q))
    assert hard[:, :m_c].all() and not hard[:, m_c:].any() and not ht.any()
    vec = emb[neg.ids.gather(1, keep)]
    for lo, hi, n_keep, at in ((0, h, m_c, 0), (h + 1, h + m_o * ke, m_o, m_c)):
        cand = (user.unsqueeze(1) * emb[neg.ids[:, lo:hi]]).sum(-1)
        kept = (user.unsqueeze(1) * vec[:, at:at + n_keep]).sum(-1)
        assert torch.allclose(kept, cand.topk(n_keep, dim=1).values)
    # the kept easy ones still come from other level-1 clusters, with their own log q
    assert torch.isfinite(lq).all()


PAPER = {"candidates": 1}   # the paper's ESANS (one draw per slot)


@pytest.mark.parametrize("variant", [PAPER, {"candidates": 2},
                                     {"candidates": 4, "exclude_own_l2": False}, {}])
def test_variants_train_and_learn(variant):
    data = tiny_data()
    p = TrainParams(sampler="esans", epochs=3, batch_size=64, dim=16, history_len=5, m_c=1,
                    n_negatives=4, mns_uniform=16, threads=1, **variant)
    res = fit(p, data, seed=0, log=lambda s: None)
    assert all(math.isfinite(r["loss"]) for r in res.history)
    assert res.history[-1]["loss"] < res.history[0]["loss"]


@pytest.mark.parametrize("train_params, key", [
    ({"sampler": "esans", "n_negatives": 3}, "train.n_negatives: 3 leaves 1 easy"),
    ({"sampler": "dns", "hard_candidates": 2}, "train.hard_candidates"),
    ({"sampler": "full", "edis": True}, "train.edis"),
    ({"sampler": "full", "exclude_own_l2": True}, "train.exclude_own_l2"),
    ({"sampler": "uniform", "easy_candidates": 1}, "train.easy_candidates"),
    ({"sampler": "uniform", "selection_table_every": 10}, "train.selection_table_every"),
    ({"sampler": "esans", "selection_table_every": 10, **PAPER}, "train.selection_table_every"),
])
def test_contradictory_variant_params_are_rejected(train_params, key):
    with pytest.raises(ValueError, match=key):
        Params.model_validate({"train": train_params})


@pytest.mark.parametrize("key, other", [("hard_weight", 2.0), ("edis_logq", "count"),
                                        ("hard_anchor", "history"), ("easy_temperature", 9.0),
                                        ("pool", "mixed"), ("selection_table_writeback", True)])
def test_a_removed_knob_loads_at_its_one_value_and_is_refused_at_any_other(key, other):
    """Older params files and bundles name these knobs at the value every model now has."""
    only = REMOVED_TRAIN_KNOBS[key]
    assert Params.model_validate({"train": {key: only}}).train == TrainParams()
    with pytest.raises(ValueError, match=f"train.{key}: .* is no longer offered"):
        Params.model_validate({"train": {key: other}})


@pytest.mark.parametrize("train_params", [
    {"sampler": s} for s in ("uniform", "popularity", "inbatch", "mixed", "dns", "mixgcf")] + [
    {"sampler": s, "candidates": k} for s in ("esans", "msac") for k in (1, 2, 4)])
def test_the_config_knows_which_samplers_select_as_the_built_sampler_does(train_params):
    """Config validation (a stale selection table needs a selection) and training (which
    calls select) decide "does this sampler select" apart; they must agree."""
    p = TrainParams(**train_params)
    built = build_sampler(p, tiny_data())
    assert p.selects == (selector(built) is not None)


def test_without_the_own_level2_rule_hard_draws_cover_the_whole_level1_cluster():
    x, cl = _clusters()
    s = MSACSampler(cl.l1, cl.l2, cl.centroids1, 2, 3, 1.0, exclude_own_l2=False)
    pos = torch.zeros(20_000, dtype=torch.long)
    neg = s.sample(pos, pos, torch.Generator().manual_seed(0))
    hard = neg.ids[:, :2]
    same_l1 = np.flatnonzero(cl.l1 == cl.l1[0])
    assert set(hard.unique().tolist()) == set(same_l1.tolist())   # own l2 included
    # and logQ stays unbiased over that larger support
    score = torch.from_numpy(np.random.default_rng(1).normal(0, 1, len(x))).float()
    est = torch.exp(score[neg.ids] - neg.log_q).sum(1).mean().item()
    assert est == pytest.approx(torch.exp(score).sum().item(), rel=0.03)


def _reference_loss(model, p, sampler, seen, u, i, h, gen):
    """batch_loss the plain way: every vector from the tower with gradient, selection by
    gathering vectors, EDIS virtual negatives built in embedding space and then scored.
    Returns (loss, the kept negatives' ids)."""
    neg = sampler.sample(u, i, gen)
    iv, uv, nv = model.items(i), model.users(u, h), model.items(neg.ids)
    hit = (neg.ids == i.unsqueeze(1)) | seen.contains(u, neg.ids)
    log_q, ids = neg.log_q, neg.ids
    select = getattr(sampler, "select", None)
    sel = select(uv.detach(), iv.detach(), nv.detach(), hit, gen) if select else None
    if sel is not None:
        nv = torch.gather(nv, 1, sel.keep.unsqueeze(-1).expand(-1, -1, nv.shape[-1]))
        log_q, hit, ids = (t.gather(1, sel.keep) for t in (log_q, hit, ids))
        if sel.mix is not None:
            nv = sel.mix * iv.unsqueeze(1) + (1 - sel.mix) * nv
    if p.uses_edis:
        src_v, src_q = edis.sources(nv, log_q, neg.n_easy, p.edis_sources)
        vv, vq = edis.interpolate(src_v, src_q, p.edis_lambda, gen)
        nv, log_q = torch.cat([nv, vv], 1), torch.cat([log_q, vq], 1)
        hit = torch.cat([hit, torch.zeros(vq.shape, dtype=torch.bool)], 1)
    neg_score = torch.einsum("bd,bmd->bm", uv, nv)
    return sampled_softmax_logits((uv * iv).sum(-1), neg_score, log_q, p.softmax_temperature,
                                  hit), ids


@pytest.mark.parametrize("variant", [
    {"sampler": "dns"}, {"sampler": "mixgcf"}, {"sampler": "dns", "edis": True},
    {"sampler": "esans"}, {"sampler": "esans", **PAPER}, {"sampler": "uniform", "edis": True}])
def test_batch_loss_matches_the_plain_computation_and_grads_only_the_kept(variant):
    """batch_loss looks vectors up once per distinct item, selects on detached scores and
    scores EDIS's mixes instead of building them: the loss and every gradient equal the plain
    computation's, and a drawn candidate that selection drops gets no gradient, not even a
    zero row in a sparse gradient (so a lazy optimiser leaves its row alone)."""
    data = tiny_data(n_users=40, n_items=200, per_user=12)
    p = TrainParams(**{"candidates": 4, **variant}, batch_size=32, dim=8, history_len=5,
                    m_c=1, n_negatives=4, mns_uniform=10, threads=1)
    seen = SeenItems(data.train_users, data.train_items, data.n_items)
    hist = Histories(data.train_users, data.train_items, data.n_users)
    u = torch.from_numpy(data.train_users[:32]).long()
    i = torch.from_numpy(data.train_items[:32]).long()
    h = hist.window(u, torch.from_numpy(data.train_pos[:32]).long(), 5)
    out = {}
    for fn in (batch_loss, _reference_loss):
        torch.manual_seed(0)
        model = TwoTower(torch.from_numpy(data.content), data.n_users, 8, 5)
        loss, extra = fn(model, p, build_sampler(p, data, seen), seen, u, i, h,
                         torch.Generator().manual_seed(3))
        loss.backward()
        out[fn.__name__] = (extra, [loss.detach()] + [w.grad for w in model.parameters()])
    for a, b in zip(out["batch_loss"][1], out["_reference_loss"][1], strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5)
    kept = out["_reference_loss"][0]
    drawn = build_sampler(p, data, seen).sample(u, i, torch.Generator().manual_seed(3)).ids
    id_grad = dict(model.named_parameters())["item_id.weight"].grad
    used = torch.cat([i, h.clamp(min=0).reshape(-1), kept.reshape(-1)]).unique()
    dropped = drawn.unique()[~torch.isin(drawn.unique(), used)]
    if kept.shape[1] < drawn.shape[1]:                       # samplers that select
        assert len(dropped) > 0 and (id_grad[dropped] == 0).all()
    unused = torch.ones(data.n_items, dtype=torch.bool)
    unused[used] = False
    assert (id_grad[unused] == 0).all() and (id_grad[used].abs().sum(1) > 0).all()
    # sparse id rows (what a lazy optimiser updates): exactly the used items, no dropped one
    torch.manual_seed(0)
    model = TwoTower(torch.from_numpy(data.content), data.n_users, 8, 5, sparse_ids=True)
    loss, _ = batch_loss(model, p, build_sampler(p, data, seen), seen, u, i, h,
                         torch.Generator().manual_seed(3))
    loss.backward()
    rows = model.item_id.weight.grad.coalesce().indices()[0]
    assert torch.equal(rows.sort().values, used)


def _batch(data, b=32, hl=5):
    seen = SeenItems(data.train_users, data.train_items, data.n_items)
    hist = Histories(data.train_users, data.train_items, data.n_users)
    u = torch.from_numpy(data.train_users[:b]).long()
    i = torch.from_numpy(data.train_items[:b]).long()
    return seen, u, i, hist.window(u, torch.from_numpy(data.train_pos[:b]).long(), hl)


@pytest.mark.parametrize("variant", [
    {"sampler": "dns"}, {"sampler": "mixgcf"}, {"sampler": "dns", "edis": True},
    {"sampler": "esans"}])
def test_a_fresh_selection_table_gives_the_exact_loss_and_gradient(variant):
    """Scoring candidates on a table of the current item vectors (refreshed this step) is the
    exact computation: the same loss and gradients as scoring them with the tower, dense or
    sparse ids, and the sparse gradient touches only the used items either way."""
    from esans.model.stale_table import refresh

    data = tiny_data(n_users=40, n_items=200, per_user=12)
    p = TrainParams(**{"candidates": 4, **variant}, batch_size=32, dim=8, history_len=5,
                    m_c=1, n_negatives=4, mns_uniform=10, threads=1)
    seen, u, i, h = _batch(data)
    for sparse in (False, True):
        out = {}
        for use_table in (False, True):
            torch.manual_seed(0)
            model = TwoTower(torch.from_numpy(data.content), data.n_users, 8, 5, sparse)
            loss, _ = batch_loss(model, p, build_sampler(p, data, seen), seen, u, i, h,
                                 torch.Generator().manual_seed(3),
                                 table=refresh(model) if use_table else None)
            loss.backward()
            out[use_table] = [loss.detach()] + [w.grad.to_dense() for w in model.parameters()]
        for a, b in zip(out[False], out[True], strict=True):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-5)


def test_selection_follows_the_table_not_the_current_tower():
    """DNS keeps the candidates the *table* scores highest: with a table that reverses every
    item vector, the kept (gradient-carrying) candidates are the current model's easiest."""
    from esans.model.stale_table import refresh
    from esans.sampling.dns import top_columns

    data = tiny_data(n_users=40, n_items=200, per_user=12)
    p = TrainParams(sampler="dns", batch_size=32, dim=8, history_len=5, n_negatives=3,
                    candidates=4, threads=1)
    seen, u, i, h = _batch(data)
    torch.manual_seed(0)
    model = TwoTower(torch.from_numpy(data.content), data.n_users, 8, 5, sparse_ids=True)
    loss, _ = batch_loss(model, p, build_sampler(p, data, seen), seen, u, i, h,
                         torch.Generator().manual_seed(3), table=-refresh(model))
    loss.backward()
    drawn = build_sampler(p, data, seen).sample(u, i, torch.Generator().manual_seed(3)).ids
    with torch.no_grad():
        uv = model.users(u, h)
        hit = (drawn == i.unsqueeze(1)) | seen.contains(u, drawn)
        easiest = drawn.gather(1, top_columns(uv, -model.items(drawn), 3, hit))
        hardest = drawn.gather(1, top_columns(uv, model.items(drawn), 3, hit))
    rows = model.item_id.weight.grad.coalesce().indices()[0]
    used = torch.cat([i, h.clamp(min=0).reshape(-1), easiest.reshape(-1)]).unique()
    assert torch.equal(rows.sort().values, used)
    assert not torch.equal(easiest.sort(1).values, hardest.sort(1).values)


def test_the_stale_table_refreshes_every_n_ticks_and_holds_between():
    from esans.model.stale_table import StaleItemTable, refresh

    data = tiny_data(n_users=40, n_items=200, per_user=12)
    torch.manual_seed(0)
    model = TwoTower(torch.from_numpy(data.content), data.n_users, 8, 5)
    with torch.no_grad():
        assert torch.allclose(refresh(model), model.all_items(), atol=1e-6)
    table = StaleItemTable(every=3)
    seen_tables = []
    for _ in range(7):
        seen_tables.append(table.tick(model))
        with torch.no_grad():                      # the model moves every step
            model.item_id.weight.add_(0.05)
    fresh = [t is not seen_tables[k - 1] for k, t in enumerate(seen_tables) if k > 0]
    assert fresh == [False, False, True, False, False, True]     # ticks 3 and 6 refresh
    assert not seen_tables[2].requires_grad
    assert not torch.allclose(seen_tables[2], refresh(model))    # stale by then
    restored = StaleItemTable(every=3)
    restored.load_state_dict(table.state_dict())
    assert restored.steps == 7 and restored.tick(model) is table.vectors   # tick 7: held


@pytest.mark.parametrize("sampler", ["uniform", "popularity", "dns", "esans"])
def test_training_builds_one_train_item_table_and_the_sampler_uses_it(sampler, monkeypatch):
    """The loss trusts the sampler's lookup (``Negatives.seen``), so both must use the same
    table; building it once also keeps its memory single at scale."""
    import esans.trainer as train_mod

    built = []

    class Counted(SeenItems):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            built.append(self)

    made = []
    real_build = train_mod.build_sampler

    def spy(p, data, seen=None):
        s = real_build(p, data, seen)
        made.append(s)
        return s

    monkeypatch.setattr(train_mod, "SeenItems", Counted)
    monkeypatch.setattr(train_mod, "build_sampler", spy)
    p = TrainParams(sampler=sampler, epochs=1, batch_size=64, dim=16, history_len=5, m_c=1,
                    n_negatives=4, candidates=2, threads=1)
    fit(p, tiny_data(), seed=0, log=lambda s: None)
    assert len(built) == 1
    inner = getattr(made[0], "pool", made[0])     # DNS draws through its uniform pool
    assert inner.seen is built[0]


@pytest.mark.parametrize("old, now", [
    # the train block every earlier bundle carries: the same model as today's default
    ({"m_c": 2, "m_o": 5, "n_negatives": 7, "pool_size": 32, "hard_candidates": 4,
      "easy_candidates": 4, "edis_sources": 0, "pool": "none"}, {}),
    ({"sampler": "esans", "m_c": 2, "m_o": 6, "hard_candidates": 1, "easy_candidates": 1},
     {"sampler": "esans", "n_negatives": 8, "candidates": 1}),            # the paper's
    ({"sampler": "dns", "n_negatives": 8, "pool_size": 32, "edis": True, "edis_sources": 8},
     {"sampler": "dns", "n_negatives": 8, "candidates": 4, "edis": True}),
])
def test_earlier_spellings_of_the_budget_and_candidates_load_as_the_same_model(old, now):
    p = Params.model_validate({"train": old}).train
    assert p == TrainParams(**now)
    assert (p.m_o, p.pool_size) == (p.n_negatives - p.m_c, p.candidates * p.n_negatives)


def test_an_earlier_spelling_with_no_equal_today_is_refused_with_its_key():
    with pytest.raises(ValueError, match="train.edis_sources: 3 is no longer offered"):
        Params.model_validate({"train": {"sampler": "dns", "edis": True, "edis_sources": 3}})
    with pytest.raises(ValueError, match=r"hard_candidates / easy_candidates: \[1, 4\] differ"):
        Params.model_validate({"train": {"hard_candidates": 1}})
    with pytest.raises(ValueError, match="extra_forbidden|Extra inputs"):
        Params.model_validate({"train": {"pool_sizes": 3}})
