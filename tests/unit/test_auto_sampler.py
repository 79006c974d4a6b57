"""train.sampler: auto picks the best measured sampler for the catalogue's size."""

from __future__ import annotations

from esans.config import AUTO_LARGE_ITEMS, Params, TrainParams, resolve_sampler
from esans.sampling.own_cluster import OwnClusterMask
from esans.train import build_sampler, train
from tests.unit.test_training import tiny_data


def test_auto_is_dns_with_edis_and_the_mask_below_the_threshold_and_mixed_above():
    t = TrainParams(sampler="auto", n_negatives=6)
    small, why = resolve_sampler(t, AUTO_LARGE_ITEMS - 1)
    assert (small.sampler, small.edis, small.excludes_own_l2, small.edis_sources) == (
        "dns", True, True, 6)
    assert small.uses_edis and "dns + EDIS" in why
    large, why = resolve_sampler(t, AUTO_LARGE_ITEMS)
    assert (large.sampler, large.uses_edis, large.excludes_own_l2) == ("mixed", False, False)
    assert "mixed" in why
    # a named sampler is itself, at any size
    assert resolve_sampler(TrainParams(sampler="esans"), 10**7)[0].sampler == "esans"


def test_auto_trains_as_its_choice_and_says_so():
    data = tiny_data()
    p = TrainParams(sampler="auto", epochs=2, batch_size=64, dim=16, history_len=5,
                    n_negatives=4, pool_size=8, threads=1)
    assert isinstance(build_sampler(p, data), OwnClusterMask)
    res = train(p, data, seed=0, log=lambda s: None)
    assert res.sampler == "dns" and res.sampler_choice.startswith("auto: dns")
    assert res.history[-1]["loss"] < res.history[0]["loss"]


def test_the_shipped_default_is_the_rule():
    assert Params().train.sampler == "auto"
