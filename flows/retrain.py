"""The ``retrain`` flow: bring the DVC pipeline up to date, gate, promote.

1. Take the workspace lock; optionally set params (data source / path, sampler).
2. Run the always-changed ``ingest`` stage, then ask DVC what is stale. Nothing stale (and not
   ``force``): end in seconds with an "up to date" artifact.
3. Otherwise run every stage in ``dvc.yaml`` order as a task; DVC reruns only stale ones, and
   stages that nothing upstream touched are skipped from Prefect's cache (keyed on dvc.lock).
4. Promotion gate (``esans.registry``, the code behind ``esans promote``): the workspace's
   bundle against the champion, both re-scored on the candidate's validation split; a
   rejected model leaves the champion serving and fails the flow run with the reason.

Run locally with Prefect's ephemeral API:  python -m flows.retrain
Deploy (see prefect.yaml):                 prefect deploy --all
"""

from __future__ import annotations

import json
from pathlib import Path

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from esans.config import load_params
from esans.lock import workspace_lock
from tasks.dag import downstream, stage_order
from tasks.gate import gate, set_params, stale_stages
from tasks.stages import dvc_cache_keys, run_stage


class ModelRejected(RuntimeError):
    pass


def _markdown(metrics: dict, runs: list[dict], decision: dict | None) -> str:
    ks = sorted(int(k.split("@")[1]) for k in metrics["test"] if k.startswith("recall@"))
    lines = [f"# esans retrain: {metrics.get('source')} / {metrics.get('sampler')}", "",
             "| split | " + " | ".join(f"Recall@{k}" for k in ks) + " | NDCG@50 |",
             "|---|" + "---|" * (len(ks) + 1)]
    for split in ("valid", "test"):
        m = metrics[split]
        lines.append(f"| {split} | " + " | ".join(f"{m[f'recall@{k}']:.4f}" for k in ks)
                     + f" | {m.get('ndcg@50', float('nan')):.4f} |")
    if decision is not None:
        verdict = ("promoted " + decision["model_id"] if decision["promote"] else
                   "not promoted" if decision["identical"] else "REJECTED")
        lines += ["", f"**Promotion:** {verdict} — {decision['reason']}", "",
                  f"| model | valid {decision['metric']} on the candidate's split | "
                  "at its own promotion |", "|---|---|---|",
                  f"| candidate | {decision['candidate']} | - |"]
        lines += [f"| {c['id']}{' (champion)' if c['champion'] else ''} | {c['rescored']} | "
                  f"{c['at_promotion']} |" for c in decision["compared"]]
    lines += ["", "| stage | ran | seconds |", "|---|---|---|"]
    lines += [f"| {r['stage']} | "
              f"{'yes' if r['ran'] else 'no (Prefect cache)' if r.get('cached') else 'no (DVC)'}"
              f" | {r['seconds']} |" for r in runs]
    lines += ["", "Full report: `reports/index.html`."]
    return "\n".join(lines)


def _reject(decision: dict | None) -> None:
    if decision is not None and not decision["promote"] and not decision["identical"]:
        raise ModelRejected(f"model rejected: {decision['reason']}; models/current unchanged")


@flow(name="retrain", log_prints=True)
def retrain(project_dir: str = ".", force: bool = False, source: str | None = None,
            data_path: str | None = None, sampler: str | None = None,
            promote: bool = True) -> dict:
    """Retrain what upstream changes made stale, then gate and promote the new model."""
    root = Path(project_dir).resolve()
    with workspace_lock(root / ".dvc/tmp/esans-flow.lock", what="retrain flow"):
        overrides = {k: v for k, v in {"data.source": source, "train.sampler": sampler}.items()
                     if v is not None}
        if data_path is not None:
            key = "data.movielens.path" if (source or "movielens") == "movielens" else \
                "data.files.interactions"
            overrides[key] = data_path
        if overrides:
            set_params(str(root), overrides)
        order = stage_order(root / "dvc.yaml")
        runs = [run_stage(order[0], str(root), force)]
        stale = stale_stages(str(root))
        if not force and not stale and (root / "models/bundle").exists():
            # nothing to retrain; the workspace's bundle may still await promotion (e.g. after
            # `make pipeline`): the gate says so, or that it is the champion already
            decision = gate(str(root)) if promote else None
            create_markdown_artifact(key="esans-retrain", markdown=(
                "# esans retrain: up to date\n\nNo data, code or params changed since the last "
                "run; nothing was retrained." + (f"\n\n**Promotion:** {decision['reason']}"
                                                  if decision else "")),
                description="esans retrain")
            _reject(decision)
            return {"up_to_date": True, "stages": runs, "promotion": decision}
        affected = downstream(stale, root / "dvc.yaml")
        dask = load_params(root / "params.yaml").encode.dask
        keys = dvc_cache_keys(root, affected)
        for stage in order[1:]:
            if stage == "encode" and dask.shards > 0 and (force or stage in affected):
                from flows.encode import encode_sharded  # fills the cache on Dask first

                encode_sharded(str(root))
            state = run_stage(stage, str(root), force, keys[stage], return_state=True)
            runs.append({"stage": stage, "ran": False, "seconds": 0.0, "cached": True}
                        if state.name == "Cached" else state.result())
        metrics = json.loads((root / "metrics.json").read_text())
        decision = gate(str(root)) if promote else None
        create_markdown_artifact(key="esans-retrain", markdown=_markdown(metrics, runs, decision),
                                 description="esans retrain metrics")
        _reject(decision)
    return {"up_to_date": False, "metrics": metrics, "stages": runs, "promotion": decision}


if __name__ == "__main__":
    result = retrain()
    print(json.dumps(result.get("metrics", {}).get("test", "up to date"), indent=1))
