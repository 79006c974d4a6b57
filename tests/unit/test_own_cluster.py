"""MSAC's false-negative rule over whole-catalogue samplers (train.exclude_own_l2: true)."""

from __future__ import annotations

import math

import pytest
import torch

from esans.config import TrainParams
from esans.trainer import batch_loss, build_sampler, selector, fit
from esans.model.towers import TwoTower
from esans.sampling.base import SeenItems
from esans.sampling.own_cluster import OwnClusterMask
from tests.unit.test_training import tiny_data


@pytest.mark.parametrize("sampler", ["uniform", "popularity", "dns", "mixgcf"])
def test_draws_from_the_positives_own_level2_cluster_are_masked(sampler):
    data = tiny_data()
    p = TrainParams(sampler=sampler, n_negatives=4, candidates=4, exclude_own_l2=True)
    s = build_sampler(p, data)
    assert isinstance(s, OwnClusterMask) and s.name == sampler
    assert (selector(s) is not None) == (sampler in ("dns", "mixgcf"))
    g = torch.Generator().manual_seed(0)
    pos = torch.arange(data.n_items).repeat(20)
    neg = s.sample(torch.zeros_like(pos), pos, g)
    l2 = torch.from_numpy(data.l2)
    own = l2[neg.ids] == l2[pos].unsqueeze(1)
    assert own.any() and torch.equal(neg.masked, own)
    # off (auto for these samplers): the plain sampler, nothing masked
    assert not isinstance(build_sampler(p.model_copy(update={"exclude_own_l2": "auto"}), data),
                          OwnClusterMask)


def test_dns_never_keeps_an_own_cluster_candidate_while_another_is_left():
    data = tiny_data()
    p = TrainParams(sampler="dns", n_negatives=2, candidates=6, exclude_own_l2=True, dim=8,
                    history_len=4)
    s = build_sampler(p, data)
    model = TwoTower(torch.from_numpy(data.content), data.n_users, 8, 4)
    seen = SeenItems(data.train_users, data.train_items, data.n_items)
    g = torch.Generator().manual_seed(1)
    u = torch.from_numpy(data.train_users[:64]).long()
    i = torch.from_numpy(data.train_items[:64]).long()
    h = torch.full((64, 4), -1, dtype=torch.long)
    kept = []
    orig = s.inner.select

    def spy(user, pos_vec, neg_vec, hit, gen):
        sel = orig(user, pos_vec, neg_vec, hit, gen)
        kept.append((hit.gather(1, sel.keep), hit.sum(1)))
        return sel

    s.inner.select = spy
    loss, _ = batch_loss(model, p, s, seen, u, i, h, g)
    assert math.isfinite(loss.item())
    hit_kept, n_hit = kept[0]
    # a kept column is masked only where fewer than 2 unmasked candidates were drawn
    assert not hit_kept[n_hit <= 12 - 2].any()


def test_dns_with_the_mask_trains():
    data = tiny_data()
    p = TrainParams(sampler="dns", edis=True, exclude_own_l2=True, epochs=3, batch_size=64,
                    dim=16, history_len=5, n_negatives=4, candidates=2, threads=1)
    res = fit(p, data, seed=0, log=lambda s: None)
    assert res.history[-1]["loss"] < res.history[0]["loss"]
