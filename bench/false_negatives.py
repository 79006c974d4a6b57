"""Could a sharper false-negative mask help? Who a user's held-out items are, next to a random item.

    python bench/false_negatives.py [--datasets ml100k 20k 200k] [--pairs 200000]

A hypothesis: mask more than the positive's own level-2 cluster, e.g. the items
nearest to the positive. A mask pays only if it removes false negatives (the user's own
held-out items, drawn as negatives) at a higher rate than true negatives. For pairs (a train
positive of user u, an item j) this measures, for j one of u's held-out (valid/test) items
and for j uniform over the catalogue, how often each candidate mask rule fires: the same
level-1 / level-2 MSAC cluster, fused-content cosine >= t. Its *lift* (held-out rate /
random rate) is the factor by which masking enriches false negatives: with a base FN rate f
of sampled negatives, the masked ones are false negatives at about f x lift; 1 means the
rule masks false negatives no more often than any other item (it only shrinks the budget).
Reads the regime study's prepared catalogues (bench/.work/regime, built on first use);
writes bench/results/false-negatives.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
THRESHOLDS = (0.3, 0.5, 0.7, 0.9)


def pairs(z: dict, n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """(positive, held-out item of the same user, uniform item): ``n`` train events drawn
    uniformly among those whose user has held-out items, each with one of them at random."""
    hu = np.concatenate([z["valid_users"], z["test_users"]])
    hi = np.concatenate([z["valid_items"], z["test_items"]])
    order = np.argsort(hu, kind="stable")
    hu, hi = hu[order], hi[order]
    users, start, count = np.unique(hu, return_index=True, return_counts=True)
    tu, ti = z["train_users"], z["train_items"]
    ok = np.isin(tu, users)
    ev = rng.choice(np.flatnonzero(ok), n)
    k = np.searchsorted(users, tu[ev])
    held = hi[start[k] + (rng.random(n) * count[k]).astype(np.int64)]
    return ti[ev], held, rng.integers(0, int(z["n_items"]), n)


def rules(z: dict, unit: np.ndarray, pos: np.ndarray, other: np.ndarray
          ) -> dict[str, np.ndarray]:
    """Which mask rules fire on each pair; ``unit``: the item content, unit rows."""
    cos = np.einsum("nd,nd->n", unit[pos], unit[other])
    l1, l2 = z["l1"], z["l2"]
    out = {"same level-1": l1[pos] == l1[other],
           "same level-2 (masked today)": l2[pos] == l2[other],
           "same level-1, other level-2 (MSAC hard pool)":
               (l1[pos] == l1[other]) & (l2[pos] != l2[other])}
    for t in THRESHOLDS:
        out[f"cosine >= {t}"] = cos >= t
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=["ml100k", "20k", "200k"])
    ap.add_argument("--pairs", type=int, default=200_000)
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/false-negatives.json")
    a = ap.parse_args()
    import regime

    rows = []
    for ds in a.datasets:
        z = dict(np.load(regime.prepare(ds)))
        pos, held, rand = pairs(z, a.pairs, np.random.default_rng(0))
        unit = z["content"].astype(np.float32)
        unit /= np.linalg.norm(unit, axis=1, keepdims=True) + 1e-12
        h, r = rules(z, unit, pos, held), rules(z, unit, pos, rand)
        for name in h:
            hr, rr = float(h[name].mean()), float(r[name].mean())
            rows.append({"dataset": ds, "rule": name, "held_out_rate": hr, "random_rate": rr,
                         "lift": hr / rr if rr > 0 else None})
    print("| dataset | mask rule | held-out items it fires on | random items | lift |")
    print("|---|---|---|---|---|")
    for x in rows:
        lift = f"{x['lift']:.1f}" if x["lift"] is not None else "-"
        print(f"| {x['dataset']} | {x['rule']} | {x['held_out_rate']:.4f} | "
              f"{x['random_rate']:.5f} | {lift} |")
    a.out.write_text(json.dumps({"pairs": a.pairs, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
