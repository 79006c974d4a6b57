"""ESANS sensitivity to m_c x m_o and to the EDIS extrapolation lambda, as DVC experiments.

    python bench/sensitivity.py

In the ml100k workspace prepared by bench/samplers.py, queues one `dvc exp run --queue -S ...`
per setting (the standard DVC way, reproducible by hand with the same commands), runs the queue,
and tabulates test Recall@50 / NDCG@50 from each experiment's metrics.json. Writes
bench/results/sensitivity-ml100k.{json,md}. One seed per setting (params.yaml's).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from tasks.sweep import experiment_name as name
from tasks.sweep import run_sweep

GRID = [{"train.m_c": mc, "train.m_o": mo} for mc in (1, 2, 3) for mo in (4, 5, 6)]
LAMBDAS = [{"train.edis_lambda": lam} for lam in (0.5, 0.3, 0.1, -0.1, -0.3)]


def main() -> None:
    import samplers

    work = ROOT / "bench/.work/ml100k"
    samplers.prepare(work, samplers.DATASET)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}

    def sh(*cmd: str) -> str:
        return subprocess.run(cmd, cwd=work, env=env, check=True, capture_output=True,
                              text=True).stdout

    sh("dvc", "repro")  # the baseline (params.yaml defaults) must be committed with its lock
    sh("git", "add", "-A")
    subprocess.run(["git", "-c", "user.email=bench@esans", "-c", "user.name=bench", "commit",
                    "-qm", "bench baseline"], cwd=work, env=env)
    settings = GRID + LAMBDAS
    found = {r["experiment"]: r["metrics"] for r in run_sweep(work, settings)}
    rows = {name(s): {"setting": s, **{k: found.get(name(s), {}).get("test", {}).get(k)
                                       for k in ("recall@50", "ndcg@50", "recall@20")}}
            for s in settings}
    out = ROOT / "bench/results/sensitivity-ml100k"
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    md = ["Test Recall@50 of ESANS for m_c (rows) x m_o (columns), one seed:", "",
          "| m_c \\ m_o | 4 | 5 | 6 |", "|---|---|---|---|"]
    for mc in (1, 2, 3):
        cells = [rows[name({"train.m_c": mc, "train.m_o": mo})]["recall@50"] for mo in (4, 5, 6)]
        md.append(f"| {mc} | " + " | ".join(f"{c:.4f}" if c else "-" for c in cells) + " |")
    md += ["", "EDIS extrapolation lambda (m_c=2, m_o=5):", "", "| lambda | Recall@50 | NDCG@50 |",
           "|---|---|---|"]
    for s in LAMBDAS:
        r = rows[name(s)]
        md.append(f"| {s['train.edis_lambda']} | {r['recall@50'] or float('nan'):.4f} | "
                  f"{r['ndcg@50'] or float('nan'):.4f} |")
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
