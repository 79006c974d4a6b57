"""Training throughput and time to quality against RecBole, side by side in one run.

    python bench/peer_recbole.py --setup     # RecBole into its own venv (bench/.work/recbole-venv)
    python bench/peer_recbole.py             # ml100k-multimodal; bench/results/peer-recbole.json
    python bench/peer_recbole.py --report    # the table again from that file

Both sides train on the same interactions and split (the map's prepared ml100k: its train,
valid and test parts), at the same embedding size (64), 1,024 positives a batch, 8 uniform
negatives a positive and the same torch threads, with early stopping on valid Recall@50 over
the whole catalogue, seen items masked. Arms, one after another:

- RecBole BPR (matrix factorisation, pairwise loss) and SimpleX (a history-pooled two tower,
  cosine contrastive loss): RecBole 1.2.1 from the package registry, in a venv of its own so
  it never becomes a dependency; its own trainer, data loaders and full-sort evaluator.
  RecBole's batch counts (positive, negative) rows, so 8,192 rows = 1,024 positives.
- esans uniform, the project's ESANS and the shipped default as it resolves on this
  catalogue (`train.sampler: auto`: the full softmax below 10,000 items), each at the
  settings the map chose for it on this catalogue (bench/results/map-trials.jsonl).

Per arm: events/s (training positives a second of training; evaluation excluded), epochs,
best valid Recall@50, seconds of training to reach 95% of its own best, and test Recall@50
(each side's evaluator; the same definition: hits over held-out items, seen items masked).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / "bench/.work/recbole-venv"
DATA = ROOT / "bench/.work/recbole/data"
OUT = ROOT / "bench/results/peer-recbole.json"
RECBOLE, TORCH = "1.2.1", "2.13.0"
DIM, BATCH, NEGATIVES = 64, 1024, 8
ARMS = {"uniform": "uniform", "esans": "project's ESANS"}   # map config -> label


def default_config(n_items: int) -> str:
    """The map config the shipped default (`train.sampler: auto`) resolves to."""
    from esans.config import load_params, resolve_sampler

    return resolve_sampler(load_params(ROOT / "params.yaml").train, n_items)[0].sampler


def setup() -> None:
    """RecBole and a CPU torch in a venv of their own (torch first: the CPU build)."""
    if not (VENV / "bin/python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(VENV / "bin/pip"), "install", "--quiet"]
    subprocess.run([*pip, f"torch=={TORCH}"], check=True)
    # RecBole 1.2.1 sets np.float = np.float_ (gone in numpy 2) and pandas/scipy must match
    subprocess.run([*pip, f"recbole=={RECBOLE}", "numpy<2", "pandas<2.3", "scipy<1.14"],
                   check=True)


# --- RecBole side: runs inside the RecBole venv (python bench/peer_recbole.py --worker SPEC) ------

def worker(spec: dict) -> dict:
    import copy

    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_seed

    torch.set_num_threads(spec["threads"])
    config = Config(model=spec["model"], dataset="ml100k", config_dict={
        "data_path": spec["data"], "benchmark_filename": ["train", "valid", "test"],
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "embedding_size": DIM, "train_batch_size": BATCH * NEGATIVES,
        "eval_batch_size": 4096,
        "train_neg_sample_args": {"distribution": "uniform", "sample_num": NEGATIVES,
                                  "alpha": 1.0, "dynamic": False, "candidate_num": 0},
        "learning_rate": spec["lr"], "epochs": spec["epochs"],
        "eval_args": {"mode": "full", "order": "TO", "group_by": "user"},
        "metrics": ["Recall"], "topk": [50], "valid_metric": "Recall@50",
        "seed": spec["seed"], "reproducibility": True, "use_gpu": False, "device": "cpu",
        "worker": 0, "show_progress": False, "checkpoint_dir": spec["checkpoints"],
        "state": "ERROR"})
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    model = get_model(config["model"])(config, train._dataset).to("cpu")
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    n_events = len(train._dataset)
    curve, best, best_state, since = [], -1.0, None, 0
    for epoch in range(spec["epochs"]):
        t0 = time.perf_counter()
        trainer._train_epoch(train, epoch, show_progress=False)
        seconds = time.perf_counter() - t0
        score, _ = trainer._valid_epoch(valid, show_progress=False)
        curve.append({"epoch": epoch + 1, "train_seconds": round(seconds, 3),
                      "valid_recall@50": float(score)})
        if score > best:
            best, best_state, since = float(score), copy.deepcopy(model.state_dict()), 0
        else:
            since += 1
            if since >= spec["patience"]:
                break
    model.load_state_dict(best_state)
    test_result = trainer.evaluate(test, load_best_model=False, show_progress=False)
    return {"n_events": n_events, "n_users": dataset.user_num - 1,
            "n_items": dataset.item_num - 1, "curve": curve,
            "test": {"recall@50": float(test_result["recall@50"])}}


# --- the orchestrator: the project venv -----------------------------------------------------

def export(work: Path) -> Path:
    """The prepared catalogue's split as RecBole atomic files (its `benchmark_filename`
    layout); a user's order is the position in its history."""
    import polars as pl

    out = DATA / "ml100k"
    out.mkdir(parents=True, exist_ok=True)
    for part in ("train", "valid", "test"):
        t = pl.read_parquet(work / f"data/split/{part}.parquet")
        t.select(pl.col("user_id").alias("user_id:token"),
                 pl.col("item_id").alias("item_id:token"),
                 pl.col("pos").cast(pl.Float64).alias("timestamp:float")
                 ).write_csv(out / f"ml100k.{part}.inter", separator="\t")
    return DATA


