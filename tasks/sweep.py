"""Parameter sweeps as DVC experiments: `dvc exp run --queue -S key=value`, then run the queue.

Each setting is an ordinary DVC experiment (see `dvc exp show`; `dvc exp apply <name>` keeps
one), so a sweep started from Prefect and one typed by hand are the same thing. Stages whose
deps and params a setting does not touch are restored from DVC's run-cache, not recomputed.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from prefect import get_run_logger, task

from tasks.stages import dvc, failure_reason


def settings_grid(grid: dict[str, list]) -> list[dict[str, object]]:
    """{"train.m_c": [1, 2], "train.n_negatives": [7]} -> one dict per combination."""
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(grid[k] for k in keys))]


def experiment_name(setting: dict[str, object]) -> str:
    """A readable, git-ref-safe name: ``mc2-mo5``, ``edislambda0p1``."""
    return "-".join(f"{k.split('.')[-1].replace('_', '')}{v}" for k, v in setting.items()
                    ).replace(".", "p").replace("/", "_")


def _collect(node, out: dict) -> None:
    """{experiment name: metrics.json data} from `dvc exp show --json`."""
    if isinstance(node, dict):
        data = node.get("data")
        if isinstance(data, dict) and node.get("name"):
            m = (data.get("metrics") or {}).get("metrics.json", {}).get("data")
            if m:
                out[node["name"]] = m
        for v in node.values():
            _collect(v, out)
    elif isinstance(node, list):
        for v in node:
            _collect(v, out)


def _sh(project_dir: str | Path, *args: str) -> str:
    proc = dvc(project_dir, *args)
    if proc.returncode != 0:
        raise RuntimeError(f"dvc {' '.join(args)} failed: {failure_reason(proc)}")
    return proc.stdout


def run_sweep(project_dir: str | Path, settings: list[dict[str, object]], jobs: int = 1,
              metric: str = "recall@50") -> list[dict]:
    """Queue one experiment per setting, run the queue, return one row per setting (sorted
    by the validation metric, best first; test metrics reported alongside, never selected on)."""
    names = [experiment_name(s) for s in settings]
    for name, s in zip(names, settings, strict=True):
        _sh(project_dir, "exp", "run", "--queue", "-n", name,
            *[a for k, v in s.items() for a in ("-S", f"{k}={v}")])
    _sh(project_dir, "exp", "run", "--run-all", "-j", str(jobs))
    found: dict = {}
    _collect(json.loads(_sh(project_dir, "exp", "show", "--json") or "[]"), found)
    rows = []
    for name, s in zip(names, settings, strict=True):
        m = found.get(name, {})
        rows.append({"experiment": name, "setting": s,
                     "valid": (m.get("valid") or {}).get(metric),
                     "test": (m.get("test") or {}).get(metric), "metrics": m})
    return sorted(rows, key=lambda r: -(r["valid"] if r["valid"] is not None else -1))


@task(name="dvc-exp-sweep")
def sweep_task(project_dir: str, settings: list[dict[str, object]], jobs: int = 1,
               metric: str = "recall@50") -> list[dict]:
    rows = run_sweep(project_dir, settings, jobs, metric)
    get_run_logger().info("sweep: %d experiments, best %s", len(rows),
                          rows[0]["experiment"] if rows else None)
    return rows
