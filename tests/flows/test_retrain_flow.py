"""The Prefect `retrain` flow under prefect_test_harness, and prefect.yaml validation."""

import json
import os
import time

import pytest
import yaml

from tests.conftest import BIN, ROOT, run, set_params

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


def test_retrain_flow_runs_gates_promotes_and_skips_when_up_to_date(tiny_project, monkeypatch,
                                                                     tmp_path):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    from prefect.testing.utilities import prefect_test_harness

    from flows.retrain import retrain
    from tasks import dag

    p = tiny_project
    remote = tmp_path / "dvc-remote"
    run([str(BIN / "dvc"), "remote", "add", "-d", "store", str(remote)], p)
    with prefect_test_harness():
        result = retrain(project_dir=str(p))
        assert [r["stage"] for r in result["stages"]] == dag.read(p).order
        assert all(r["ran"] for r in result["stages"])
        metrics = json.loads((p / "metrics.json").read_text())
        assert result["metrics"] == metrics and metrics["test"]["recall@50"] > 0
        assert result["promotion"]["promote"]
        assert result["promotion"]["pushed_to"] == "store"       # promoted artifacts pushed
        assert sum(1 for f in remote.rglob("*") if f.is_file()) > 10
        current = os.readlink(p / "models/current")
        assert (p / "models/current/model.pt").exists()
        assert (p / "registry" / f"{result['promotion']['model_id']}.dvc").exists()

        # nothing changed: ends early, nothing retrained
        t0 = time.perf_counter()
        again = retrain(project_dir=str(p))
        assert again["up_to_date"] and [r["stage"] for r in again["stages"]] == ["source"]
        assert again["promotion"]["identical"] and not again["promotion"]["promote"]
        assert time.perf_counter() - t0 < 30

        # a deliberately worse model (one epoch at a tiny learning rate) is rejected
        set_params(p, {"train": {"epochs": 1, "lr": 1e-6}})
        state = retrain(project_dir=str(p), return_state=True)
        assert state.is_failed()
        assert "model rejected" in state.message and "below the best recent" in state.message
        assert os.readlink(p / "models/current") == current
        assert len((p / "models/registry.jsonl").read_text().splitlines()) == 1

        # upstream stages the rejected run found up to date are now skipped from Prefect's
        # cache (keyed on their dvc.lock entries); the params change reruns train onwards
        set_params(p, {"train": {"epochs": 2, "lr": 0.002}})
        last = retrain(project_dir=str(p), promote=False)
        by_stage = {r["stage"]: r for r in last["stages"]}
        upstream = ["ingest", "validate", "split", "encode", "behaviour", "fuse", "cluster"]
        assert all(by_stage[s].get("cached") for s in upstream), by_stage
        assert all(by_stage[s]["ran"] for s in ["train", "index", "evaluate", "bundle", "report"])
        assert not by_stage["source"].get("cached")               # always-changed: never cached


def test_a_validation_failure_is_not_retried_and_leaves_its_reason(tiny_project, monkeypatch,
                                                                   tmp_path):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.testing.utilities import prefect_test_harness

    from flows.retrain import retrain

    p = tiny_project
    set_params(p, {"validate": {"min_interactions": 10_000_000}})   # the data cannot meet it
    before = (p / "params.yaml").read_bytes()
    with prefect_test_harness():
        state = retrain(project_dir=str(p), sampler="uniform", return_state=True)
        assert state.is_failed() and "StageRejectedInput" in state.message
        assert "esans: error:" in state.message and "validate" in state.message

        async def read():
            async with get_client() as client:
                runs = await client.read_task_runs()
                arts = await client.read_artifacts(artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=["esans-retrain-failure"])))
                return runs, arts

        runs, arts = asyncio.run(read())
    validate = [r for r in runs if r.name == "validate"]
    assert len(validate) == 1 and validate[0].run_count == 1      # failed fast, no retry
    assert arts and "esans: error:" in arts[0].data and "still serves" in arts[0].data
    assert arts[0].flow_run_id == state.state_details.flow_run_id
    assert (p / "params.yaml").read_bytes() == before              # the override is gone too
