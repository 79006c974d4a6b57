"""Where does ESANS pay? Catalogue size x sampler x negative budget, resumable.

    python bench/regime.py                                   # the whole grid (many hours)
    python bench/regime.py --sizes 20k ctl-20k --seeds 1     # one slice
    python bench/regime.py --report                          # tables + plot from what ran
    python bench/regime.py --report --steps-for 200k:8 --threads 1   # + step ratios, re-measured
    python bench/regime.py --report --full-cost 200k --threads 1     # + the full softmax's cost

Datasets: ml100k-multimodal (real; prepared once by `dvc repro cluster` in a workspace copy
of this project, as bench/samplers.py does) and synthetic catalogues from
``esans.data.synthetic_scale`` at 20k, 200k and 1M items (settings in ``SIZES``, explained in
docs/synthetic.md), each with a no-structure control (``ctl-*``: same sizes, popularity and
behaviour, content unrelated to behaviour). A synthetic dataset is prepared once through the
library functions the pipeline's stages call: temporal split -> behaviour (PPMI-SVD) ->
contrastive fuse of provided vectors + behaviour -> MSAC.

Every (dataset, config, budget, seed) trains in its own subprocess with the same epoch cap,
early stopping (patience on validation Recall@50 over a fixed user sample) and model, and is
scored on test over the full catalogue with seen items masked (the evaluation protocol; at 200k+
items over a fixed sample of test users). Each finished run is appended to
bench/results/regime-runs.jsonl, so an interrupted study resumes where it stopped. Step time
as a ratio to uniform is measured side by side in one process (alternating steps on the same
batches, bench/timing.py). Writes bench/results/regime.{json,md,png}.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from esans.trainer import TrainData

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench/.work/regime"
RUNS = ROOT / "bench/results/regime-runs.jsonl"
OUT = ROOT / "bench/results/regime"
DATASET = (ROOT / "../shared/datasets/ml100k-multimodal").resolve()
KS = [20, 50, 100, 200]

# Synthetic catalogues: ~10 events per item, 20 per user; 3-level taste (group > topic >
# item): users like 8 topics, spread over groups; MSAC's level 1 ~ groups (n_items / 2000).
SIZES: dict[str, dict] = {
    "20k": {"n_items": 20_000, "n_users": 10_000, "n_events": 200_000},
    "200k": {"n_items": 200_000, "n_users": 100_000, "n_events": 2_000_000},
    "1m": {"n_items": 1_000_000, "n_users": 500_000, "n_events": 10_000_000},
}
# Epoch cap and patience per catalogue (the same for every sampler): ml100k uses the project
# defaults; the synthetic points are capped so that the grid fits 2 cores (1M: one epoch,
# ~9,800 steps, as many as ~5 epochs at 200k; a run is ~30-70 min at one thread).
EPOCHS = {"ml100k": (20, 4), "20k": (10, 2), "200k": (6, 2), "1m": (1, 1)}
STRUCTURE = {"topics_per_group": 10, "dim": 64, "noise": 0.5, "popularity_alpha": 0.9,
             "topics_per_user": 8, "drift": 0.3}
VALID_USERS, EVAL_USERS = 2000, 20_000
ORDER = ["ml100k", "ml100k-prep0", "ml100k-prep2", "20k", "20k-prep0", "20k-prep2", "ctl-20k",
         "ctl-20k-prep0", "200k", "ctl-200k", "1m"]


def configs(budget: int) -> dict[str, dict]:
    """Sampler configs at a real-negative budget per positive (train param overrides).

    mixed shares one pool of B in-batch + 512 uniform items across the batch: its budget is
    that pool, whatever ``budget`` says (it is the industry reference, at its own cost).
    """
    m_c = max(1, budget // 4)
    paper = {"sampler": "esans", "m_c": m_c, "m_o": budget - m_c, "edis_sources": min(
        budget - m_c, 8), "hard_candidates": 1, "easy_candidates": 1}
    dns_table = {"sampler": "dns", "n_negatives": budget, "pool_size": 4 * budget,
                 "selection_table_every": 100}
    esans_dns_table = {**paper, "hard_candidates": 4, "easy_candidates": 4,
                       "selection_table_every": 100}
    out = {
        "uniform": {"sampler": "uniform", "n_negatives": budget},
        "popularity": {"sampler": "popularity", "n_negatives": budget},
        "mixed": {"sampler": "mixed"},
        "dns": {"sampler": "dns", "n_negatives": budget, "pool_size": 4 * budget},
        "esans-paper": paper,
        "msac": {**paper, "sampler": "msac"},
        # retired knobs' variants (hard_weight, edis_logq, hard_anchor, easy_temperature) keep
        # their measured rows in bench/results/regime-runs.jsonl and the report
        "esans-dyn": {**paper, "hard_candidates": 4},
        "esans-dns": {**paper, "hard_candidates": 4, "easy_candidates": 4},
        "esans-dns-k8": {**paper, "hard_candidates": 8, "easy_candidates": 8},
        "esans-dns-l05": {**paper, "hard_candidates": 4, "easy_candidates": 4,
                          "edis_lambda": 0.5},
        "msac-dns": {**paper, "sampler": "msac", "hard_candidates": 4, "easy_candidates": 4},
        "dns-k8": {"sampler": "dns", "n_negatives": budget, "pool_size": 8 * budget},
        # the missing cell of {uniform, MSAC} x {select} x {EDIS}: EDIS over DNS's kept
        # negatives (the budget - m_c least hard of them, as many sources as esans-dns mixes)
        "dns-edis": {"sampler": "dns", "n_negatives": budget, "pool_size": 4 * budget,
                     "edis": True, "edis_sources": budget - m_c},
        # the same, scoring candidates against an item table refreshed every 100 steps
        # (StaleItemTable) instead of a tower forward per candidate
        "dns-table": dns_table,
        # the baseline's own knob: a table refreshed every 1,000 steps (~1.6 refreshes an
        # epoch at 200k) or every 10 instead of 100
        "dns-table-n1000": {**dns_table, "selection_table_every": 1000},
        "dns-table-n10": {**dns_table, "selection_table_every": 10},
        "dns-edis-table": {"sampler": "dns", "n_negatives": budget, "pool_size": 4 * budget,
                           "edis": True, "edis_sources": budget - m_c,
                           "selection_table_every": 100},
        "esans-dns-table": esans_dns_table,
        # the two best ml100k variants combined: the item table and EDIS lambda 0.5
        "esans-dns-table-l05": {**esans_dns_table, "edis_lambda": 0.5},
        # a milder selection for both selectors alike (the model keeps 1 of 2 candidates, not
        # 1 of 4): at budget 64 and 200k items keeping the top quarter never learned (dns-table)
        # or lost half of uniform's recall (esans-dns-table)
        "dns-table-p2": {**dns_table, "pool_size": 2 * budget},
        "esans-dns-table-k2": {**esans_dns_table, "hard_candidates": 2, "easy_candidates": 2},
        # the stale table with each step's computed rows written back (a kept negative's
        # row is current right after the step that pushed it away): at 1M items after one
        # epoch the plain table's ESANS collapsed (pipeline, test R@50 0.003 vs 0.0208 exact)
        "esans-dns-table-wb": {**esans_dns_table, "selection_table_writeback": True},
        "dns-table-wb": {**dns_table, "selection_table_writeback": True},
        "esans-all-l1": {**paper, "exclude_own_l2": False},
        "esans-all-l1-dyn": {**paper, "exclude_own_l2": False, "hard_candidates": 4},
        "mixed+esans": {**paper, "pool": "mixed"},
        "mixed+esans-dns": {**paper, "pool": "mixed", "hard_candidates": 4,
                            "easy_candidates": 4},
        "full": {"sampler": "full"},
    }
    # the 1-of-2 pair and the mixed pool with a 12-epoch cap (the study's 6 at 200k stopped
    # most budget-64 runs while still improving): no schedule depends on the cap, so a run
    # repeats its 6-epoch twin and goes on; lifts compare only configs under the same cap
    for name in ("dns-table-p2", "esans-dns-table-k2", "mixed"):
        out[f"{name}-e12"] = {**out[name], "epochs": 12}
    return out


# the mixed pool runs once per dataset: its shared pool does not depend on the budget
SHARED_POOL = ("mixed", "mixed-e12")


# The preparation a run trained on (``prep`` in its row: a hash of prepared.npz). The same
# config and seed are reproducible on one preparation, not across two: ml100k's is made by the
# pipeline (encoders, fusion, k-means) and comes out different on another machine. The ml100k
# runs made before preparations were recorded are kept as ``ml100k-prep0``: an earlier
# machine's preparation, on which this one's esans-dns-table seed 0 gave 0.4669 (here 0.4735)
# and uniform seed 0 0.4584 (here 0.4574). The same at 20k (its catalogue is generated, its
# fusion and k-means are not bit-stable across machines or code versions): seed 0 of uniform,
# DNS and esans-dns gave 0.2193, 0.2330, 0.2341 in the earlier runs and 0.2260, 0.2378, 0.2379
# here, so those runs are ``20k-prep0`` / ``ctl-20k-prep0``. (200k: mixed seed 0 repeated
# its earlier run here to four decimals.)
EARLIER_PREP = {"ml100k-prep0": "ml100k", "20k-prep0": "20k", "ctl-20k-prep0": "ctl-20k"}
# Another preparation of a catalogue, run as a cell of its own (its runs compare only
# with each other): ``20k-prep2`` is 20k prepared where the budget-64 axis ran at 20k, on a
# machine whose 20k preparation (8297a30979b7) is not the one the 20k cell trained on;
# ``ml100k-prep2`` is ml100k prepared where its budget-64 axis ran (90e6568038db, the ml100k
# cell's is 6c8fb455b26d).
LATER_PREP = {"20k-prep2": "20k", "ml100k-prep2": "ml100k"}
RUNNABLE = [d for d in ORDER if d not in EARLIER_PREP]


def catalogue(dataset: str) -> str:
    """The catalogue a dataset label stands for (``20k-prep2``, ``20k-prep0``: 20k)."""
    return LATER_PREP.get(dataset) or EARLIER_PREP.get(dataset, dataset)


def size_name(dataset: str) -> str:
    """The size a dataset label runs at, structured or control (``ctl-20k-prep0``: 20k)."""
    return catalogue(dataset).removeprefix("ctl-")


def prep_id(dataset: str) -> str:
    h = hashlib.sha256()
    with open(prepare(dataset), "rb") as fh:
        for block in iter(lambda: fh.read(1 << 24), b""):
            h.update(block)
    return h.hexdigest()[:12]


def check_preparation(dataset: str, done: dict[tuple, dict]) -> None:
    """Refuse to resume ``dataset`` when finished runs trained on another preparation: their
    seeds would not be comparable with the new runs' (rows without ``prep`` predate it)."""
    here = prep_id(dataset)
    other = sorted({r["prep"] for k, r in done.items()
                    if k[0] == dataset and r.get("prep") not in (None, here)})
    if other:
        raise SystemExit(f"{RUNS}: runs of {dataset} trained on another preparation "
                         f"({', '.join(other)}; the workspace's is {here}): move them to a "
                         f"dataset of their own (as ml100k-prep0) before resuming")


