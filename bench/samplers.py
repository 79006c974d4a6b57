"""Benchmark every negative sampler on ml100k-multimodal under one model and budget.

    python bench/samplers.py                      # 3 seeds, all samplers (~1 h on 2 cores)
    python bench/samplers.py --seeds 1 --only esans uniform

Prepares a workspace (a copy of this project with data.source=movielens) and runs
`dvc repro cluster` there, so every sampler sees the same split, fused vectors and MSAC
clusters. Each (sampler, seed) trains in a fresh subprocess (peak RSS is per run), with early
stopping on valid Recall@50, and is scored on test with the evaluation protocol. Writes
bench/results/samplers-ml100k.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# name -> overrides of params.train
CONFIGS: dict[str, dict] = {
    "full softmax": {"sampler": "full"},
    "uniform": {"sampler": "uniform"},
    "popularity": {"sampler": "popularity"},
    "in-batch + logQ": {"sampler": "inbatch"},
    "mixed (MNS)": {"sampler": "mixed"},
    "DNS": {"sampler": "dns"},
    "MixGCF-style": {"sampler": "mixgcf"},
    "MSAC only": {"sampler": "msac", "hard_candidates": 1, "easy_candidates": 1},
    "EDIS only (uniform + EDIS)": {"sampler": "uniform", "edis": True},
    "ESANS (MSAC + EDIS)": {"sampler": "esans", "hard_candidates": 1,   # the paper's
                            "easy_candidates": 1},
    "ESANS (project default: model-selected)": {"sampler": "esans"},  # + params.yaml's k's
}


def overrides_of(name: str) -> dict:
    """A config's train overrides; the project default takes this project's params.yaml
    candidates and selection table (the workspace's copy may predate them)."""
    if name.startswith("ESANS (project default"):
        from esans.config import load_params

        project = load_params(ROOT / "params.yaml").train
        return {**CONFIGS[name], "hard_candidates": project.hard_candidates,
                "easy_candidates": project.easy_candidates,
                "selection_table_every": project.selection_table_every}
    return CONFIGS[name]


KS = [20, 50, 100, 200]


DATASET = (ROOT / "../shared/datasets/ml100k-multimodal").resolve()


def enter(work: Path) -> None:
    """Prepare the ml100k workspace (once)."""
    prepare(work, DATASET)


def prepare(work: Path, dataset: Path) -> None:
    """A project copy whose stages up to `cluster` ran on ml100k-multimodal."""
    from esans.experiment import prepare as prepared

    prepared(ROOT, work, {"data": {"source": "movielens",
                                   "movielens": {"path": str(dataset)}}})


def run_one(work: Path, overrides: dict, seed: int) -> dict:
    """Train one config in this process and score it on test."""
    import polars as pl

    from esans.config import load_params
    from esans.data.history import Histories
    from esans.train_data import load_train_data
    from esans.rank import evaluate
    from esans.sampling.base import SeenItems
    from esans.trainer import fit

    p = load_params(work / "params.yaml")
    tp = p.train.model_copy(update=overrides)
    data = load_train_data(work, p.model_copy(update={"train": tp}))
    split = {s: pl.read_parquet(work / f"data/split/{s}.parquet")
             for s in ("train", "valid", "test")}
    held = pl.concat([split["valid"], split["test"]])
    heldout = SeenItems(held["user_idx"].to_numpy(), held["item_idx"].to_numpy(), data.n_items)
    t0 = time.perf_counter()
    res = fit(tp, data, seed, log=lambda s: None, heldout=heldout)
    train_s = time.perf_counter() - t0
    seen_df = pl.concat([split["train"], split["valid"]]).sort(["user_idx", "pos"])
    seen = Histories(seen_df["user_idx"].to_numpy(), seen_df["item_idx"].to_numpy(),
                     data.n_users)
    users = np.unique(split["test"]["user_idx"].to_numpy())
    m, _ = evaluate(res.model, users, seen, tp.history_len,
                    split["test"]["user_idx"].to_numpy(), split["test"]["item_idx"].to_numpy(), KS)
    return {"seed": seed, **{k: v for k, v in m.items() if k != "n_users"},
            "epochs": len(res.history), "best_epoch": res.best_epoch,
            "valid_recall@50": res.best_valid_recall50, "train_s": train_s,
            "step_ms": 1000 * res.mean_step_s, "sample_ms": 1000 * res.mean_sample_s,
            "false_negative_rate": res.false_negative_rate,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def ease_row(work: Path) -> dict:
    import polars as pl

    from esans.baselines import ease
    from esans.data.history import Histories
    from esans.rank import score, topk_scores

    d = {s: pl.read_parquet(work / f"data/split/{s}.parquet")
         for s in ("users", "items", "train", "valid", "test")}
    nu, ni = d["users"].height, d["items"].height
    t0 = time.perf_counter()
    b = ease.fit(d["train"]["user_idx"].to_numpy(), d["train"]["item_idx"].to_numpy(), nu, ni,
                 300.0)
    hist = pl.concat([d["train"], d["valid"]]).sort(["user_idx", "pos"])
    seen = Histories(hist["user_idx"].to_numpy(), hist["item_idx"].to_numpy(), nu)
    users = np.unique(d["test"]["user_idx"].to_numpy())
    s = ease.scores(b, hist["user_idx"].to_numpy(), hist["item_idx"].to_numpy(), users, ni)
    top = topk_scores(s, users, seen, max(KS))
    m = score(top, users, d["test"]["user_idx"].to_numpy(), d["test"]["item_idx"].to_numpy(), KS)
    return {k: v for k, v in m.items() if k != "n_users"} | {"train_s": time.perf_counter() - t0}


def summarise(runs: dict[str, list[dict]]) -> dict[str, dict]:
    out = {}
    for name, rows in runs.items():
        keys = [k for k in rows[0] if k not in ("seed", "config") and rows[0][k] is not None]
        out[name] = {k: {"mean": float(np.mean([r[k] for r in rows])),
                         "std": float(np.std([r[k] for r in rows]))} for k in keys}
    return out


def markdown(summary: dict, ease: dict, seeds: int) -> str:
    """The table. Step times are not in it: each run's wall-clock step mean depends on what
    else the machine did meanwhile (uniform once showed 103 ms, ESANS 45 ms); the step ratio
    comes from bench/step_time.py, which interleaves the samplers' steps in one process."""
    head = ("| sampler | R@20 | R@50 | R@100 | R@200 | NDCG@50 | train s (wall) | FN rate | "
            "peak RSS MB |")
    lines = [f"Test metrics on ml100k-multimodal, mean ± std over {seeds} seed(s). Step time "
             "ratios: bench/results/step-time.json (interleaved steps, one process).", "",
             head, "|" + "---|" * 9]

    def ms(s, k, f=".4f"):
        return f"{s[k]['mean']:{f}} ± {s[k]['std']:{f}}"

    for name, s in summary.items():
        fn = f"{s['false_negative_rate']['mean']:.4f}" if "false_negative_rate" in s else "-"
        lines.append(f"| {name} | {ms(s, 'recall@20')} | {ms(s, 'recall@50')} | "
                     f"{ms(s, 'recall@100')} | {ms(s, 'recall@200')} | {ms(s, 'ndcg@50')} | "
                     f"{s['train_s']['mean']:.0f} | {fn} | {s['peak_rss_mb']['mean']:.0f} |")
    lines.append(f"| EASE (λ=300, reference) | {ease['recall@20']:.4f} | {ease['recall@50']:.4f}"
                 f" | {ease['recall@100']:.4f} | {ease['recall@200']:.4f} | "
                 f"{ease['ndcg@50']:.4f} | {ease['train_s']:.1f} | - | - |")
    return "\n".join(lines) + "\n"


def plot(summary: dict, ease: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary)
    mean = [summary[n]["recall@50"]["mean"] for n in names]
    std = [summary[n]["recall@50"]["std"] for n in names]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.barh(names, mean, xerr=std, color=["C3" if "ESANS" in n else "C0" for n in names])
    ax.axvline(ease["recall@50"], color="k", ls="--", label="EASE")
    ax.set_xlabel("test Recall@50")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", type=Path,
                    default=DATASET)
    ap.add_argument("--work", type=Path, default=ROOT / "bench/.work/ml100k")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--only", nargs="*", help="sampler config names (substring match)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/samplers-ml100k")
    ap.add_argument("--one", nargs=2, metavar=("CONFIG", "SEED"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(run_one(a.work, overrides_of(a.one[0]), int(a.one[1]))))
        return
    if not a.dataset.is_dir():
        sys.exit(f"dataset not found: {a.dataset}")
    prepare(a.work, a.dataset)
    configs = [c for c in CONFIGS if not a.only or any(o.lower() in c.lower() for o in a.only)]
    runs: dict[str, list[dict]] = {c: [] for c in configs}
    # finished runs are kept (per config and seed), so an interrupted benchmark resumes
    done_file = a.work / "bench-runs.jsonl"
    done = {}
    if done_file.exists():
        for line in done_file.read_text().splitlines():
            r = json.loads(line)
            done[(r["config"], r["seed"])] = r
    for seed in range(a.seeds):
        for name in configs:
            if (name, seed) in done:
                runs[name].append(done[(name, seed)])
                continue
            proc = subprocess.run([sys.executable, __file__, "--work", str(a.work), "--one",
                                   name, str(seed)], capture_output=True, text=True, check=True)
            row = {"config": name, **json.loads(proc.stdout.strip().splitlines()[-1])}
            with open(done_file, "a") as fh:
                fh.write(json.dumps(row) + "\n")
            runs[name].append(row)
            print(f"{name:28s} seed {seed}: R@50 {row['recall@50']:.4f} "
                  f"step {row['step_ms']:.1f} ms, {row['train_s']:.0f} s", flush=True)
    # the tables cover every config measured: runs of configs not asked for this time come
    # from the last results file
    if a.out.with_suffix(".json").exists():
        before = json.loads(a.out.with_suffix(".json").read_text()).get("runs", {})
        runs = {c: runs[c] if c in runs else [r for r in before.get(c, []) if r["seed"] < a.seeds]
                for c in CONFIGS if c in runs or before.get(c)}
    summary = summarise(runs)
    ease = ease_row(a.work)
    result = {"dataset": "ml100k-multimodal", "seeds": a.seeds, "protocol": "README",
              "configs": CONFIGS, "runs": runs, "summary": summary, "ease": ease}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    md = markdown(summary, ease, a.seeds)
    a.out.with_suffix(".md").write_text(md)
    plot(summary, ease, a.out.with_suffix(".png"))
    print(md)


if __name__ == "__main__":
    main()