def recbole_arm(model: str, lr: float, a) -> dict:
    spec = {"model": model, "lr": lr, "epochs": a.recbole_epochs, "patience": a.patience,
            "seed": 0, "threads": a.threads, "data": str(DATA),
            "checkpoints": str(ROOT / "bench/.work/recbole/saved")}
    env = {**os.environ, "OMP_NUM_THREADS": str(a.threads)}
    t0 = time.perf_counter()
    # RecBole writes its logs (log/, log_tensorboard/) under the working directory
    scratch = ROOT / "bench/.work/recbole"
    scratch.mkdir(parents=True, exist_ok=True)
    run = subprocess.run([str(VENV / "bin/python"), str(Path(__file__).resolve()), "--worker",
                          json.dumps(spec)], capture_output=True, text=True, env=env,
                         cwd=scratch)
    if run.returncode != 0:
        raise SystemExit(f"RecBole {model} failed:\n{run.stderr[-3000:]}")
    out = json.loads(run.stdout.strip().splitlines()[-1])
    return {"arm": f"RecBole {model}", "lr": lr, **out,
            "wall_seconds": round(time.perf_counter() - t0, 1)}


def esans_arm(config: str, work: Path, a) -> dict:
    from map import COMMON, chosen, configs, done

    from esans.experiment import trial

    setting = chosen(list(done().values()), "ml100k", NEGATIVES, config)
    if setting is None:
        raise SystemExit(f"no tuned setting for {config} on ml100k: run bench/map.py first")
    train = {**configs(NEGATIVES)[config], **COMMON, **setting, "threads": a.threads,
             "batch_size": BATCH, "dim": DIM, "patience": a.patience}
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    t0 = time.perf_counter()
    out = trial(work, train, 0, ks=[50])
    import polars as pl

    n_events = pl.read_parquet(work / "data/split/train.parquet").height
    label = ARMS.get(config, f"default ({config})")
    return {"arm": f"esans {label}", "lr": setting["lr"],
            "temperature": setting["temperature"], "n_events": n_events,
            "curve": out["curve"], "test": {"recall@50": out["test"]["recall@50"]},
            "wall_seconds": round(time.perf_counter() - t0, 1)}


def seconds_to(curve: list[dict], target: float) -> float | None:
    """Training seconds until valid Recall@50 first reaches ``target`` (None: never)."""
    elapsed = 0.0
    for c in curve:
        elapsed += c["train_seconds"]
        if c["valid_recall@50"] >= target:
            return round(elapsed, 1)
    return None


def summary(r: dict, peer_best: float | None = None) -> dict:
    """Events a second of training, the training seconds to 95% of the arm's own best and
    to ``peer_best`` (the best valid Recall@50 any RecBole arm reached)."""
    curve = r["curve"]
    best = max(c["valid_recall@50"] for c in curve)
    train_s = sum(c["train_seconds"] for c in curve)
    return {"arm": r["arm"], "epochs": len(curve),
            "events_per_s": round(r["n_events"] * len(curve) / train_s),
            "best_valid_recall@50": round(best, 4),
            "seconds_to_95pct": seconds_to(curve, 0.95 * best),
            "seconds_to_peer_best": seconds_to(curve, peer_best) if peer_best else None,
            "train_seconds": round(train_s, 1), "test_recall@50": round(r["test"]["recall@50"], 4)}


def write(runs: list[dict], threads: int) -> None:
    """The table (printed) and bench/results/peer-recbole.json from the arms' runs."""
    peer_best = max(max(c["valid_recall@50"] for c in r["curve"]) for r in runs
                    if r["arm"].startswith("RecBole"))
    rows = [summary(r, peer_best) | {"lr": r["lr"]} for r in runs]
    head = ["arm", "lr", "epochs", "events_per_s", "seconds_to_95pct", "seconds_to_peer_best",
            "train_seconds", "best_valid_recall@50", "test_recall@50"]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(str(r[h]) for h in head) + " |")
    OUT.write_text(json.dumps({"machine": f"{os.cpu_count()} CPU cores", "threads": threads,
                               "dim": DIM, "batch_positives": BATCH, "negatives": NEGATIVES,
                               "recbole": RECBOLE, "peer_best_valid_recall@50": peer_best,
                               "rows": rows, "runs": runs}, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--setup", action="store_true", help="create the RecBole venv")
    ap.add_argument("--report", action="store_true", help="the table again from the saved runs")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--patience", type=int, default=5)
    ap.add_argument("--recbole-epochs", type=int, default=300)
    ap.add_argument("--recbole-lr", type=float, nargs="+", default=[1e-3, 4e-3])
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(json.loads(a.worker))))
        return
    if a.setup:
        setup()
        return
    if a.report:
        saved = json.loads(OUT.read_text())
        write(saved["runs"], saved["threads"])
        return
    if not (VENV / "bin/python").exists():
        raise SystemExit(f"no RecBole venv at {VENV}: python bench/peer_recbole.py --setup")
    from map import catalogue_size, prepare

    work = prepare("ml100k")
    export(work)
    runs = []
    for model in ("BPR", "SimpleX"):
        for lr in a.recbole_lr:
            runs.append(recbole_arm(model, lr, a))
            print(json.dumps(summary(runs[-1]) | {"lr": lr}), flush=True)
    for config in dict.fromkeys([*ARMS, default_config(catalogue_size("ml100k"))]):
        runs.append(esans_arm(config, work, a))
        print(json.dumps(summary(runs[-1])), flush=True)
    write(runs, a.threads)


if __name__ == "__main__":
    main()
