"""Crash resume (SIGKILL mid-epoch) and determinism on the tiny synthetic project."""

import json
import signal
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import copy_project, fault_env, run

pytestmark = pytest.mark.slow
ESANS = str(Path(sys.executable).parent / "esans")


@pytest.fixture
def workspace(built_project, tmp_path):
    return copy_project(built_project, tmp_path / "ws", {"train": {
        "checkpoint_every": 3,
        "epochs": 3, "patience": 5}})


def _state(p: Path) -> dict:
    return torch.load(p / "models/candidate/model.pt", weights_only=True)


def test_sigkill_mid_epoch_resumes_to_the_same_model(workspace):
    run([ESANS, "train", "-q"], workspace)
    clean_state = _state(workspace)
    clean_report = json.loads((workspace / "reports/train.json").read_text())
    assert not (workspace / ".cache/train/checkpoint.pt").exists()   # removed when done

    env = fault_env(ESANS_TEST_KILL_AT_STEP="17")                     # epoch 2 of 3
    proc = run([ESANS, "train"], workspace, check=False, env=env)
    assert proc.returncode == -signal.SIGKILL
    assert (workspace / ".cache/train/checkpoint.pt").exists()
    # the published model is still the clean run's: a crash never half-writes it
    assert all(torch.equal(clean_state[k], v) for k, v in _state(workspace).items())

    resumed = run([ESANS, "train"], workspace)
    assert "resumed from checkpoint: epoch 2" in resumed.stderr
    state = _state(workspace)
    assert state.keys() == clean_state.keys()
    assert all(torch.equal(clean_state[k], state[k]) for k in state)
    report = json.loads((workspace / "reports/train.json").read_text())
    assert report["best_valid_recall@50"] == clean_report["best_valid_recall@50"]

