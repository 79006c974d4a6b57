"""One Prefect task per DVC stage: ``dvc repro --single-item <stage>``.

DVC decides whether the stage is stale (deps, params, code) and skips it otherwise, so a flow
re-run does only the work that changed, and `dvc repro` by hand stays equivalent.

Caching: the task's cache key is the stage's ``dvc.lock`` entry (the md5 of every dep and out,
the params values and the command), given only when DVC finds neither the stage nor anything
upstream of it stale. A flow re-run then skips unchanged stages from Prefect's cache without
starting DVC at all; any change to data, code or params changes (or withholds) the key.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml
from prefect import get_run_logger, task
from prefect.context import TaskRunContext

from esans.registry import dvc_executable
from tasks.dag import Pipeline


class StageFailed(RuntimeError):
    """A stage failed for a reason that may pass (killed, out of memory, a lock): retried."""


class StageRejectedInput(StageFailed):
    """A stage refused its input or params (an ``esans: error:`` line): the same input fails
    the same way, so it is not retried."""


def _transient(task, task_run, state) -> bool:
    """Prefect's retry condition: retry everything but a rejected input."""
    return StageRejectedInput.__name__ not in (state.message or "")


def dvc(project_dir: str | Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``dvc <args>`` in the project with this environment's tools first on PATH; output
    captured, exit status not checked."""
    from esans.lock import FLOW_ENV

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
           f"{os.environ.get('PATH', '')}", FLOW_ENV: str(os.getpid())}
    return subprocess.run([dvc_executable(), *args], cwd=project_dir, env=env, capture_output=True,
                          text=True, check=False)


def failure_reason(proc: subprocess.CompletedProcess) -> str:
    """The line that says why: the stage's own ``esans: error:`` line, else the last one."""
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    return next((ln for ln in reversed(lines) if "esans: error:" in ln),
                lines[-1] if lines else f"exit {proc.returncode}")


def dvc_cache_keys(project_dir: str | Path, pipeline: Pipeline) -> dict[str, str | None]:
    """Each stage's ``dvc.lock`` entry, hashed; None for a stage that is (or may become)
    stale, is always-changed, or has never run. Entries of unaffected stages do not change
    while the flow runs, so one read serves the whole run."""
    lock_file = Path(project_dir) / "dvc.lock"
    lock = ((yaml.safe_load(lock_file.read_text()) or {}).get("stages", {})
            if lock_file.exists() else {})
    keys: dict[str, str | None] = {}
    for stage in pipeline.order:
        entry = lock.get(stage)
        if stage in pipeline.affected or stage in pipeline.always_changed or entry is None:
            keys[stage] = None
            continue
        blob = json.dumps({"stage": stage, "lock": entry}, sort_keys=True, default=str)
        keys[stage] = "esans-dvc-" + hashlib.sha256(blob.encode()).hexdigest()
    return keys


def _cache_key(context: TaskRunContext, parameters: dict) -> str | None:
    return None if parameters.get("force") else parameters.get("cache_key")


@task(name="stage", task_run_name="{stage}", retries=1, retry_delay_seconds=5,
      retry_condition_fn=_transient, cache_key_fn=_cache_key, persist_result=True)
def run_stage(stage: str, project_dir: str = ".", force: bool = False,
              cache_key: str | None = None) -> dict:
    """Run one DVC stage; return whether it ran and how long it took. ``cache_key`` (from
    :func:`dvc_cache_keys`) lets Prefect skip the call when the stage is known up to date."""
    logger = get_run_logger()
    t0 = time.perf_counter()
    proc = dvc(project_dir, "repro", "--single-item", stage, *(["--force"] if force else []))
    seconds = round(time.perf_counter() - t0, 2)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        logger.error("stage %s failed after %.1fs:\n%s", stage, seconds, out[-20000:])
        reason = failure_reason(proc)
        error = StageRejectedInput if "esans: error:" in reason else StageFailed
        raise error(f"stage {stage!r} failed: {reason}")
    ran = "didn't change, skipping" not in out
    logger.info("stage %s %s in %.1fs", stage, "ran" if ran else "up to date", seconds)
    if ran:
        logger.info("stage %s output:\n%s", stage, out[-20000:])
    return {"stage": stage, "ran": ran, "seconds": seconds}
