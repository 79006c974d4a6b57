"""How long does a retrain take when nothing changed? (the nightly case)

    python bench/noop.py

On this workspace (run `make pipeline` first): times `dvc repro` with everything up to date,
and the Prefect `retrain` flow (ephemeral API; three runs, the median reported) that ends
early when DVC finds nothing stale.
Writes bench/results/noop.json. Goal: <= 10 s on 2 cores for the synthetic default.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 3  # flow runs; the median is reported (machines are noisy)


def timed(cmd: list[str]) -> tuple[float, str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "PREFECT_HOME": str(ROOT / ".prefect"), "DO_NOT_TRACK": "1",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "HF_HUB_OFFLINE": "1"}
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - t0, p.stdout + p.stderr


def main() -> None:
    bin_ = Path(sys.executable).parent
    timed([str(bin_ / "dvc"), "repro"])                      # make sure it is up to date
    lock = (ROOT / "dvc.lock").read_bytes()
    t_dvc, out = timed([str(bin_ / "dvc"), "repro"])
    lock_same = (ROOT / "dvc.lock").read_bytes() == lock
    ran = [s for s in ("split", "encode", "train") if f"Running stage '{s}'" in out]
    flows = [timed([sys.executable, "-m", "flows.retrain"]) for _ in range(RUNS)]
    times = sorted(t for t, _ in flows)
    result = {"dvc_repro_noop_s": round(t_dvc, 2),
              "retrain_flow_noop_s": round(times[len(times) // 2], 2),  # the median run
              "retrain_flow_noop_runs_s": [round(t, 2) for t, _ in flows],
              "stages_rerun": ran,
              "flow_says_up_to_date": all("up to date" in out for _, out in flows),
              "dvc_lock_identical_after_noop": lock_same and (ROOT / "dvc.lock").read_bytes() == lock,
              "goal_s": 10}
    out_path = ROOT / "bench/results/noop.json"
    out_path.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
