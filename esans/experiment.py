"""One training trial on a prepared project, in process: what studies and benches call.

``prepare`` makes that project: a copy of this one (code, dvc.yaml, params.yaml with a
study's data params) whose stages up to ``cluster`` ran through ``dvc repro``, once.

A trial reads what the pipeline's own stages published in the project at ``root`` (the
split, the fused item vectors, the MSAC clusters), trains with ``train`` params overridden,
and scores valid and test with the evaluate stage's protocol (``esans.rank.evaluate_splits``:
full catalogue, seen items masked). It writes nothing: a study records what it returns.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from esans import paths
from esans.config import Params, load_params
from esans.io import read_parquet


def env() -> dict:
    """This environment for the DVC and git commands a workspace runs: this interpreter's
    tools first on PATH, nothing downloaded, nothing reported."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "1"}


def workspace(root: str | Path, work: str | Path, data_params: dict | None = None) -> Path:
    """``work``: a copy of the project at ``root`` (its dvc.yaml, the esans package, the
    report's published dep and params.yaml, with ``data_params`` merged in: nested keys, e.g.
    ``{"data": {"source": "s3rec", ...}}``) as a git + DVC repository with one commit
    (``dvc exp run`` needs a HEAD). Every call refreshes the copied files; the repository is
    made once."""
    import yaml

    root, work = Path(root), Path(work)
    (work / "bench/results").mkdir(parents=True, exist_ok=True)
    shutil.copy(root / "dvc.yaml", work / "dvc.yaml")
    shutil.copy(root / "bench/results/map.json", work / "bench/results/map.json")
    shutil.copytree(root / "esans", work / "esans", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((root / "params.yaml").read_text())

    def merge(base: dict, new: dict) -> None:
        for k, v in new.items():
            merge(base[k], v) if isinstance(v, dict) else base.__setitem__(k, v)

    merge(params, data_params or {})
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    if not (work / ".dvc").is_dir():
        for cmd in (["git", "init", "-q"], ["git", "config", "user.email", "bench@esans"],
                    ["git", "config", "user.name", "bench"], ["dvc", "init", "-q"],
                    ["dvc", "config", "core.analytics", "false"], ["git", "add", "-A"],
                    ["git", "commit", "-qm", "workspace"]):
            subprocess.run(cmd, cwd=work, env=env(), check=True, capture_output=True)
    return work


def prepare(root: str | Path, work: str | Path, data_params: dict) -> Path:
    """``work``: a ``workspace`` of the project at ``root`` with ``data_params``, after
    ``dvc repro cluster`` (ingest .. cluster, the DAG's own stages). Done once: a ``work``
    whose clusters exist is returned as it is."""
    work = Path(work)
    if (work / paths.CLUSTER / "assignments.parquet").exists():
        return work
    workspace(root, work, data_params)
    subprocess.run(["dvc", "repro", "cluster"], cwd=work, env=env(), check=True,
                   capture_output=True)
    return work


def trial_params(root: str | Path, train: dict, seed: int) -> Params:
    """The project's params with ``train`` keys overridden and ``seed`` set, validated as
    params.yaml would be (a contradictory override is an error)."""
    base = load_params(Path(root) / "params.yaml").model_dump(by_alias=True)
    base["train"] = {**base["train"], **train}
    base["seed"] = seed
    return Params.model_validate(base)


def trial(root: str | Path, train: dict, seed: int, ks: list[int] | None = None) -> dict:
    """Train ``train`` overrides with ``seed`` on the project at ``root``; return valid and
    test metrics, the best epoch, the epochs run and the cap, and the seconds it took."""
    from esans.trainer import fit
    from esans.train_data import load_train_data
    from esans.rank import evaluate_splits
    from esans.sampling.base import SeenItems

    root = Path(root)
    p = trial_params(root, train, seed)
    t0 = time.perf_counter()
    data = load_train_data(root, p)
    split = {n: read_parquet(root / paths.SPLIT / f"{n}.parquet")
             for n in ("train", "valid", "test")}
    held = pl.concat([split["valid"], split["test"]])
    # diagnostics only: how often a drawn negative is one of the user's held-out items
    heldout = SeenItems(held["user_idx"].to_numpy(), held["item_idx"].to_numpy(), data.n_items)
    res = fit(p.train, data, seed, log=lambda s: None, heldout=heldout)
    train_s = time.perf_counter() - t0
    res.model.eval()
    metrics, _ = evaluate_splits(res.model, split, data.n_users, p.train.history_len,
                                 ks or list(p.evaluate.ks), users=p.evaluate.users, seed=seed)
    return {"valid": metrics["valid"], "test": metrics["test"], "best_epoch": res.best_epoch,
            "epochs_run": len(res.history), "epoch_cap": p.train.epochs,
            "at_cap": res.best_epoch == p.train.epochs, "train_seconds": round(train_s, 1),
            "mean_step_ms": round(1000 * res.mean_step_s, 2),
            "curve": [{"epoch": r["epoch"], "train_seconds": round(r["train_seconds"], 3),
                       "valid_recall@50": r["valid_recall@50"]} for r in res.history],
            "false_negative_rate": {"all": res.false_negative_rate,
                                    "hard": res.false_negative_rate_hard,
                                    "easy": res.false_negative_rate_easy}}
