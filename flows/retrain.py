"""The ``retrain`` flow: every DVC stage in DAG order, as Prefect tasks.

Run locally with Prefect's ephemeral API:  python -m flows.retrain
Deploy (see prefect.yaml):                 prefect deploy --all
"""

from __future__ import annotations

import json
from pathlib import Path

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from esans.lock import workspace_lock
from tasks.dag import stage_order
from tasks.stages import run_stage


def _metrics_markdown(metrics: dict, runs: list[dict]) -> str:
    ks = sorted(int(k.split("@")[1]) for k in metrics["test"] if k.startswith("recall@"))
    lines = [f"# esans retrain: {metrics.get('source')} / {metrics.get('sampler')}", "",
             "| split | " + " | ".join(f"Recall@{k}" for k in ks) + " | NDCG@50 |",
             "|---|" + "---|" * (len(ks) + 1)]
    for split in ("valid", "test"):
        m = metrics[split]
        lines.append(f"| {split} | " + " | ".join(f"{m[f'recall@{k}']:.4f}" for k in ks)
                     + f" | {m.get('ndcg@50', float('nan')):.4f} |")
    lines += ["", "| stage | ran | seconds |", "|---|---|---|"]
    lines += [f"| {r['stage']} | {'yes' if r['ran'] else 'no (up to date)'} | {r['seconds']} |"
              for r in runs]
    lines += ["", "Full report: `reports/index.html`."]
    return "\n".join(lines)


@flow(name="retrain", log_prints=True)
def retrain(project_dir: str = ".", force: bool = False) -> dict:
    """Bring every stage up to date (``force`` reruns all) and publish the metrics."""
    root = Path(project_dir).resolve()
    with workspace_lock(root / ".dvc/tmp/esans-flow.lock", what="retrain flow"):
        runs = [run_stage(stage, str(root), force) for stage in stage_order(root / "dvc.yaml")]
    metrics = json.loads((root / "metrics.json").read_text())
    create_markdown_artifact(key="esans-metrics", markdown=_metrics_markdown(metrics, runs),
                             description="esans retrain metrics")
    return {"metrics": metrics, "stages": runs}


if __name__ == "__main__":
    result = retrain()
    print(json.dumps(result["metrics"]["test"], indent=1))
