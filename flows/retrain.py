"""The ``retrain`` flow: bring the DVC pipeline up to date, gate, promote.

1. Take the workspace lock; apply run parameters (data source / path, sampler) to
   ``params.yaml`` for this run only (``tasks.params``: the file is byte-identical after).
2. Run the always-changed ``source`` stage (a content hash of the raw inputs), then ask DVC
   what is stale. Nothing stale (and not ``force``): end in seconds with an "up to date"
   artifact.
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from esans.config import Sampler, load_params
from esans.lock import workspace_lock
from tasks import dag
from tasks.gate import gate, stale_stages
from tasks.params import run_overrides, source_overrides
from tasks.stages import dvc_cache_keys, run_stage


Source = Literal["synthetic", "movielens", "files", "s3rec"]


class ModelRejected(RuntimeError):
    pass


def _artifacts(metrics: dict, runs: list[dict], decision: dict | None, note: str) -> None:
    """The run's record in Prefect: tables for the numbers (metrics, promotion comparison,
    stages), markdown for the prose (headline, verdict, run parameters)."""
    ks = sorted(int(k.split("@")[1]) for k in metrics["test"] if k.startswith("recall@"))
    create_table_artifact(key="esans-metrics", description="esans retrain: test/valid metrics",
                          table=[{"split": split, **{f"recall@{k}": round(
                              metrics[split][f"recall@{k}"], 4) for k in ks},
                              "ndcg@50": round(metrics[split].get("ndcg@50", float("nan")), 4)}
                              for split in ("valid", "test")])
    create_table_artifact(key="esans-stages", description="esans retrain: what ran",
                          table=[{"stage": r["stage"], "ran": "yes" if r["ran"] else
                                  "no (Prefect cache)" if r.get("cached") else "no (DVC)",
                                  "seconds": r["seconds"]} for r in runs])
    lines = [f"# esans retrain: {metrics.get('source')} / {metrics.get('sampler')}", "",
             f"Test Recall@50 {metrics['test'].get('recall@50', float('nan')):.4f} (valid "
             f"{metrics['valid'].get('recall@50', float('nan')):.4f}); the numbers are in the "
             "`esans-metrics`, `esans-promotion` and `esans-stages` table artifacts."]
    if decision is not None:
        verdict = ("promoted " + decision["model_id"] if decision["promote"] else
                   "not promoted" if decision["identical"] else "REJECTED")
        lines += ["", f"**Promotion:** {verdict} — {decision['reason']}"]
        create_table_artifact(
            key="esans-promotion", description="the promotion gate: every model re-scored on "
            f"the candidate's validation split ({decision['metric']})",
            table=[{"model": "candidate", "rescored": decision["candidate"],
                    "at_promotion": None}] + [
                {"model": c["id"] + (" (champion)" if c["champion"] else ""),
                 "rescored": c["rescored"], "at_promotion": c["at_promotion"]}
                for c in decision["compared"]])
    lines += ["", "Full report: `reports/index.html`."]
    create_markdown_artifact(key="esans-retrain", markdown="\n".join(lines) + note,
                             description="esans retrain")


def _reject(decision: dict | None) -> None:
    if decision is not None and not decision["promote"] and not decision["identical"]:
        raise ModelRejected(f"model rejected: {decision['reason']}; models/current unchanged")


def _run_name() -> str:
    """``<source>-<sampler>-<UTC date-time>``, run parameters over params.yaml."""
    from prefect.runtime import flow_run

    p = flow_run.parameters
    source, sampler = p.get("source"), p.get("sampler")
    try:
        params = load_params(Path(p.get("project_dir") or ".") / "params.yaml")
        source, sampler = source or params.data.source, sampler or params.train.sampler
    except Exception:  # noqa: BLE001 - a name must never fail the run; the run reports it
        pass
    return f"{source or 'params'}-{sampler or 'params'}-{datetime.now(UTC):%Y%m%d-%H%M%S}"


def _record_failure(flow, flow_run, state) -> None:
    """on_failure / on_crashed: the reason stays beside the run, as an artifact."""
    from prefect.artifacts import MarkdownArtifact

    MarkdownArtifact(
        key="esans-retrain-failure", description="why this esans retrain run failed",
        flow_run_id=flow_run.id,
        markdown=(f"# esans retrain {state.name.lower()}\n\n{state.message}\n\n"
                  "`models/current` (the champion) still serves; `params.yaml` is unchanged. "
                  "The flow run's logs hold each stage's output.")).create()


@flow(name="retrain", flow_run_name=_run_name, log_prints=True,
      on_failure=[_record_failure], on_crashed=[_record_failure])
def retrain(project_dir: str = ".", force: bool = False, source: Source | None = None,
            data_path: str | None = None, sampler: Sampler | None = None,
            promote: bool = True) -> dict:
    """Retrain what upstream changes made stale, then gate and promote the new model.

    Args:
        project_dir: The esans project (the folder with dvc.yaml); relative to the working
            directory the deployment's pull step sets.
        force: Rerun every stage even if DVC finds it up to date.
        source: Data source for this run only (params.yaml's data.source otherwise).
        data_path: Data location for this run only (data.movielens.path for movielens,
            data.files.interactions for files, data.s3rec.path for s3rec), for the run's
            source: ``source`` if given, else params.yaml's data.source.
        sampler: Negative sampler for this run only (params.yaml's train.sampler otherwise).
        promote: Gate the new model against the champion and promote it if it passes.
    """
    root = Path(project_dir).resolve()
    overrides = {**source_overrides(root, source, data_path),
                 **({"train.sampler": sampler} if sampler is not None else {})}
    with workspace_lock(root / ".dvc/tmp/esans-flow.lock", what="retrain flow"), \
            run_overrides(root, overrides):
        if overrides:
            get_run_logger().info("run parameters (this run only): %s", overrides)
        return _retrain(root, force, promote, overrides)


def _retrain(root: Path, force: bool, promote: bool, overrides: dict) -> dict:
    note = ("" if not overrides else "\n\nRun parameters (this run only; params.yaml unchanged): "
            + ", ".join(f"`{k}={v}`" for k, v in overrides.items()))
    order = dag.read(root).order
    runs = [run_stage(order[0], str(root), force)]
    pipeline = stale_stages(str(root))
    if not force and not pipeline.stale and (root / "models/bundle").exists():
        # nothing to retrain; the workspace's bundle may still await promotion (e.g. after
        # `make pipeline`): the gate says so, or that it is the champion already
        decision = gate(str(root)) if promote else None
        create_markdown_artifact(key="esans-retrain", markdown=(
            "# esans retrain: up to date\n\nNo data, code or params changed since the last "
            "run; nothing was retrained." + note + (f"\n\n**Promotion:** {decision['reason']}"
                                                     if decision else "")),
            description="esans retrain")
        _reject(decision)
        get_run_logger().info("up to date: no data, code or params changed since the last "
                              "run; nothing was retrained%s",
                              f" ({decision['reason']})" if decision else "")
        return {"up_to_date": True, "stages": runs, "promotion": decision}
    dask = load_params(root / "params.yaml").encode.dask
    keys = dvc_cache_keys(root, pipeline)
    for stage in order[1:]:
        if stage == "encode" and dask.shards > 0 and (force or stage in pipeline.affected):
            from flows.encode import encode_sharded  # fills the cache on Dask first

            encode_sharded(str(root))
        state = run_stage(stage, str(root), force, keys[stage], return_state=True)
        runs.append({"stage": stage, "ran": False, "seconds": 0.0, "cached": True}
                    if state.name == "Cached" else state.result())
    metrics = json.loads((root / "metrics.json").read_text())
    decision = gate(str(root)) if promote else None
    _artifacts(metrics, runs, decision, note)
    _reject(decision)
    return {"up_to_date": False, "metrics": metrics, "stages": runs, "promotion": decision,
            "overrides": overrides}


if __name__ == "__main__":
    result = retrain()
    if result.get("up_to_date"):
        print("esans retrain: up to date (nothing changed since the last run)")
    else:
        print(json.dumps(result["metrics"]["test"], indent=1))
