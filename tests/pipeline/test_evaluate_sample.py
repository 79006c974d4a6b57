"""`evaluate.users`: a fixed, seeded sample of users for catalogues too large to rank every
user; `evaluate.batch_users`: ranking block size, which must not change any ranking."""

import json

import polars as pl
import pytest

from tests.conftest import BIN, copy_project, run, set_params

pytestmark = pytest.mark.slow


def _evaluate(p, **evaluate):
    set_params(p, {"evaluate": evaluate})
    out = run([str(BIN / "dvc"), "repro"], p, timeout=900).stdout
    assert "Running stage 'train'" not in out and "Running stage 'evaluate'" in out
    return (json.loads((p / "metrics.json").read_text()),
            pl.read_parquet(p / "data/evaluate/top200_test.parquet"))


def test_a_user_sample_ranks_those_users_exactly_as_the_full_run(built_project, tmp_path):
    p = copy_project(built_project, tmp_path / "ws")
    full = json.loads((p / "metrics.json").read_text())
    full_top = pl.read_parquet(p / "data/evaluate/top200_test.parquet")
    n_all = full["test"]["n_users"]
    assert n_all > 20

    metrics, top = _evaluate(p, users=20, batch_users=3)
    assert metrics["test"]["n_users"] == 20 and metrics["valid"]["n_users"] == 20
    sample = top["user_id"].unique().sort()
    assert sample.len() == 20
    # the sampled users' top-200 lists are the full run's, row for row (blocks of 3 users
    # instead of 1024 change nothing)
    want = full_top.filter(pl.col("user_id").is_in(sample.to_list())).sort("user_id", "rank")
    assert top.sort("user_id", "rank").equals(want)

    # the same seed gives the same sample; everyone again gives the full metrics back
    again, top_again = _evaluate(p, users=20, batch_users=1024)
    assert top_again["user_id"].unique().sort().equals(sample)
    assert again["test"] == metrics["test"]
    everyone, _ = _evaluate(p, users=0)
    assert everyone["test"] == full["test"]
