"""Train-pair lookup of sampled negatives: with and without its bit filter, side by side.

Every sampled negative is looked up in its user's train items (``SeenItems.contains``); the
two lookups run alternately in one process.

    python bench/seen_lookup.py [--sizes 200k 1m] [--reps 200] [--threads 1]

A catalogue of each size with ~10 train events per item and 2 items per user (the regime
study's shape), item popularity Zipf-like (a^-0.9); queries: 1,024 rows of a batch's users x
m uniform item draws (8: a budget-8 sampler; 32: the project's ESANS / DNS, 4 candidates a
slot), a true pair in each row's first column. The two lookups alternate on the same queries
(their answers must agree), the medians and their ratio are printed and written to
bench/results/seen-lookup.json.

A third query is the mixed sampler's shared pool: one row of 1,536 items (the batch's 1,024
positives + 512 uniform draws) for every one of the 1,024 users. There a third arm answers the
expanded view from the users' own train items (``shared row``, what training does since
7792250) beside the two per-pair lookups of the same pairs materialised. Speed-up: the plain
binary search's median over the filter's, or over the shared row's where there is one.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"20k": (20_000, 10_000, 200_000), "200k": (200_000, 100_000, 2_000_000),
         "1m": (1_000_000, 500_000, 10_000_000)}
POOL = 1536  # the mixed pool: a batch's 1,024 positives + 512 uniform items, one shared row


def bench_args(out_name: str) -> argparse.Namespace:
    """The options of this and bench/draw_cost.py: sizes, repetitions, threads, the JSON."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", default=["200k", "1m"], choices=list(SIZES))
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results" / out_name)
    return ap.parse_args()


def main() -> None:
    a = bench_args("seen-lookup.json")
    import torch

    from esans.sampling.base import SeenItems

    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(0)
    out: dict = {"threads": a.threads, "reps": a.reps, "batch": 1024}
    rows = []
    for size in a.sizes:
        n_items, n_users, n_events = SIZES[size]
        pop = np.arange(1, n_items + 1, dtype=np.float64) ** -0.9
        users = rng.integers(0, n_users, n_events)
        items = rng.choice(n_items, n_events, p=pop / pop.sum())
        t0 = time.perf_counter()
        filtered = SeenItems(users, items, n_items, max_dense=0)
        build_s = time.perf_counter() - t0
        plain = SeenItems(users, items, n_items, max_dense=0, bits_per_key=0)
        for m in (8, 32, POOL):
            pick = rng.integers(0, n_events, 1024)
            qu = torch.from_numpy(users[pick])
            if m == POOL:  # the batch's positives + 512 uniform items, shared by every row
                row = np.concatenate([items[pick], rng.integers(0, n_items, POOL - 1024)])
                view = torch.from_numpy(row).unsqueeze(0).expand(1024, -1)
                qi = view.contiguous()
                shared = [("shared_row", filtered, view)]
            else:
                qi = torch.from_numpy(rng.integers(0, n_items, (1024, m)))
                qi[:, 0] = torch.from_numpy(items[pick])
                shared = []
            arms = [("searchsorted", plain, qi), ("filter", filtered, qi), *shared]
            want = plain.contains(qu, qi)
            for _, s, q in arms:
                assert torch.equal(s.contains(qu, q), want)
            t = {name: [] for name, _, _ in arms}
            for r in range(a.reps):
                for name, s, q in (arms if r % 2 == 0 else arms[::-1]):
                    t0 = time.perf_counter()
                    s.contains(qu, q)
                    t[name].append(time.perf_counter() - t0)
            med = {k: 1000 * float(np.median(v)) for k, v in t.items()}
            rows.append({"size": size, "m": m, "keys": len(filtered.keys),
                         "filter_mb": filtered.bits.numel() * 8 / 2 ** 20,
                         "filter_build_s": build_s, "searchsorted_ms": med["searchsorted"],
                         "filter_ms": med["filter"], "shared_row_ms": med.get("shared_row"),
                         "speedup": med["searchsorted"] / med.get("shared_row", med["filter"])})
    out["rows"] = rows
    print("| size | m | keys | filter MB | searchsorted ms | filter ms | shared row ms | "
          "speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        shared = "-" if r["shared_row_ms"] is None else f"{r['shared_row_ms']:.3f}"
        print(f"| {r['size']} | {r['m']} | {r['keys']:,} | {r['filter_mb']:.1f} | "
              f"{r['searchsorted_ms']:.3f} | {r['filter_ms']:.3f} | {shared} | "
              f"{r['speedup']:.2f} |")
    a.out.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
