"""What drawing negatives costs a training step, per sampler, side by side in one process.

The step-time ratios (bench/regime.py, bench/step_time.py) time whole training steps, whose
run-to-run noise (a few percent of a ~100 ms step at 200k items) hides a 1-2 ms change in how
negatives are drawn. This times the drawing alone, alternating the arms on the same batches:

    python bench/draw_cost.py [--sizes 200k 1m] [--reps 200] [--threads 1]

A catalogue of each size shaped like the regime study's (~10 train events per item, 2 items per
user, Zipf-like popularity a^-0.9; n_items / 2,000 level-1 clusters of 8 level-2 each), 1,024
rows a batch. Arms: ``sample`` of uniform at 8 slots (budget 8) and at 32 (DNS's candidates),
MSAC as in the paper (2 hard + 6 easy) and the project's (4 candidates a slot: 32), each with
the user's train items redrawn; and EDIS's virtual negatives from 6 sources (``mix_scores``: 20
a row). Prints the medians (ms a batch) and writes bench/results/draw-cost.json.
"""

from __future__ import annotations

import json
import time

import numpy as np

from seen_lookup import SIZES, bench_args  # the same catalogue shapes (items, users, events)

BATCH = 1024


def arms(n_items: int, n_users: int, n_events: int, rng: np.random.Generator) -> dict:
    """One synthetic catalogue's train events (users, items) and its samplers by name (arms),
    all sharing one train-item table."""
    from esans.sampling.base import SeenItems
    from esans.sampling.msac import MSACSampler
    from esans.sampling.uniform import UniformSampler

    pop = np.arange(1, n_items + 1, dtype=np.float64) ** -0.9
    users = rng.integers(0, n_users, n_events)
    items = rng.choice(n_items, n_events, p=pop / pop.sum())
    seen = SeenItems(users, items, n_items)
    k1 = max(2, n_items // 2000)
    l1 = rng.integers(0, k1, n_items)
    l2 = l1 * 8 + rng.integers(0, 8, n_items)
    cents = rng.normal(size=(k1, 64)).astype(np.float32)
    return {"users": users, "items": items, "arms": {
        "uniform-8": UniformSampler(n_items, 8, seen),
        "uniform-32": UniformSampler(n_items, 32, seen),
        "msac-paper-8": MSACSampler(l1, l2, cents, 2, 6, seen=seen),
        "msac-project-32": MSACSampler(l1, l2, cents, 2, 6, seen=seen, hard_candidates=4,
                                       easy_candidates=4)}}


def main() -> None:
    a = bench_args("draw-cost.json")
    import torch

    from esans.sampling import edis

    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(0)
    out: dict = {"threads": a.threads, "reps": a.reps, "batch": BATCH, "rows": []}
    for size in a.sizes:
        cat = arms(*SIZES[size], rng)
        gen = torch.Generator().manual_seed(0)
        score = torch.randn(BATCH, 6, requires_grad=True)
        log_q = torch.randn(BATCH, 6)
        calls = {name: (lambda s: lambda u, p: s.sample(u, p, gen))(s)
                 for name, s in cat["arms"].items()}
        calls["edis-6-sources"] = lambda u, p: edis.mix_scores(score, log_q, 0.1, gen)
        t: dict[str, list[float]] = {n: [] for n in calls}
        order = list(calls)
        for r in range(a.reps + 5):
            pick = torch.from_numpy(rng.integers(0, len(cat["users"]), BATCH))
            u = torch.from_numpy(cat["users"])[pick]
            p = torch.from_numpy(cat["items"])[pick]
            for name in (order if r % 2 == 0 else order[::-1]):
                t0 = time.perf_counter()
                calls[name](u, p)
                if r >= 5:
                    t[name].append(time.perf_counter() - t0)
        med = {n: 1000 * float(np.median(v)) for n, v in t.items()}
        out["rows"].append({"size": size, **{f"{n}_ms": v for n, v in med.items()}})
    names = [k.removesuffix("_ms") for k in out["rows"][0] if k.endswith("_ms")]
    print("| size | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for row in out["rows"]:
        print(f"| {row['size']} | " + " | ".join(f"{row[n + '_ms']:.2f}" for n in names) + " |")
    a.out.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
