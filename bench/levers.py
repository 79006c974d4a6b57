"""What moves a config on ml100k beyond the sampler: size, history, budget, batch.

    python bench/levers.py                         # every lever on the project's ESANS, seed 0
    python bench/levers.py --only "dim 128" --seeds 1 2
    python bench/levers.py --base full --only "dim 128" "history 20"   # on the default there
    python bench/levers.py --report                # bench/results/levers-ml100k.json

A base is one of the map's ml100k rows at the setting its tuning chose (``esans``, the
project's ESANS: lr 4e-3, temperature 0.1, 8 negatives; ``full``, the full softmax and the
default at that size: lr 4e-3, temperature 0.2; both dim 64, 50 history items, batch 1,024);
each lever changes one or two train keys. Trials run through ``esans.experiment.trial`` on
the map's prepared ml100k (2 workers x 1 thread) and are appended to
bench/results/levers-ml100k.jsonl; the base's seeds are the map's own trials. The report
compares each lever with its base seed by seed (paired t-test over the seeds both have).
"""

from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
from map import COMMON, configs

ROOT = Path(__file__).resolve().parents[1]
TRIALS = ROOT / "bench/results/levers-ml100k.jsonl"
OUT = ROOT / "bench/results/levers-ml100k.json"
# the map's own configs and protocol at the settings they chose on ml100k
BASES = {"esans": {**configs(8)["esans"], **COMMON, "lr": 0.004, "temperature": 0.1},
         "full": {**configs(8)["full"], **COMMON, "lr": 0.004, "temperature": 0.2}}
LEVERS: dict[str, dict] = {
    "batch 512": {"batch_size": 512},
    "batch 256": {"batch_size": 256},
    "batch 256, lr 1e-3": {"batch_size": 256, "lr": 0.001},
    "batch 256, lr 2e-3": {"batch_size": 256, "lr": 0.002},
    "weight decay 1e-5": {"weight_decay": 1e-5},
    "weight decay 1e-4": {"weight_decay": 1e-4},
    "dim 128": {"dim": 128},
    "dim 256": {"dim": 256},
    "history 10": {"history_len": 10},
    "history 20": {"history_len": 20},
    "history 100": {"history_len": 100},
    "16 negatives": {"n_negatives": 16, "m_c": 4},
    "32 negatives": {"n_negatives": 32, "m_c": 8},
    "dim 128, history 20": {"dim": 128, "history_len": 20},
    "16 negatives, history 20": {"n_negatives": 16, "m_c": 4, "history_len": 20},
    "dim 128, history 20, 16 negatives": {"dim": 128, "history_len": 20, "n_negatives": 16,
                                          "m_c": 4},
    "patience 5": {"patience": 5},
    "patience 10": {"patience": 10},
    "mixed, dim 128, history 20": {"sampler": "mixed", "dim": 128, "history_len": 20,
                                   "temperature": 0.2},
    "uniform, dim 128, history 20": {"sampler": "uniform", "dim": 128, "history_len": 20,
                                     "temperature": 0.05},
}


def levers(base: str) -> list[str]:
    """The levers that mean something on ``base``: the full softmax draws no negatives, so
    none that sets their number or swaps the sampler."""
    return [lv for lv, keys in LEVERS.items()
            if base != "full" or not {"n_negatives", "sampler"} & keys.keys()]


def _run(job: tuple[str, str, int]) -> dict:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from map import prepare

    from esans.experiment import trial

    base, lever, seed = job
    out = trial(prepare("ml100k"), {**BASES[base], **LEVERS[lever]}, seed)
    out.pop("curve")
    return {"base": base, "lever": lever, "seed": seed, **out}


def base_trials(base: str) -> dict[int, float]:
    """Test Recall@50 by seed of the map's ml100k row of ``base`` at its tuned setting."""
    b = BASES[base]
    rows = [json.loads(x) for x in (ROOT / "bench/results/map-trials.jsonl").open()]
    return {r["seed"]: r["test"]["recall@50"] for r in rows
            if (r["catalogue"], r["config"], r["budget"]) == ("ml100k", base, 8)
            and r["setting"] == {"lr": b["lr"], "temperature": b["temperature"]}}


def report() -> list[dict]:
    from scipy import stats

    rows = [json.loads(x) for x in TRIALS.open()] if TRIALS.exists() else []
    for r in rows:                 # the first levers all ran on the project's ESANS
        r.setdefault("base", "esans")
    seeds_of = {b: base_trials(b) for b in BASES}
    out = []
    for name, lever in ((b, lv) for b in BASES for lv in levers(b)):
        base = seeds_of[name]
        mine = {r["seed"]: r for r in rows if (r["base"], r["lever"]) == (name, lever)}
        if not mine:
            continue
        seeds = sorted(mine)
        test = np.array([mine[s]["test"]["recall@50"] for s in seeds])
        ref = np.array([base[s] for s in seeds])
        p = float(stats.ttest_rel(test, ref).pvalue) if len(seeds) > 1 else None
        out.append({"base": name, "lever": lever, "train": LEVERS[lever], "seeds": seeds,
                    "valid_recall@50": round(float(np.mean(
                        [mine[s]["valid"]["recall@50"] for s in seeds])), 4),
                    "recall@50": {"mean": round(float(test.mean()), 4),
                                  "sd": round(float(test.std(ddof=1)), 4) if len(seeds) > 1
                                  else None},
                    "base_same_seeds": round(float(ref.mean()), 4),
                    "x_base": round(float(test.mean() / ref.mean()), 3), "p_vs_base": p,
                    "mean_step_ms": round(float(np.mean(
                        [mine[s]["mean_step_ms"] for s in seeds])), 1)})
    OUT.write_text(json.dumps({"bases": BASES, "base_seeds": seeds_of,
                               "rows": out}, indent=1))
    print("| base | lever | seeds | valid R@50 | test R@50 | base (same seeds) | x base | p "
          "| step ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in out:
        sd = f" ± {r['recall@50']['sd']:.4f}" if r["recall@50"]["sd"] is not None else ""
        p = f"{r['p_vs_base']:.3f}" if r["p_vs_base"] is not None else "-"
        print(f"| {r['base']} | {r['lever']} | {len(r['seeds'])} | {r['valid_recall@50']:.4f} | "
              f"{r['recall@50']['mean']:.4f}{sd} | {r['base_same_seeds']:.4f} | "
              f"x{r['x_base']:.3f} | {p} | {r['mean_step_ms']} |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", choices=list(BASES), default="esans")
    ap.add_argument("--only", nargs="+", choices=list(LEVERS), metavar="LEVER")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--report", action="store_true")
    a = ap.parse_args()
    if a.report:
        report()
        return
    have = set()
    if TRIALS.exists():
        have = {(r.get("base", "esans"), r["lever"], r["seed"])
                for r in map(json.loads, TRIALS.open())}
    jobs = [(a.base, lv, s) for lv in (a.only or levers(a.base)) for s in a.seeds
            if (a.base, lv, s) not in have]
    with ProcessPoolExecutor(a.workers) as pool:
        for f in as_completed([pool.submit(_run, j) for j in jobs]):
            row = f.result()
            with TRIALS.open("a") as fh:
                fh.write(json.dumps(row, sort_keys=True) + "\n")
            print(f"{row['base']}: {row['lever']} seed {row['seed']}: "
                  f"valid {row['valid']['recall@50']:.4f} test {row['test']['recall@50']:.4f} "
                  f"(best epoch {row['best_epoch']})",
                  flush=True)


if __name__ == "__main__":
    main()
