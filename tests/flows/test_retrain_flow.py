"""The Prefect `retrain` flow under prefect_test_harness, and prefect.yaml validation."""

import json

import pytest
import yaml

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_prefect_yaml_validates_and_points_at_the_flow():
    from prefect.cli.deploy._models import PrefectYamlModel

    raw = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    model = PrefectYamlModel.model_validate(raw)
    names = {d.name for d in model.deployments}
    assert {"retrain", "nightly"} <= names
    nightly = next(d for d in raw["deployments"] if d["name"] == "nightly")
    assert nightly["schedules"][0]["cron"] == "0 2 * * *"
    for d in raw["deployments"]:
        path, func = d["entrypoint"].split(":")
        assert (ROOT / path).exists()
        assert f"def {func}(" in (ROOT / path).read_text()


def test_retrain_flow_runs_every_stage(tiny_project, monkeypatch, tmp_path):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    from prefect.testing.utilities import prefect_test_harness

    from flows.retrain import retrain
    from tasks.dag import stage_order

    with prefect_test_harness():
        result = retrain(project_dir=str(tiny_project))
        assert [r["stage"] for r in result["stages"]] == stage_order(tiny_project / "dvc.yaml")
        assert all(r["ran"] for r in result["stages"])
        metrics = json.loads((tiny_project / "metrics.json").read_text())
        assert result["metrics"] == metrics
        assert metrics["test"]["recall@50"] > 0
        # second run: DVC finds nothing stale past ingest
        again = retrain(project_dir=str(tiny_project))
        ran = {r["stage"] for r in again["stages"] if r["ran"]}
        assert ran == {"ingest"}, ran
