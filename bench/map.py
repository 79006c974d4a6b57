"""Which sampler for which catalogue, on fair terms: every config tuned the same, then seeds.

    python bench/map.py --catalogue beauty --phase tune          # 3 x 3 lr x temperature, seed 0
    python bench/map.py --catalogue beauty --phase seeds         # the chosen setting, seeds 1-4
    python bench/map.py --report                                  # bench/results/map.{json,md}

The protocol (docs/study.md): every config of a cell gets the same tuning grid (lr x
temperature, 3 x 3; the mixed pool's 512 uniform draws are not tuned), chosen on validation
Recall@50 with seed 0; the chosen setting then runs seeds 1-4 (seed = the model's init and the
batch order; the split is the catalogue's). The epoch cap is well above where runs peak; runs that
peaked at the cap are counted. Each cell's best config is compared with every other by a
paired t-test over seeds.

A catalogue is prepared once by the pipeline itself: a copy of this project with the
catalogue's data params, `dvc repro cluster` (ingest, validate, split, encode, behaviour,
fuse, cluster). Each trial is ``esans.experiment.trial`` in a worker process (one torch
thread each); finished trials are appended to bench/results/map-trials.jsonl, so a study
resumes where it stopped.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench/.work/map"
TRIALS = ROOT / "bench/results/map-trials.jsonl"
OUT = ROOT / "bench/results/map"
SHARED = (ROOT / "../shared/datasets").resolve()

# catalogue -> (params overrides of the prepared project, real?)
CATALOGUES: dict[str, tuple[dict, bool]] = {
    "ml100k": ({"data": {"source": "movielens",
                         "movielens": {"path": str(SHARED / "ml100k-multimodal")}}}, True),
    "beauty": ({"data": {"source": "s3rec", "s3rec": {"path": str(SHARED / "amazon-s3rec"),
                                                      "name": "Beauty"}},
                "split": {"method": "leave_last"}}, True),
    "sports": ({"data": {"source": "s3rec", "s3rec": {"path": str(SHARED / "amazon-s3rec"),
                                                      "name": "Sports_and_Outdoors"}},
                "split": {"method": "leave_last"}}, True),
}
# generated catalogues (the `scale` source, docs/synthetic.md): synth-<size>[:<group_spread>]
SYNTH = {"20k": (20_000, 10_000, 200_000), "200k": (200_000, 100_000, 2_000_000)}


def catalogue_params(name: str) -> tuple[dict, bool]:
    """A catalogue's data params and whether it is real: a named one, or a generated one,
    ``synth-<size>[:<group_spread> | :<key>=<value>[,<key>=<value>...]]`` with keys of
    ``data.scale`` (``synth-20k:0.5``, ``synth-20k:topics_per_group=100,noise=1``); the
    cluster count is always the pipeline's own rule, never the generator's group count."""
    if name in CATALOGUES:
        return CATALOGUES[name]
    from pydantic import ValidationError

    from esans.config import ScaleSourceParams

    size, _, spec = name.removeprefix("synth-").partition(":")
    if not name.startswith("synth-") or size not in SYNTH:
        raise SystemExit(f"unknown catalogue {name!r}: {sorted(CATALOGUES)} or "
                         f"synth-<{'|'.join(SYNTH)}>[:<group_spread> | :<key>=<value>,...]")
    n_items, n_users, n_events = SYNTH[size]
    scale: dict = {"n_items": n_items, "n_users": n_users, "n_events": n_events,
                   "group_spread": 0.0}
    for part in filter(None, spec.split(",")):
        k, eq, v = part.partition("=")
        if not eq:
            k, v = "group_spread", part
        if k not in ScaleSourceParams.model_fields or k in ("n_items", "n_users", "n_events"):
            raise SystemExit(f"{name!r}: {k!r} is not a generator setting of data.scale")
        scale[k] = v
    try:   # the params model types and range-checks the strings ("250" -> 250)
        typed = ScaleSourceParams.model_validate(scale)
    except ValidationError as e:
        raise SystemExit(f"{name!r}: {e.errors()[0]['loc'][0]}: {e.errors()[0]['msg']}")
    scale = {k: getattr(typed, k) for k in scale}
    return {"data": {"source": "scale", "scale": scale}, "train": {"valid_users": 2000}}, False


LR = [1e-3, 2e-3, 4e-3]
TEMPERATURE = [0.05, 0.1, 0.2]
SEEDS = [0, 1, 2, 3, 4]
COMMON = {"epochs": 40, "patience": 3, "threads": 1}


def configs(budget: int) -> dict[str, dict]:
    """Config name -> train overrides at ``budget`` real negatives a row."""
    msac = {"sampler": "esans", "n_negatives": budget, "m_c": max(1, budget // 4)}
    dns = {"sampler": "dns", "n_negatives": budget, "candidates": 4}
    return {   # in the order a study runs them: the decisive ones first
        "esans": {**msac, "candidates": 4},
        "dns": dns,
        "uniform": {"sampler": "uniform", "n_negatives": budget},
        "dns+edis": {**dns, "edis": True},
        "dns+edis+fnmask": {**dns, "edis": True, "exclude_own_l2": True},
        "esans-paper": {**msac, "candidates": 1},
        "mixed": {"sampler": "mixed"},
        # topic-aware batching: the pool's in-batch negatives from a few MSAC clusters
        "mixed+tas": {"sampler": "mixed", "batching": "clusters", "exclude_own_l2": True},
        "popularity": {"sampler": "popularity", "n_negatives": budget},
        "full": {"sampler": "full"},
    }


RETIRED = ["mixed+esans"]   # switch left the product (train.pool: mixed); its trials stay


def grid(config: str) -> list[dict]:
    """The tuning settings of a config: lr x temperature, the same grid for every config."""
    return [{"lr": lr, "temperature": t} for lr, t in itertools.product(LR, TEMPERATURE)]


def workdir(catalogue: str) -> Path:
    """Where a catalogue's prepared project lives (``synth-20k:0.5`` -> synth-20k-spread0.5,
    ``synth-20k:noise=1,topics_per_group=50`` -> synth-20k-noise1-topics_per_group50)."""
    if "=" in catalogue:
        return WORK / catalogue.replace(":", "-").replace("=", "").replace(",", "-")
    return WORK / catalogue.replace(":", "-spread")


def prepare(catalogue: str) -> Path:
    """The project copy whose stages up to `cluster` ran on ``catalogue`` (once)."""
    from esans.experiment import prepare as prepared

    return prepared(ROOT, workdir(catalogue), catalogue_params(catalogue)[0])


def key(row: dict) -> str:
    return json.dumps([row["catalogue"], row["budget"], row["config"], row["setting"],
                       row["seed"]], sort_keys=True)


def done() -> dict[str, dict]:
    if not TRIALS.exists():
        return {}
    rows = [json.loads(x) for x in TRIALS.read_text().splitlines() if x.strip()]
    return {key(r): r for r in rows}


def _run(job: dict) -> dict:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from esans.experiment import trial

    out = trial(job["work"], {**configs(job["budget"])[job["config"]], **COMMON,
                              **job["setting"]}, job["seed"])
    out.pop("curve")   # the per-epoch curve: bench/peer_recbole.py reads it, the map does not
    return {k: v for k, v in job.items() if k != "work"} | out


def execute(jobs: list[dict], workers: int) -> None:
    have = done()
    todo = [j for j in jobs if key(j) not in have]
    print(f"{len(jobs) - len(todo)} of {len(jobs)} trials done; running {len(todo)}",
          flush=True)
    TRIALS.parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(workers) as pool:
        futures = {pool.submit(_run, j): j for j in todo}
        for f in as_completed(futures):
            row = f.result()
            with open(TRIALS, "a") as fh:
                fh.write(json.dumps(row, sort_keys=True) + "\n")
            print(f"{row['catalogue']} {row['config']:<16} {row['setting']} seed {row['seed']}:"
                  f" valid {row['valid']['recall@50']:.4f} test {row['test']['recall@50']:.4f}"
                  f" (best epoch {row['best_epoch']}/{row['epochs_run']}, "
                  f"{row['train_seconds']:.0f} s)", flush=True)


def chosen(rows: list[dict], catalogue: str, budget: int, config: str) -> dict | None:
    """The setting with the best validation Recall@50 among the config's seed-0 trials."""
    tuned = [r for r in rows if (r["catalogue"], r["budget"], r["config"], r["seed"]) ==
             (catalogue, budget, config, 0) and r["setting"] in grid(config)]
    if len(tuned) < len(grid(config)):
        return None
    return max(tuned, key=lambda r: r["valid"]["recall@50"])["setting"]


