"""Lazy Adam for the id tables: torch's SparseAdam vs esans' RowAdam, side by side.

    python bench/row_adam.py [--steps 30] [--threads 1]

The scale path trains item and user id embeddings with sparse gradients (`train.sparse_ids`,
on from 100k items). Each step here gives both optimisers the same sparse gradient (a batch's
touched rows, with repeats) on tables of the sizes the regime study and the 1M scale run use,
alternating which goes first, and reports the median step of each and their ratio. RowAdam's
numbers are SparseAdam's bitwise (tests/unit/test_row_adam.py); only the time differs.
Writes bench/results/row-adam.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from esans.model.row_adam import RowAdam

ROOT = Path(__file__).resolve().parents[1]
# (table rows, rows a step touches): item ids at 200k (a batch with 50-item histories and
# 8 negatives per row touches ~20k distinct items) and 1M, user ids (one per batch row)
CASES = [(200_000, 20_000), (1_000_000, 40_000), (100_000, 1_024)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dim", type=int, default=64)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    rows = []
    for n, touched in CASES:
        g = torch.Generator().manual_seed(0)
        params = {name: torch.nn.Parameter(torch.zeros(n, a.dim)) for name in ("sparse", "row")}
        opts = {"sparse": torch.optim.SparseAdam([params["sparse"]], lr=1e-3),
                "row": RowAdam([params["row"]], lr=1e-3)}
        times = {name: [] for name in opts}
        for step in range(a.steps + 3):
            idx = torch.randint(n, (touched,), generator=g)
            grad = torch.sparse_coo_tensor(idx.unsqueeze(0),
                                           torch.randn((touched, a.dim), generator=g), (n, a.dim))
            for name in (["sparse", "row"] if step % 2 else ["row", "sparse"]):
                params[name].grad = grad.clone()
                t0 = time.perf_counter()
                opts[name].step()
                if step >= 3:
                    times[name].append(time.perf_counter() - t0)
        assert torch.equal(params["sparse"], params["row"])
        med = {k: float(np.median(v)) * 1000 for k, v in times.items()}
        rows.append({"rows": n, "touched": touched, "dim": a.dim,
                     "sparse_adam_ms": round(med["sparse"], 2), "row_adam_ms": round(med["row"], 2),
                     "speedup": round(med["sparse"] / med["row"], 1)})
    out = {"steps": a.steps, "threads": a.threads, "cases": rows}
    (ROOT / "bench/results/row-adam.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"{'table rows':>10s} {'touched':>8s} {'SparseAdam ms':>14s} {'RowAdam ms':>11s} "
          f"{'speedup':>8s}")
    for r in rows:
        print(f"{r['rows']:>10,d} {r['touched']:>8,d} {r['sparse_adam_ms']:>14.2f} "
              f"{r['row_adam_ms']:>11.2f} {r['speedup']:>7.1f}x")


if __name__ == "__main__":
    main()