def size_of(dataset: str) -> dict | None:
    return SIZES.get(size_name(dataset))


def item_count(dataset: str) -> int:
    """The catalogue's item count (ml100k-multimodal: 1,682 items)."""
    return 1682 if size_name(dataset) == "ml100k" else size_of(dataset)["n_items"]


# ---------------------------------------------------------------- preparing a dataset

def prepare(dataset: str, seed: int = 0) -> Path:
    """Arrays every run of ``dataset`` trains and scores on (built once): ``prepared.npz``."""
    out = WORK / dataset / "prepared.npz"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    arrays = (_prepare_ml100k() if catalogue(dataset) == "ml100k"
              else _prepare_synthetic(dataset, seed))
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, out)
    return out


def _split_arrays(split) -> dict:
    a = {}
    for name in ("train", "valid", "test"):
        df = split[name] if isinstance(split, dict) else getattr(split, name)
        df = df.sort(["user_idx", "pos"])
        a[f"{name}_users"] = df["user_idx"].to_numpy().astype(np.int64)
        a[f"{name}_items"] = df["item_idx"].to_numpy().astype(np.int64)
        a[f"{name}_pos"] = df["pos"].to_numpy().astype(np.int64)
    return a


def _prepare_ml100k() -> dict:
    import polars as pl

    import samplers

    work = ROOT / "bench/.work/ml100k"
    samplers.prepare(work, DATASET)
    split = {n: pl.read_parquet(work / f"data/split/{n}.parquet")
             for n in ("users", "items", "train", "valid", "test")}
    cl = pl.read_parquet(work / "data/cluster/assignments.parquet")
    return {**_split_arrays(split), "n_users": split["users"].height,
            "n_items": split["items"].height,
            "content": np.load(work / "data/fuse/items.npy"),
            "l1": cl["l1"].to_numpy(), "l2": cl["l2"].to_numpy(),
            "centroids1": np.load(work / "data/cluster/centroids1.npy")}