def catalogue_size(catalogue: str) -> int | None:
    """Items in a catalogue: from its prepared copy's split report, else from the last
    ``map.json`` (the prepared copies live under the ignored bench/.work)."""
    report = workdir(catalogue) / "reports/split.json"
    if report.exists():
        return json.loads(report.read_text())["n_items"]
    last = Path(f"{OUT}.json")
    known = {r["catalogue"]: r["n_items"] for r in json.loads(last.read_text())
             if r.get("n_items")} if last.exists() else {}
    return known.get(catalogue)


def summarise(rows: list[dict]) -> list[dict]:
    """One row per (catalogue, budget, config) at its chosen setting, with the paired test
    against the cell's best config (by mean test Recall@50)."""
    from scipy import stats

    from esans.config import load_params, resolve_sampler

    default = load_params(ROOT / "params.yaml").train
    out = []
    cells = sorted({(r["catalogue"], r["budget"]) for r in rows})
    for cat, budget in cells:
        n_items = catalogue_size(cat)
        cell = []
        for config in [*configs(budget), *RETIRED]:
            setting = chosen(rows, cat, budget, config)
            if setting is None:
                continue
            runs = {r["seed"]: r for r in rows if (r["catalogue"], r["budget"], r["config"])
                    == (cat, budget, config) and r["setting"] == setting}
            test = np.array([runs[s]["test"]["recall@50"] for s in sorted(runs)])
            fn = runs[0].get("false_negative_rate") or {}
            cell.append({
                "catalogue": cat, "n_items": n_items, "real": catalogue_params(cat)[1],
                "budget": budget, "config": config,
                # the config the shipped default resolves to at this catalogue's size
                "is_default": n_items is not None
                and config == resolve_sampler(default, n_items)[0].sampler,
                "tuned": setting, "tuning_trials": len(grid(config)), "seeds": sorted(runs),
                "recall@50": {"mean": round(float(test.mean()), 4),
                              "sd": round(float(test.std(ddof=1)), 4) if len(test) > 1 else None},
                "by_seed": {s: runs[s]["test"]["recall@50"] for s in sorted(runs)},
                "runs_at_cap": sum(r["at_cap"] for r in runs.values()),
                "best_epochs": [runs[s]["best_epoch"] for s in sorted(runs)],
                "false_negative_rate": fn})
        if not cell:
            continue
        best = max(cell, key=lambda c: c["recall@50"]["mean"])
        for c in cell:
            c["lift_vs_best"] = round(c["recall@50"]["mean"] / best["recall@50"]["mean"], 4)
            common = sorted(set(c["by_seed"]) & set(best["by_seed"]))
            if c is best or len(common) < 2:
                c["p_vs_best"] = None
                continue
            a = [c["by_seed"][s] for s in common]
            b = [best["by_seed"][s] for s in common]
            c["p_vs_best"] = round(float(stats.ttest_rel(a, b).pvalue), 4)
        out += sorted(cell, key=lambda c: -c["recall@50"]["mean"])
    return out


