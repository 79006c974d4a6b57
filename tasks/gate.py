"""Prefect tasks around the pipeline: what DVC finds stale, and the promotion gate."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from prefect import get_run_logger, task

from esans import registry
from esans.config import load_params
from tasks.stages import _dvc


@task(name="stale-stages")
def stale_stages(project_dir: str) -> list[str]:
    """Stages `dvc status` reports as changed (the always-changed source fingerprint excluded)."""
    out = subprocess.run([_dvc(), "status", "--json"], cwd=project_dir, capture_output=True,
                         text=True, check=True).stdout
    status = json.loads(out or "{}")
    stale = []
    for stage, changes in status.items():
        if stage.endswith(".dvc"):       # registry/<id>.dvc: a promoted bundle, not a stage
            continue
        name = stage.split(":")[-1]
        real = [c for c in changes if c != "always changed"]
        if real:
            stale.append(name)
    get_run_logger().info("stale stages: %s", stale or "none")
    return stale


@task(name="promotion-gate")
def gate(project_dir: str) -> dict:
    """`esans promote`: gate the workspace's bundle against the champion (both re-scored on
    the candidate's validation split) and promote it if it passes."""
    root = Path(project_dir)
    p = load_params(root / "params.yaml").promote
    d = registry.promote(root, metric=p.metric, max_drop=p.max_recall_drop,
                         compare_last=p.compare_last, keep=p.keep)
    get_run_logger().info("promotion gate: %s", d.reason)
    return d.as_dict()
