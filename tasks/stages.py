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
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml
from prefect import get_run_logger, task
from prefect.context import TaskRunContext


class StageFailed(RuntimeError):
    pass


def _dvc() -> str:
    local = Path(sys.executable).with_name("dvc")
    return str(local) if local.exists() else (shutil.which("dvc") or "dvc")


def dvc_cache_key(project_dir: str | Path, stage: str, affected: set[str]) -> str | None:
    """The stage's ``dvc.lock`` entry, hashed; None when it is (or may become) stale, is
    always-changed, or has never run."""
    root = Path(project_dir)
    if stage in affected or not (root / "dvc.lock").exists():
        return None
    if yaml.safe_load((root / "dvc.yaml").read_text())["stages"][stage].get("always_changed"):
        return None
    entry = (yaml.safe_load((root / "dvc.lock").read_text()) or {}).get("stages", {}).get(stage)
    if entry is None:
        return None
    blob = json.dumps({"stage": stage, "lock": entry}, sort_keys=True, default=str)
    return "esans-dvc-" + hashlib.sha256(blob.encode()).hexdigest()


def _cache_key(context: TaskRunContext, parameters: dict) -> str | None:
    return None if parameters.get("force") else parameters.get("cache_key")


@task(name="stage", task_run_name="{stage}", retries=1, retry_delay_seconds=5,
      cache_key_fn=_cache_key, persist_result=True)
def run_stage(stage: str, project_dir: str = ".", force: bool = False,
              cache_key: str | None = None) -> dict:
    """Run one DVC stage; return whether it ran and how long it took. ``cache_key`` (from
    :func:`dvc_cache_key`) lets Prefect skip the call when the stage is known up to date."""
    logger = get_run_logger()
    cmd = [_dvc(), "repro", "--single-item", stage] + (["--force"] if force else [])
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
           f"{os.environ.get('PATH', '')}"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=project_dir, env=env, capture_output=True, text=True,
                          check=False)
    seconds = round(time.perf_counter() - t0, 2)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        lines = [ln for ln in out.splitlines() if ln.strip()]
        reason = next((ln for ln in reversed(lines) if "esans: error:" in ln),
                      lines[-1] if lines else f"exit {proc.returncode}")
        logger.error("stage %s failed after %.1fs:\n%s", stage, seconds, out[-4000:])
        raise StageFailed(f"stage {stage!r} failed: {reason}")
    ran = "didn't change, skipping" not in out
    logger.info("stage %s %s in %.1fs", stage, "ran" if ran else "up to date", seconds)
    return {"stage": stage, "ran": ran, "seconds": seconds}
