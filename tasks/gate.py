"""Prefect tasks around the pipeline: what DVC finds stale, and the promotion gate."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task

from esans import registry
from esans.config import load_params
from tasks import dag
from tasks.dag import Pipeline


@task(name="stale-stages")
def stale_stages(project_dir: str) -> Pipeline:
    """DVC's graph of the pipeline and the stages `dvc status` finds changed (the
    always-changed source fingerprint is not stale by itself)."""
    pipeline = dag.read(project_dir, status=True)
    get_run_logger().info("stale stages: %s", pipeline.stale or "none")
    return pipeline


@task(name="promotion-gate")
def gate(project_dir: str) -> dict:
    """`esans promote`: gate the workspace's bundle against the champion (both re-scored on
    the candidate's validation split) and promote it if it passes."""
    root = Path(project_dir)
    params = load_params(root / "params.yaml")
    p = params.promote
    d = registry.promote(root, metric=p.metric, max_drop=p.max_recall_drop,
                         compare_last=p.compare_last, keep=p.keep,
                         max_users=params.evaluate.users)
    get_run_logger().info("promotion gate: %s", d.reason)
    return d.as_dict()