def _prepare_synthetic(dataset: str, seed: int) -> dict:
    import polars as pl
    import torch

    from esans.cluster.msac import msac
    from esans.cluster.quality import nmi
    from esans.data.split import temporal_split
    from esans.data.synthetic_scale import ScaleParams, generate, read_item_vectors
    from esans.encode.behaviour import ppmi_svd
    from esans.encode.fuse import align, fuse

    torch.set_num_threads(2)
    size = size_of(dataset)
    n_groups = max(2, size["n_items"] // 2000)
    sp = ScaleParams(**size, n_groups=n_groups, **STRUCTURE,
                     content="random" if catalogue(dataset).startswith("ctl-") else "topics")
    raw = WORK / dataset / "raw"
    if not (raw / "interactions").exists():
        generate(sp, raw, seed)
    _, vectors = read_item_vectors(raw / "items")
    items = pl.concat([pl.read_parquet(f, columns=["item_id", "label"])
                       for f in sorted((raw / "items").glob("part-*.parquet"))])
    parts = sorted((raw / "interactions").glob("*.parquet"))
    inter = (pl.concat([pl.read_parquet(f) for f in parts])
             .with_row_index("seq").with_columns(pl.col("seq").cast(pl.Int64)))
    split = temporal_split(inter, items.select("item_id"), 0.1, 0.1)
    a = _split_arrays(split)
    n_users, n_items = split.users.height, split.items.height
    beh, has = ppmi_svd(a["train_users"], a["train_items"], n_users, n_items, 64, seed)
    feats = {"provided": vectors, "behaviour": beh}
    masks = {"provided": np.ones(n_items, bool), "behaviour": has}
    proj, _ = align(feats, masks, 64, 200, 3e-3, 0.1, seed)
    content = fuse(proj, masks, {"provided": 1.0, "behaviour": 1.0})
    cl = msac(content, n_groups, 8, 5, 25, seed)
    labels = items["label"].str.replace("topic", "").cast(pl.Int64).to_numpy()
    print(f"{dataset}: {n_items} items, {n_users} users, {len(inter)} events; "
          f"NMI(l1, group) {nmi(labels // STRUCTURE['topics_per_group'], cl.l1):.3f} "
          f"NMI(l2, topic) {nmi(labels, cl.l2):.3f}", flush=True)
    return {**a, "n_users": n_users, "n_items": n_items, "content": content, "l1": cl.l1,
            "l2": cl.l2, "centroids1": cl.centroids1}


# ---------------------------------------------------------------- one run

def load(dataset: str) -> tuple[dict, TrainData]:
    """The prepared arrays and the TrainData every config trains on (validation on a fixed
    sample of ``VALID_USERS`` users: the same every epoch and config)."""
    from esans.trainer import TrainData

    z = dict(np.load(prepare(dataset)))
    vu, vi = z["valid_users"], z["valid_items"]
    users = np.unique(vu)
    if len(users) > VALID_USERS:
        keep = np.isin(vu, np.random.default_rng(0).choice(users, VALID_USERS, replace=False))
        vu, vi = vu[keep], vi[keep]
    data = TrainData(n_users=int(z["n_users"]), n_items=int(z["n_items"]),
                     train_users=z["train_users"], train_items=z["train_items"],
                     train_pos=z["train_pos"], valid_users=vu, valid_items=vi,
                     content=z["content"].astype(np.float32), l1=z["l1"], l2=z["l2"],
                     centroids1=z["centroids1"].astype(np.float32))
    return z, data


def train_params(dataset: str, overrides: dict, threads: int):
    from esans.config import Params

    epochs, patience = EPOCHS[size_name(dataset)]
    # exact selection unless the config names a stale table
    base = {"epochs": epochs, "patience": patience, "threads": threads,
            "checkpoint_every": 10 ** 9, "selection_table_every": 0}
    p = Params.model_validate({"train": {**base, **overrides}})  # cross-field rules apply
    return p.train


def run_one(dataset: str, config: str, budget: int, seed: int, threads: int) -> dict:
    from esans.data.history import Histories
    from esans.rank import evaluate
    from esans.sampling.base import SeenItems
    from esans.trainer import fit

    code = code_version()  # at the start: the code this run imports
    z, data = load(dataset)
    tp = train_params(dataset, configs(budget)[config], threads)
    held = SeenItems(np.concatenate([z["valid_users"], z["test_users"]]),
                     np.concatenate([z["valid_items"], z["test_items"]]), data.n_items)
    t0 = time.perf_counter()
    res = fit(tp, data, seed, log=lambda s: None, heldout=held)
    train_s = time.perf_counter() - t0
    # test: history and mask = train + valid, ranked over the whole catalogue
    su = np.concatenate([z["train_users"], z["valid_users"]])
    si = np.concatenate([z["train_items"], z["valid_items"]])
    sp = np.concatenate([z["train_pos"], z["valid_pos"]])
    order = np.lexsort((sp, su))
    seen = Histories(su[order], si[order], data.n_users)
    test_users = np.unique(z["test_users"])
    if len(test_users) > EVAL_USERS:
        test_users = np.sort(np.random.default_rng(0).choice(test_users, EVAL_USERS,
                                                             replace=False))
    m, _ = evaluate(res.model, test_users, seen, tp.history_len, z["test_users"],
                    z["test_items"], KS)
    best = res.best_epoch
    return {"dataset": dataset, "config": config, "budget": budget, "seed": seed,
            "prep": prep_id(dataset),
            **{k: v for k, v in m.items()}, "epochs": len(res.history), "best_epoch": best,
            "valid_recall@50": res.best_valid_recall50, "train_s": train_s,
            "to_best_s": float(sum(r["seconds"] for r in res.history[:best])),
            "step_ms": 1000 * res.mean_step_s,
            "false_negative_rate": res.false_negative_rate,
            "false_negative_rate_hard": res.false_negative_rate_hard,
            "false_negative_rate_easy": res.false_negative_rate_easy,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "code": code}


def code_version() -> str:
    """The commit the run's code came from, +dirty when the library or the bench scripts have
    uncommitted changes (results files appended by the study itself do not count)."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)

    head = git("rev-parse", "--short", "HEAD")
    if head.returncode != 0:
        return "unknown"
    changed = git("status", "--porcelain", "--untracked-files=no", "--", "esans", "bench/*.py")
    return head.stdout.strip() + ("+dirty" if changed.stdout.strip() else "")


# ---------------------------------------------------------------- step-time ratios

def step_ratios(dataset: str, budget: int, names: list[str], threads: int,
                steps: int = 60) -> dict:
    """Median step time of each config / uniform's, alternating steps in one process."""
    import torch

    from timing import alternating_step_times

    z, data = load(dataset)
    torch.set_num_threads(threads)
    arms = {n: train_params(dataset, configs(budget)[n], threads)
            for n in ["uniform", *[n for n in names if n != "uniform"]]}
    t = alternating_step_times(arms, data, steps, warmup=5)   # sparse ids as training
    # median step + a stale table's refreshes amortised over the steps between them; in wall
    # seconds (the ratios) and in CPU seconds ("cpu": user + system, which waits on a busy
    # machine do not inflate but page faults do)
    def med(key: str) -> dict[str, float]:
        return {n: float(np.median(v[key])) + (float(np.mean(v["refresh_s"])) / arms[
            n].table_every if v["refresh_s"] else 0.0) for n, v in t.items()}

    wall, cpu = med("step_s"), med("cpu_s")
    return {n: wall[n] / wall["uniform"] for n in wall} | {
        "cpu": {n: cpu[n] / cpu["uniform"] for n in cpu}, "uniform_ms": 1000 * wall["uniform"],
        "uniform_cpu_ms": 1000 * cpu["uniform"], "threads": threads}


def full_softmax_cost(dataset: str, threads: int, steps: int = 12) -> dict:
    """Where the study does not run the full softmax (over 20k items): its step against
    uniform's (alternating, as ``step_ratios``; dense id rows, as training keeps them for it)
    and what one run under the dataset's epoch cap would take at that step."""
    r = step_ratios(dataset, 8, ["full"], threads, steps)
    n_events = int(np.load(prepare(dataset))["train_users"].shape[0])
    epochs = EPOCHS[size_name(dataset)][0]
    steps_run = epochs * -(-n_events // train_params(dataset, {}, threads).batch_size)
    full_s = r["full"] * r["uniform_ms"] / 1000
    return {"full_over_uniform": r["full"], "cpu_full_over_uniform": r["cpu"]["full"],
            "uniform_ms": r["uniform_ms"], "full_ms": 1000 * full_s, "threads": threads,
            "steps": steps, "epoch_cap": epochs, "steps_per_run": steps_run,
            "hours_per_run_at_cap": steps_run * full_s / 3600}


# ---------------------------------------------------------------- the study

def done_runs() -> dict[tuple, dict]:
    out = {}
    if RUNS.exists():
        for line in RUNS.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                out[(r["dataset"], r["config"], r["budget"], r["seed"])] = r
    return out


def grid(sizes: list[str], budgets: list[int], seeds: int, only: list[str] | None,
         seeds_1m: int = 1):
    for dataset in sizes:
        n = item_count(dataset)
        n_seeds = seeds_1m if n >= 1_000_000 else seeds
        for budget in budgets:
            for seed in range(n_seeds):
                for config in configs(budget):
                    if only and config not in only:
                        continue
                    if config == "full" and n > 20_000:
                        continue  # the full softmax does not fit a 2-core budget there
                    if config in SHARED_POOL and budget != budgets[0]:
                        continue  # its pool does not depend on the budget
                    yield dataset, config, budget, seed


def study(sizes, budgets, seeds, only, workers, threads, seeds_1m=1) -> None:
    done = done_runs()
    points = list(grid(sizes, budgets, seeds, only, seeds_1m))
    todo = [g for g in points if g not in done]
    print(f"{len(done)} runs done, {len(todo)} to go", flush=True)
    # every dataset with runs to go is prepared here; a finished one is checked if it is
    todo_sets = {g[0] for g in todo}
    for dataset in dict.fromkeys(g[0] for g in points):
        if dataset in todo_sets or (WORK / dataset / "prepared.npz").exists():
            check_preparation(dataset, done)
    lock = threading.Lock()

    def one(g):
        dataset, config, budget, seed = g
        proc = subprocess.run([sys.executable, __file__, "--one", dataset, config, str(budget),
                               str(seed), "--threads", str(threads)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"FAILED {g}: {proc.stderr.strip().splitlines()[-1:]}", flush=True)
            return
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        with lock:
            with open(RUNS, "a") as fh:
                fh.write(json.dumps(row) + "\n")
            print(f"{dataset:9s} {config:18s} m={budget:<3d} seed {seed}: "
                  f"R@50 {row['recall@50']:.4f} R@200 {row['recall@200']:.4f} "
                  f"best ep {row['best_epoch']} {row['train_s']:.0f}s", flush=True)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, todo))


def summarise(runs: list[dict]) -> dict:
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((r["dataset"], r["budget"], r["config"]), []).append(r)
    out = {}
    for (d, b, c), rows in groups.items():
        stat = {}
        for k in ("recall@50", "recall@200", "ndcg@50", "to_best_s", "best_epoch",
                  "false_negative_rate", "false_negative_rate_hard", "false_negative_rate_easy"):
            v = [r[k] for r in rows if r.get(k) is not None]
            if v:
                stat[k] = {"mean": float(np.mean(v)), "std": float(np.std(v))}
        out[f"{d}|{b}|{c}"] = {"dataset": d, "budget": b, "config": c, "n": len(rows), **stat}
    return out


BASELINES = ("uniform", "popularity", "mixed", "dns", "dns-table", "dns-table-n1000",
             "dns-table-n10", "dns-table-p2", "dns-table-p2-e12", "mixed-e12")
# Baselines whose budget is the row's own negatives; mixed's is its shared pool (~B + 512 a row)
PER_ROW = tuple(b for b in BASELINES if b not in SHARED_POOL)


def lifts(summary: dict, config: str, baselines: tuple[str, ...] = BASELINES) -> list[dict]:
    """Lift of ``config`` over the best of ``baselines`` (by mean test R@50) per dataset and
    budget; the error is the two means' standard deviations combined. A config on the mixed
    pool (``train.pool: mixed``) is only compared with baselines that include the mixed pool;
    a config with its own epoch cap only with baselines under the same cap."""
    def cap(b: int, name: str) -> int | None:
        return configs(b).get(name, {}).get("epochs")

    rows = []
    for d in ORDER:
        budgets = sorted({s["budget"] for s in summary.values() if s["dataset"] == d})
        for b in budgets:
            if "mixed" not in baselines and configs(b).get(config, {}).get("pool") == "mixed":
                continue
            got = summary.get(f"{d}|{b}|{config}")
            # mixed runs once per dataset (its pool does not depend on the budget); every
            # other baseline only at the same budget
            base = [summary.get(f"{d}|{b}|{n}") or (
                summary.get(f"{d}|{budgets[0]}|{n}") if n in SHARED_POOL else None)
                for n in baselines if cap(b, n) == cap(b, config)]
            base = [s for s in base if s]
            if not got or not base:
                continue
            best = max(base, key=lambda s: s["recall@50"]["mean"])
            mg, mb = got["recall@50"]["mean"], best["recall@50"]["mean"]
            err = np.hypot(got["recall@50"]["std"], best["recall@50"]["std"]) / mb
            sd = np.hypot(got["recall@50"]["std"], best["recall@50"]["std"])
            rows.append({"dataset": d, "budget": b, "best_baseline": best["config"],
                         "lift": mg / mb, "err": float(err), "seeds": min(got["n"], best["n"]),
                         "gap_sd": float((mg - mb) / sd) if min(got["n"], best["n"]) > 1
                         and sd > 0 else None})
    return rows


def markdown(summary: dict, ratios: dict, bests: list[str]) -> str:
    lines = ["Test metrics (mean ± std over seeds; n = runs). Budget = real negatives per "
             "positive (mixed: its shared pool of B in-batch + 512 uniform, whatever the "
             "budget). Step = median step time (+ a stale table's refreshes, amortised) / "
             "uniform's, alternating steps in one process; cpu: the same in CPU seconds (user "
             "+ system) where measured. "
             "FN rate: share of sampled real negatives that are the user's held-out (valid/test)"
             " items; hard / easy: among MSAC's same-level-1 draws / the others (runs that "
             "recorded it). s to best: training wall seconds to the best validation epoch, "
             "under the code each run recorded (`code` in regime-runs.jsonl) and beside "
             "whatever ran with it: compare it within a row group, not across code versions "
             "(the 200k mixed runs predate the shared-pool seen-item lookup, 7792250: their "
             "steps spent ~170 ms in two 1,024 x 1,536 pair lookups that now take ~12 ms). "
             "ml100k-prep0, 20k-prep0, ctl-20k-prep0: the runs made before each run recorded "
             "its preparation (`prep`), on another preparation; a config and seed reproduce "
             "exactly on one preparation but not across two (esans-dns-table seed 0 on "
             "ml100k: 0.4669 there, 0.4735 on the current one; uniform seed 0 at 20k: 0.2193, "
             "0.2260), so they are separate rows, each compared only within itself. "
             "20k-prep2: 20k prepared on a later machine (another hash), where its budget-64 "
             "axis ran; its budget-8 runs repeat the 20k row's uniform, DNS and mixed seeds to "
             "four decimals (they use no clusters), the MSAC samplers' within 0.005 a seed. "
             "ml100k-prep2: ml100k prepared again on a later machine (another hash), where its "
             "budget-64 axis ran, with its budget-8 baselines repeated there.",
             "", "| dataset | budget | config | n | R@50 | R@200 | NDCG@50 | best epoch | "
             "s to best | FN rate | FN hard / easy | step / uniform |", "|" + "---|" * 12]

    def f(s, k, fmt=".4f"):
        return f"{s[k]['mean']:{fmt}} ± {s[k]['std']:{fmt}}" if k in s else "-"

    def levels(s):
        hard, easy = (s.get(f"false_negative_rate_{x}") for x in ("hard", "easy"))
        return "-" if easy is None else \
            f"{'-' if hard is None else format(hard['mean'], '.4f')} / {easy['mean']:.4f}"

    for d in ORDER:
        for key, s in sorted(((k, s) for k, s in summary.items() if s["dataset"] == d),
                             key=lambda kv: (kv[1]["budget"], kv[1]["config"])):
            got = ratios.get(f"{EARLIER_PREP.get(d, d)}|{s['budget']}", {})   # speed only
            r, c = got.get(s["config"]), got.get("cpu", {}).get(s["config"])
            lines.append(f"| {d} | {s['budget']} | {s['config']} | {s['n']} | "
                         f"{f(s, 'recall@50')} | {f(s, 'recall@200')} | {f(s, 'ndcg@50')} | "
                         f"{s['best_epoch']['mean']:.1f} | {s['to_best_s']['mean']:.0f} | "
                         f"{f(s, 'false_negative_rate')} | {levels(s)} | "
                         f"{'-' if r is None else f'{r:.2f}'}"
                         f"{'' if c is None else f' (cpu {c:.2f})'} |")
    for names, what in ((BASELINES, "the best baseline"),
                        (PER_ROW, "the best baseline with the same per-row budget (mixed "
                                  "left out: its budget is its shared pool)")):
        lines += ["", f"Lift over {what} ({', '.join(names)}) in test R@50 (gap in SDs: only "
                  "with 2+ seeds each):", "",
                  "| ESANS config | dataset | budget | best baseline | lift | ± | seeds | "
                  "gap in SDs |", "|---|---|---|---|---|---|---|---|"]
        for best in bests:
            for r in lifts(summary, best, names):
                gap = "-" if r["gap_sd"] is None else f"{r['gap_sd']:.1f}"
                lines.append(f"| {best} | {r['dataset']} | {r['budget']} | "
                             f"{r['best_baseline']} | {r['lift']:.3f} | {r['err']:.3f} | "
                             f"{r['seeds']} | {gap} |")
    for d, c in ratios.get("full_softmax", {}).items():
        lines += ["", f"Full softmax at {d}: not run. One step costs x{c['full_over_uniform']:.1f}"
                  f" of uniform's ({c['full_ms']:.0f} against {c['uniform_ms']:.0f} ms, CPU "
                  f"x{c['cpu_full_over_uniform']:.1f}; {c['steps']} alternating steps, "
                  f"{c['threads']} thread(s)), so a run under the {c['epoch_cap']}-epoch cap "
                  f"({c['steps_per_run']:,} steps) would take ~{c['hours_per_run_at_cap']:.1f} h."]
    return "\n".join(lines) + "\n"


def best_variant_lifts(summary: dict, configs_: list[str], baselines: tuple[str, ...]
                       ) -> list[dict]:
    """Per dataset and budget, the row of ``lifts`` with the highest lift among ``configs_``
    (each against its own comparable baselines): the best ESANS variant of each cell, chosen
    on test, so an upper bound of what picking on validation would give."""
    best: dict[tuple, dict] = {}
    for c in configs_:
        for r in lifts(summary, c, baselines):
            k = (r["dataset"], r["budget"])
            if k not in best or r["lift"] > best[k]["lift"]:
                best[k] = {**r, "config": c}
    return list(best.values())


def later_prep_twin(row: dict, rows: list[dict]) -> bool:
    """A later preparation's cell where its catalogue's own cell has the same budget: the plot
    shows one point a catalogue and budget (the tables show both)."""
    base = LATER_PREP.get(row["dataset"])
    return base is not None and any(r["dataset"] == base and r["budget"] == row["budget"]
                                    for r in rows)


def plot(summary: dict, bests: list[str], path: Path) -> None:
    """Lift in test R@50 against catalogue size (log x), one line per budget (dashed: the
    no-structure control), error bars the two means' SDs combined. Rows: the best of the
    project's variants in ``bests`` per cell (where there are several), the first of ``bests``
    and the paper's ESANS; columns: over the best baseline with the mixed pool, and
    over the best with the same per-row budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    project = [b for b in bests if b != "esans-paper"   # MSAC + EDIS variants only (by name:
               and b.startswith(("esans", "mixed+esans"))]  # a retired one has no config)
    shown = list(dict.fromkeys([bests[0], "esans-paper"]))
    panels = [(f"best of {len(project)} ESANS variants a cell (on test)",
               lambda names: best_variant_lifts(summary, project, names))] if len(project) > 1 \
        else []
    panels += [(b, lambda names, b=b: lifts(summary, b, names)) for b in shown]
    budgets = sorted({s["budget"] for s in summary.values()})  # one colour a budget, all panels
    fig, axes = plt.subplots(len(panels), 2, figsize=(11, 3.6 * len(panels)), squeeze=False,
                             sharex=True)
    for row, (best, get) in zip(axes, panels):
        for ax, (names, what) in zip(row, ((BASELINES, "best baseline (mixed pool included)"),
                                           (PER_ROW, "best same-budget baseline"))):
            rows = get(names)
            for control in (False, True):
                for b in sorted({r["budget"] for r in rows}):
                    pts = sorted((item_count(r["dataset"]), r["lift"],
                                  r["err"]) for r in rows if r["budget"] == b
                                 and r["dataset"] not in EARLIER_PREP
                                 and not later_prep_twin(r, rows)
                                 and r["dataset"].startswith("ctl-") == control)
                    if pts:
                        x, y, e = zip(*pts)
                        ax.errorbar(x, y, yerr=e, marker="o", capsize=3,
                                    ls="--" if control else "-", color=f"C{budgets.index(b)}",
                                    label=f"budget {b}" + (" (no-structure control)"
                                                           if control else ""))
            ax.axhline(1.0, color="k", lw=0.8)
            ax.set_xscale("log")
            ax.set_title(f"{best} / {what}", fontsize=9)
            ax.set_ylabel("test R@50 ratio")
            ax.legend(fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("catalogue size (items)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def report(bests: list[str], ratio_sets: list[tuple[str, int]], threads: int = 2,
           full_cost: tuple[str, ...] | list[str] = ()) -> None:
    """Tables and plot from the finished runs; ``ratio_sets`` (dataset, budget) get their step
    ratios (re)measured for every config run there, the others keep their recorded ones;
    ``full_cost`` datasets get the full softmax's step cost measured (``full_softmax_cost``)."""
    runs = list(done_runs().values())
    summary = summarise(runs)
    ratio_file = OUT.with_name("regime-steps.json")
    ratios = json.loads(ratio_file.read_text()) if ratio_file.exists() else {}
    for d in full_cost:
        ratios.setdefault("full_softmax", {})[d] = full_softmax_cost(d, threads)
        ratio_file.write_text(json.dumps(ratios, indent=1))
    for d, b in ratio_sets:
        names = sorted({s["config"] for s in summary.values()
                        if s["dataset"] == d and s["budget"] == b} - {"full"})
        ratios[f"{d}|{b}"] = step_ratios(d, b, names, threads)
        ratio_file.write_text(json.dumps(ratios, indent=1))
    OUT.with_suffix(".json").write_text(json.dumps(
        {"protocol": {"epochs_patience": EPOCHS, "valid_users": VALID_USERS,
                      "eval_users": EVAL_USERS, "sizes": SIZES, "structure": STRUCTURE},
         "summary": summary, "lifts": {b: lifts(summary, b) for b in bests},
         "lifts_same_budget": {b: lifts(summary, b, PER_ROW) for b in bests},
         "step_ratios": ratios}, indent=1))
    md = markdown(summary, ratios, bests)
    OUT.with_suffix(".md").write_text(md)
    plot(summary, bests, OUT.with_suffix(".png"))
    print(md)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="*", default=RUNNABLE, choices=RUNNABLE)
    ap.add_argument("--budgets", nargs="*", type=int, default=[8, 64])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--seeds-1m", type=int, default=1,
                    help="seeds at 1M items (a run there is 15-25 min at one thread)")
    ap.add_argument("--only", nargs="*", help="config names")
    ap.add_argument("--workers", type=int, default=2, help="runs at a time")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run")
    ap.add_argument("--report", action="store_true", help="tables and plot from what ran")
    ap.add_argument("--best", nargs="*", default=["esans-paper", "esans-count"],
                    help="ESANS configs whose lift is reported (the plot shows the first)")
    ap.add_argument("--steps-for", nargs="*", default=[],
                    help="dataset:budget pairs whose step ratios are (re)measured, with "
                         "--threads torch threads (the runs' own count; the machine quiet)")
    ap.add_argument("--full-cost", nargs="*", default=[],
                    help="datasets where the full softmax is not run: measure its step "
                         "against uniform's and the hours a run would take")
    ap.add_argument("--one", nargs=4, metavar=("DATASET", "CONFIG", "BUDGET", "SEED"),
                    help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        d, c, b, s = a.one
        print(json.dumps(run_one(d, c, int(b), int(s), a.threads)))
        return
    if not a.report:
        sizes = [s for s in a.sizes if catalogue(s) != "ml100k" or DATASET.is_dir()]
        study(sizes, a.budgets, a.seeds, a.only, a.workers, a.threads, a.seeds_1m)
    report(a.best, [(d, int(b)) for d, b in (x.split(":") for x in a.steps_for)], a.threads,
           a.full_cost)


if __name__ == "__main__":
    main()