def verdict(r: dict) -> str:
    """Against the cell's best: "best", "tie" (paired p >= 0.05) or "worse"."""
    if r["p_vs_best"] is None:
        return "best" if r["lift_vs_best"] == 1 else "untested"
    return "tie" if r["p_vs_best"] >= 0.05 else "worse"


def markdown(summary: list[dict]) -> str:
    lines = ["| catalogue | budget | config | lr | temp. | test Recall@50 (mean ± SD) | seeds "
             "| x best | paired p | peaked at cap |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary:
        rc = r["recall@50"]
        sd = f" ± {rc['sd']:.4f}" if rc["sd"] is not None else ""
        p = "best" if r["p_vs_best"] is None and r["lift_vs_best"] == 1 else (
            f"{r['p_vs_best']:.3f} ({verdict(r)})" if r["p_vs_best"] is not None else
            "- (1 seed)")
        name = f"**{r['config']}** (default)" if r["is_default"] else r["config"]
        extra = f", {r['tuned']['mns_uniform']} uniform" if "mns_uniform" in r["tuned"] else ""
        lines.append(f"| {r['catalogue']} | {r['budget']} | {name}{extra} | {r['tuned']['lr']} "
                     f"| {r['tuned']['temperature']} | {rc['mean']:.4f}{sd} | {len(r['seeds'])} "
                     f"| x{r['lift_vs_best']:.3f} | {p} | {r['runs_at_cap']} |")
    return "\n".join(lines) + "\n"


def false_negatives(catalogues: list[str]) -> dict:
    """How often MSAC's hard and easy draws (the paper's ESANS, one epoch) are one of the
    user's held-out items, per catalogue: bench/results/false-negatives-msac.json."""
    from esans.experiment import trial

    out_path = ROOT / "bench/results/false-negatives-msac.json"
    out = json.loads(out_path.read_text()) if out_path.exists() else {}
    for cat in catalogues:
        r = trial(prepare(cat), {**configs(8)["esans-paper"], "epochs": 1, "threads": 1}, 0)
        fn = r["false_negative_rate"]
        out[cat] = {**fn, "hard_over_easy": round(fn["hard"] / fn["easy"], 2)
                    if fn["hard"] and fn["easy"] else None}
        print(cat, out[cat], flush=True)
    out_path.write_text(json.dumps(out, indent=1) + "\n")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--catalogue", help=f"{', '.join(CATALOGUES)} or "
                    "synth-<20k|200k>[:spread | :key=value,...]")
    ap.add_argument("--budget", type=int, default=8)
    ap.add_argument("--phase", choices=["tune", "seeds", "fn"])
    ap.add_argument("--only", nargs="*", help="configs (default: all)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--report", action="store_true")
    a = ap.parse_args()
    if a.phase == "fn":
        false_negatives([a.catalogue] if a.catalogue else list(CATALOGUES))
    elif a.phase:
        work = str(prepare(a.catalogue))
        names = a.only or list(configs(a.budget))
        base = {"work": work, "catalogue": a.catalogue, "budget": a.budget}
        if a.phase == "tune":
            jobs = [{**base, "config": c, "setting": s, "seed": 0}
                    for c in names for s in grid(c)]
        else:
            rows = list(done().values())
            jobs = []
            for c in names:
                s = chosen(rows, a.catalogue, a.budget, c)
                if s is None:
                    print(f"{c}: not tuned yet; skipped")
                    continue
                jobs += [{**base, "config": c, "setting": s, "seed": seed}
                         for seed in SEEDS[1:]]
        execute(jobs, a.workers)
    if a.report:
        summary = summarise(list(done().values()))
        OUT.parent.mkdir(parents=True, exist_ok=True)
        Path(f"{OUT}.json").write_text(json.dumps(summary, indent=1) + "\n")
        Path(f"{OUT}.md").write_text(markdown(summary))
        print(markdown(summary))


if __name__ == "__main__":
    main()
