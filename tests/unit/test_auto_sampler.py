"""train.sampler: auto picks the best measured sampler for the catalogue's size, and
train.temperature: auto the temperature the map chose for that sampler."""

from __future__ import annotations

import pytest

from esans.config import (AUTO_LARGE_ITEMS, AUTO_TEMPERATURE, PER_ROW_TEMPERATURE, Params,
                          TrainParams, resolve_sampler)
from esans.trainer import build_sampler, fit
from tests.unit.test_training import tiny_data


def test_auto_is_the_full_softmax_below_the_threshold_and_mixed_from_it():
    t = TrainParams(sampler="auto", selection_table_every=50)
    small, why = resolve_sampler(t, AUTO_LARGE_ITEMS - 1)
    assert (small.sampler, small.uses_edis, small.excludes_own_l2,
            small.table_every) == ("full", False, False, 0)
    assert small.temperature == AUTO_TEMPERATURE["full"] == 0.2
    assert why.startswith("auto: full") and "temperature 0.2 (auto)" in why
    large, why = resolve_sampler(t, AUTO_LARGE_ITEMS)
    assert (large.sampler, large.uses_edis, large.excludes_own_l2,
            large.table_every) == ("mixed", False, False, 0)
    assert large.temperature == AUTO_TEMPERATURE["mixed"] == 0.1
    assert "mixed" in why and f"{AUTO_LARGE_ITEMS:,}" in why
    # the rule never needs MSAC's clusters: neither branch reads them
    assert not t.needs_clusters and not small.needs_clusters and not large.needs_clusters


@pytest.mark.parametrize("sampler", ["dns", "esans", "uniform"])
def test_a_named_sampler_is_itself_and_per_row_ones_keep_the_per_row_temperature(sampler):
    t, why = resolve_sampler(TrainParams(sampler=sampler), 10**7)
    assert (t.sampler, t.temperature) == (sampler, PER_ROW_TEMPERATURE)
    assert why.startswith(f"train.sampler: {sampler}")
    # a temperature set by hand is kept, whatever the sampler
    assert resolve_sampler(TrainParams(sampler="auto", temperature=0.05), 100)[0].temperature \
        == 0.05


def test_auto_trains_as_its_choice_and_says_so():
    data = tiny_data()
    p = TrainParams(sampler="auto", epochs=2, batch_size=64, dim=16, history_len=5, m_c=2,
                    n_negatives=5, threads=1)
    assert build_sampler(p, data) is None          # the full softmax draws nothing
    res = fit(p, data, seed=0, log=lambda s: None)
    assert res.sampler == "full" and res.sampler_choice.startswith("auto: full")
    assert not res.edis
    assert res.history[-1]["loss"] < res.history[0]["loss"]


def test_the_shipped_default_is_the_rule():
    assert Params().train.sampler == "auto" and Params().train.temperature == "auto"
