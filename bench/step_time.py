"""ESANS step time vs uniform, measured side by side (alternating steps in one process).

    python bench/step_time.py [--steps 200]                       # ml100k
    python bench/step_time.py --work bench/.work/pipeline-1m --steps 60 \
        --out bench/results/step-time-1m.json                         # 1M (pipeline_scale.py)

Every arm trains on the same number of real negatives (n_negatives = 7); ESANS adds EDIS's
(m_o+2)(m_o-1)/2 = 14 virtual negatives. Arms: uniform, MSAC without EDIS and the paper's
ESANS (one draw per slot), DNS (keeps the model's top 7 of 4 x 7 uniform candidates) and the
project's ESANS (keeps the model's top of 4 MSAC candidates per slot: the same 28 scored), and
the mixed in-batch + uniform pool (B + 512 shared negatives a row, a different budget), and
the shipped default as it resolves on the catalogue (`train.sampler: auto`: the full softmax,
every item a negative, below 10,000 items; the pool from there).
Steps alternate between the arms on the same batches, so machine noise hits all alike; the
ratio of medians to uniform's is reported. Id embeddings train sparse or dense as training
would on that catalogue (``train.sparse_ids``: sparse from 100k items). ``--work``: any
project folder whose stages up to ``cluster`` ran (ml100k is prepared on first use).
Writes bench/results/step-time.json (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--work", type=Path, help="a prepared project (default: the map's ml100k)")
    ap.add_argument("--threads", type=int, help="torch threads (default: train.threads)")
    ap.add_argument("--table", type=int, default=0, metavar="N",
                    help="also DNS and ESANS scoring candidates on a stale item table refreshed "
                         "every N steps (its refresh timed apart, amortised over N)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/step-time.json")
    a = ap.parse_args()
    if a.work is None:
        from map import prepare

        a.work = prepare("ml100k")
    import torch
    from timing import alternating_step_times

    from esans.config import load_params, resolve_sampler
    from esans.trainer import uses_sparse_ids
    from esans.train_data import load_train_data

    p = load_params(a.work / "params.yaml")
    project = load_params(ROOT / "params.yaml").train   # this project's ESANS settings
    base = p.train.model_copy(update={"sampler": "esans",
                                      "candidates": project.candidates,
                                      "selection_table_every": 0,   # --table adds stale arms
                                      "threads": a.threads or p.train.threads})
    data = load_train_data(a.work, p.model_copy(update={"train": base}))
    torch.set_num_threads(base.threads)
    n, paper = base.n_negatives, {"candidates": 1}
    arms = {"uniform": base.model_copy(update={"sampler": "uniform", "edis": False,
                                               "n_negatives": n}),
            "msac (no EDIS)": base.model_copy(update={"sampler": "msac", "edis": False,
                                                      **paper}),
            "esans (paper)": base.model_copy(update=paper),
            "dns": base.model_copy(update={"sampler": "dns", "n_negatives": n,
                                           "candidates": 4}),
            # the industry reference: B in-batch + mns_uniform shared negatives a row
            "mixed": base.model_copy(update={"sampler": "mixed", "edis": False}),
            "esans": base}
    # the shipped default (`train.sampler: auto`) as it resolves on this catalogue: the full
    # softmax below 10,000 items, the pool from there (already an arm above)
    default = resolve_sampler(project, data.n_items)[0].sampler
    if default not in arms:
        arms[default] = base.model_copy(update={"sampler": default, "edis": False})
    if a.table:
        arms |= {f"{n}, stale table": arms[n].model_copy(update={"selection_table_every": a.table})
                 for n in ("dns", "esans")}
    timed = alternating_step_times(arms, data, a.steps, warmup=10)
    times = {n: t["step_s"] for n, t in timed.items()}
    sample = {n: t["sample_s"] for n, t in timed.items()}
    refresh = {n: float(np.mean(t["refresh_s"])) for n, t in timed.items() if t["refresh_s"]}
    # a stale table's refreshes, amortised over the steps between them
    med = {n: (float(np.median(t)) + refresh.get(n, 0.0) / max(a.table, 1)) * 1000
           for n, t in times.items()}
    result = {"work": str(a.work.resolve().relative_to(ROOT)) if a.work.resolve().is_relative_to(
                  ROOT) else str(a.work), "n_items": data.n_items,
              "sparse_ids": uses_sparse_ids(base, data.n_items), "steps": a.steps,
              "threads": base.threads, "batch_size": base.batch_size,
              "table_every": a.table or None, "table_refresh_s": refresh,
              "real_negatives": 7, "virtual_negatives": (base.m_o + 2) * (base.m_o - 1) // 2,
              "median_step_ms": med,
              "median_sample_ms": {n: float(np.median(t)) * 1000 for n, t in sample.items()},
              "candidates_per_slot": base.candidates,
              "ratio_to_uniform": {n: med[n] / med["uniform"] for n in med},
              "default": default, "ratio_default_to_uniform": med[default] / med["uniform"],
              "ratio_esans_to_uniform": med["esans"] / med["uniform"],
              "ratio_esans_paper_to_uniform": med["esans (paper)"] / med["uniform"],
              "ratio_msac_to_uniform": med["msac (no EDIS)"] / med["uniform"]}
    a.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
