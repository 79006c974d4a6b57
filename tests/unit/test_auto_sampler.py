"""train.sampler: auto picks the best measured sampler for the catalogue's size."""

from __future__ import annotations

from esans.config import AUTO_LARGE_ITEMS, Params, TrainParams, resolve_sampler
from esans.sampling.msac import MSACSampler
from esans.trainer import build_sampler, fit
from tests.unit.test_training import tiny_data


def test_auto_is_the_projects_esans_below_the_threshold_and_mixed_from_it():
    t = TrainParams(sampler="auto", selection_table_every=50)
    small, why = resolve_sampler(t, AUTO_LARGE_ITEMS - 1)
    assert (small.sampler, small.candidates, small.uses_edis) == ("esans", 4, True)
    assert small.excludes_own_l2 and "esans" in why
    large, why = resolve_sampler(t, AUTO_LARGE_ITEMS)
    assert (large.sampler, large.uses_edis, large.excludes_own_l2,
            large.table_every) == ("mixed", False, False, 0)
    assert "mixed" in why and f"{AUTO_LARGE_ITEMS:,}" in why
    # a named sampler is itself, at any size
    assert resolve_sampler(TrainParams(sampler="dns"), 10**7)[0].sampler == "dns"


def test_auto_trains_as_its_choice_and_says_so():
    data = tiny_data()
    p = TrainParams(sampler="auto", epochs=2, batch_size=64, dim=16, history_len=5, m_c=2,
                    n_negatives=5, threads=1)
    assert isinstance(build_sampler(p, data), MSACSampler)
    res = fit(p, data, seed=0, log=lambda s: None)
    assert res.sampler == "esans" and res.sampler_choice.startswith("auto: esans") and res.edis
    assert res.history[-1]["loss"] < res.history[0]["loss"]


def test_the_shipped_default_is_the_rule():
    assert Params().train.sampler == "auto"
