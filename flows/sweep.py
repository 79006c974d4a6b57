"""The ``sweep`` flow: a parameter grid as queued DVC experiments, ranked on validation.

    python -m flows.sweep                     # the default grid below
    prefect deployment run 'sweep/sweep' -p grid='{"train.m_c": [1, 2, 3]}'

Nothing is promoted: apply the winner with `dvc exp apply <name>` and let `retrain` gate it.
"""

from __future__ import annotations

import json
from pathlib import Path

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from esans.lock import workspace_lock
from tasks.sweep import settings_grid, sweep_task

DEFAULT_GRID = {"train.m_c": [1, 2, 3], "train.n_negatives": [6, 7, 8]}


def _markdown(rows: list[dict], metric: str) -> str:
    lines = ["# esans sweep (DVC experiments)", "",
             f"Ranked by validation {metric}; test shown for reference only.", "",
             f"| experiment | setting | valid {metric} | test {metric} |", "|---|---|---|---|"]
    fmt = lambda v: "-" if v is None else f"{v:.4f}"
    lines += [f"| {r['experiment']} | `{json.dumps(r['setting'])}` | {fmt(r['valid'])} | "
              f"{fmt(r['test'])} |" for r in rows]
    if rows:
        lines += ["", f"Keep the best: `dvc exp apply {rows[0]['experiment']}`."]
    return "\n".join(lines)


@flow(name="sweep", log_prints=True)
def sweep(project_dir: str = ".", grid: dict[str, list] | None = None, jobs: int = 1,
          metric: str = "recall@50") -> list[dict]:
    """Queue one DVC experiment per combination of ``grid``, run them, rank on validation."""
    root = Path(project_dir).resolve()
    with workspace_lock(root / ".dvc/tmp/esans-flow.lock", what="sweep flow"):
        rows = sweep_task(str(root), settings_grid(grid or DEFAULT_GRID), jobs, metric)
    create_markdown_artifact(key="esans-sweep", markdown=_markdown(rows, metric),
                             description="esans sweep")
    missing = [r["experiment"] for r in rows if r["valid"] is None]
    if missing:
        raise RuntimeError(f"experiments without metrics (failed?): {missing}")
    return rows


if __name__ == "__main__":
    print(json.dumps(sweep(), indent=1))
