"""SIGKILL `dvc repro` at every stage boundary and in the middle of `train` and `index`: the
promoted champion keeps answering exactly as before, and the pipeline resumes to the bytes an
uninterrupted run gives (same data, params and seed: the same metrics.json and model)."""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import polars as pl
import pytest

from esans.bundle import Bundle
from esans.query import Server
from tasks import dag
from tests.conftest import BIN, copy_project, fault_env, run

pytestmark = pytest.mark.slow


def _answers(p: Path, users: list[str]) -> dict:
    server = Server.open(p)                    # what `esans recommend` serves, freshly loaded
    return {u: server.recommend(u, 10) for u in users}


def _outputs_gone(p: Path) -> None:
    """Every pipeline output removed (the registry and champion stay): all stages stale. The
    encode cache stays: the rerun encodes nothing, and its outputs must still be byte-identical
    to the cold run's (an item's vector never depends on its batch-mates)."""
    for rel in ("data", "reports", "models/bundle", "models/candidate"):
        shutil.rmtree(p / rel, ignore_errors=True)
    for rel in ("metrics.json", "dvc.lock"):
        (p / rel).unlink()


def _repro_killed(p: Path, stage: str, holding: str | None) -> str:
    """Start `dvc repro`; SIGKILL its whole process group as ``stage`` starts (the previous
    stage complete and recorded in dvc.lock) or, with ``holding`` (an output folder), in the
    middle of the stage: its new output fully written to a temp folder, not yet published."""
    env = fault_env(**({"ESANS_TEST_HOLD_PUBLISH": Path(holding).name} if holding else {}))
    env["PATH"] = f"{BIN}{os.pathsep}{os.environ['PATH']}"
    marker = None
    if holding:
        marker = p / Path(holding).parent / f".{Path(holding).name}.holding"
    proc = subprocess.Popen([str(BIN / "dvc"), "repro"], cwd=p, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env=env)
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if line.startswith(f"Running stage '{stage}'"):
                deadline = time.monotonic() + 300
                while marker and not marker.exists():
                    assert time.monotonic() < deadline and proc.poll() is None, "".join(seen)
                    time.sleep(0.05)
                break
        else:
            raise AssertionError(f"dvc repro ended before stage {stage}:\n{''.join(seen)}")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if marker is not None:
            marker.unlink(missing_ok=True)
    return "".join(seen)


def test_sigkill_at_every_stage_boundary_never_changes_what_is_served(built_project, tmp_path):
    ws = copy_project(built_project, tmp_path / "ws")
    users = pl.read_parquet(ws / "data/split/users.parquet")["user_id"].to_list()[:3]
    before = _answers(ws, users)
    _outputs_gone(ws)

    kills = [(s, None) for s in dag.read(ws).order[1:]]    # source always reruns
    kills.insert(kills.index(("index", None)), ("train", "models/candidate"))
    kills.insert(kills.index(("evaluate", None)), ("index", "data/index"))
    previous = None
    for stage, holding in kills:
        out = _repro_killed(ws, stage, holding)
        if previous:            # the stage killed mid-way did not complete: it runs again
            assert f"Running stage '{previous}'" in out, out
        assert _answers(ws, users) == before, f"killed at {stage} ({holding}):\n{out}"
        previous = stage if holding else None

    run([str(BIN / "dvc"), "repro"], ws, timeout=900)      # resumes to what one clean run gave
    assert (ws / "metrics.json").read_bytes() == (built_project / "metrics.json").read_bytes()
    assert Bundle(ws / "models/bundle").model_hash == \
        Bundle(built_project / "models/bundle").model_hash
    assert _answers(ws, users) == before
    assert "identical to the champion" in run([str(BIN / "esans"), "promote"], ws).stdout
