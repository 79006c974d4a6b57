"""The `sweep` flow queues DVC experiments (`dvc exp run --queue`) and ranks them."""

import json

import pytest

from tests.conftest import BIN, copy_project, run

pytestmark = pytest.mark.slow


def test_sweep_queues_dvc_experiments_and_ranks_on_validation(built_project, monkeypatch,
                                                               tmp_path):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    from prefect.testing.utilities import prefect_test_harness

    from flows.sweep import sweep
    from tasks.sweep import experiment_name, settings_grid

    p = copy_project(built_project, tmp_path / "ws")   # the baseline the experiments branch from
    baseline = json.loads((p / "metrics.json").read_text())
    grid = {"train.m_c": [1, 3], "train.edis_lambda": [0.2]}
    with prefect_test_harness():
        rows = sweep(project_dir=str(p), grid=grid)
    assert [s for s in settings_grid(grid)] == [{"train.m_c": 1, "train.edis_lambda": 0.2},
                                                 {"train.m_c": 3, "train.edis_lambda": 0.2}]
    assert {r["experiment"] for r in rows} == {"mc1-edislambda0p2", "mc3-edislambda0p2"}
    assert experiment_name({"train.edis_lambda": -0.1}) == "edislambda-0p1"
    valid = [r["valid"] for r in rows]
    assert valid == sorted(valid, reverse=True) and all(0 < v <= 1 for v in valid)
    # real, distinct runs: each experiment trained its own model
    assert rows[0]["metrics"]["test"] != rows[1]["metrics"]["test"]
    shown = run([str(BIN / "dvc"), "exp", "show", "--json"], p).stdout
    assert "mc1-edislambda0p2" in shown and "mc3-edislambda0p2" in shown
    # the workspace itself is untouched by the sweep
    assert json.loads((p / "metrics.json").read_text()) == baseline
