"""Shared fixtures: an isolated copy of the project with a tiny synthetic config."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DATASET = (ROOT / "../shared/datasets/ml100k-multimodal").resolve()

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TINY = {
    "data": {"synthetic": {"n_items": 240, "n_users": 120, "n_events": 4000, "n_topics": 6,
                           "image_size": 32}},
    "encode": {"image": {"size": 64}},
    "cluster": {"n_l1": 6, "n_l2": 4, "min_cluster_size": 3},
    "fuse": {"epochs": 30},
    # the paper's method end to end (the default rule picks the full softmax at this size;
    # tests/unit/test_auto_sampler.py covers the rule)
    "train": {"sampler": "esans", "epochs": 3, "batch_size": 256, "patience": 2},
    "validate": {"min_interactions": 50},
}


def deep_update(base: dict, new: dict) -> dict:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            deep_update(base[k], v)
        else:
            base[k] = v
    return base


def run(cmd: list[str], cwd: Path, check: bool = True, env: dict | None = None,
        **kw) -> subprocess.CompletedProcess:
    base = env if env is not None else dict(os.environ)
    env = {**base, "PATH": f"{BIN}{os.pathsep}{base.get('PATH', '')}"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def make_project(dest: Path, overrides: dict | None = None) -> Path:
    """Copy the project's pipeline files to ``dest`` as a fresh git + DVC repo."""
    for name in ("dvc.yaml", "params.yaml", "prefect.yaml"):
        shutil.copy(ROOT / name, dest / name)
    for name in ("esans", "tasks", "flows"):
        shutil.copytree(ROOT / name, dest / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".gitignore", dest / ".gitignore")
    (dest / "bench/results").mkdir(parents=True)
    shutil.copy(ROOT / "bench/results/map.json", dest / "bench/results/map.json")  # report dep
    set_params(dest, TINY, overrides or {})
    run(["git", "init", "-q"], dest)
    run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "add", "-A"], dest)
    run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init"], dest)
    run([str(BIN / "dvc"), "init", "-q"], dest)
    run([str(BIN / "dvc"), "config", "core.analytics", "false"], dest)
    return dest


def set_params(p: Path, *overrides: dict) -> None:
    """Deep-update the project ``p``'s params.yaml with each of ``overrides``, in order."""
    params = yaml.safe_load((p / "params.yaml").read_text())
    for o in overrides:
        deep_update(params, o)
    (p / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def copy_project(src: Path, dest: Path, overrides: dict | None = None) -> Path:
    """A private copy of the built project ``src`` (links kept: ``models/current`` stays a
    promotion), its params.yaml deep-updated with ``overrides``."""
    shutil.copytree(src, dest, symlinks=True)
    if overrides:
        set_params(dest, overrides)
    return dest


@pytest.fixture
def tiny_project(tmp_path: Path) -> Path:
    return make_project(tmp_path)


@pytest.fixture(scope="session")
def built_project(tmp_path_factory) -> Path:
    """A tiny project after `make pipeline`'s steps: one full `dvc repro`, then `esans promote`
    (shared by the pipeline and CLI tests; copy it before changing it)."""
    p = make_project(tmp_path_factory.mktemp("built"))
    run([str(BIN / "dvc"), "repro"], p, timeout=900)
    run([str(BIN / "esans"), "promote"], p)
    return p


FAULTS = ROOT / "tests/faults"


def fault_env(**faults: str) -> dict:
    """This environment with the crash tests' fault injection (tests/faults/sitecustomize.py)
    active in every Python process started from it: e.g. ``ESANS_TEST_KILL_AT_STEP="17"``."""
    path = os.pathsep.join(p for p in (str(FAULTS), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, **faults}
