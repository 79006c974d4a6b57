"""Model registry and promotion gate.

A promoted model is a folder ``models/registry/<id>/`` holding the candidate model, its faiss
index, metrics, params and dvc.lock; ``models/current`` is a symlink to the one in service,
switched atomically (a new symlink renamed over the old). ``models/registry.jsonl`` records
every promotion with its lineage: data hashes, dvc.lock hash, git commit, params, metrics.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from esans import paths
from esans.errors import EsansError


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    candidate: float
    current: float | None


def decide(candidate: dict, current: dict | None, metric: str, max_drop: float) -> Decision:
    """Gate on the *validation* metric: promote unless it fell by more than ``max_drop``."""
    new = float(candidate["valid"][metric])
    if current is None:
        return Decision(True, f"first model (valid {metric} {new:.4f})", new, None)
    old = float(current["valid"][metric])
    if new < old - max_drop:
        return Decision(False, f"valid {metric} {new:.4f} is below the promoted model's "
                               f"{old:.4f} by more than {max_drop}", new, old)
    return Decision(True, f"valid {metric} {new:.4f} vs promoted {old:.4f} "
                          f"(allowed drop {max_drop})", new, old)


def current_metrics(root: Path = Path(".")) -> dict | None:
    cur = root / paths.CURRENT
    if not cur.exists():
        return None
    return json.loads((cur / "metrics.json").read_text())


def _sha(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def lineage(root: Path, metrics: dict) -> dict:
    import yaml

    lock = root / "dvc.lock"
    data_hashes = {}
    if lock.exists():
        stages = yaml.safe_load(lock.read_text()).get("stages", {})
        for name in ("ingest", "split"):
            for o in stages.get(name, {}).get("outs", []):
                data_hashes[o["path"]] = o.get("md5")
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {"data_hashes": data_hashes, "dvc_lock_sha256": _sha(lock), "git_commit": commit,
            "params": yaml.safe_load((root / "params.yaml").read_text()), "metrics": metrics}


def promote(root: Path = Path("."), note: str = "") -> dict:
    """Copy the candidate into the registry, switch ``models/current`` to it, log lineage."""
    root = Path(root)
    metrics_path = root / paths.METRICS
    if not (root / paths.MODELS / "model.pt").exists() or not metrics_path.exists():
        raise EsansError("no evaluated candidate model to promote (run the pipeline first)",
                         path=root / paths.MODELS)
    metrics = json.loads(metrics_path.read_text())
    model_id = time.strftime("%Y%m%dT%H%M%S") + "-" + _sha(root / paths.MODELS / "model.pt")[:8]
    dest = root / paths.REGISTRY / model_id
    tmp = dest.with_name(f".{model_id}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(root / paths.MODELS, tmp / "model")
    shutil.copytree(root / paths.INDEX, tmp / "index")
    for f in (metrics_path, root / "params.yaml", root / "dvc.lock"):
        if f.exists():
            shutil.copy2(f, tmp / f.name)
    record = {"id": model_id, "promoted_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "note": note, **lineage(root, metrics)}
    (tmp / "lineage.json").write_text(json.dumps(record, indent=1, default=str))
    os.replace(tmp, dest)
    link = root / paths.CURRENT
    new_link = link.with_name(".current.tmp")
    if new_link.is_symlink() or new_link.exists():
        new_link.unlink()
    os.symlink(Path("registry") / model_id, new_link)
    os.replace(new_link, link)  # atomic switch: readers see the old or the new model
    with open(root / "models/registry.jsonl", "a") as fh:
        fh.write(json.dumps(record, default=str) + "\n")
    return record
