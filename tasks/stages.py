"""One Prefect task per DVC stage: ``dvc repro --single-item <stage>``.

DVC decides whether the stage is stale (deps, params, code) and skips it otherwise, so a flow
re-run does only the work that changed, and `dvc repro` by hand stays equivalent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from prefect import get_run_logger, task


class StageFailed(RuntimeError):
    pass


def _dvc() -> str:
    local = Path(sys.executable).with_name("dvc")
    return str(local) if local.exists() else (shutil.which("dvc") or "dvc")


@task(name="stage", task_run_name="{stage}", retries=1, retry_delay_seconds=5)
def run_stage(stage: str, project_dir: str = ".", force: bool = False) -> dict:
    """Run one DVC stage; return whether it ran and how long it took."""
    logger = get_run_logger()
    cmd = [_dvc(), "repro", "--single-item", stage] + (["--force"] if force else [])
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
           f"{os.environ.get('PATH', '')}"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=project_dir, env=env, capture_output=True, text=True)
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
