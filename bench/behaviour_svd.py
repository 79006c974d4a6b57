"""The behaviour stage's truncated SVD, two solvers side by side on one PPMI matrix.

    python bench/behaviour_svd.py                                    # the map's Beauty
    python bench/behaviour_svd.py --work bench/.work/pipeline-1m     # 1M items (pipeline_scale.py)

``svds`` (float64, scipy's ARPACK on the matrix's square: the behaviour stage's former
solver) against ``eigsh`` on the symmetric PPMI matrix itself in float32 (the stage's solver,
``esans.encode.behaviour.top_eigen``), one after the other in one process on the PPMI matrix
of a prepared project's train split (any folder whose `split` stage ran). Reports each
solver's seconds and matrix products, and how far apart their results are: the smallest
cosine of the principal angles between the two 64-d subspaces, and the largest difference
between the item vectors the stage writes. Writes bench/results/behaviour-svd.json (one entry
per catalogue) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench/results/behaviour-svd.json"


def counted(m):
    """``m`` as a LinearOperator that counts its products."""
    from scipy.sparse.linalg import LinearOperator

    calls = [0]

    def mv(v):
        calls[0] += 1
        return m @ v

    return LinearOperator(m.shape, matvec=mv, rmatvec=mv, dtype=m.dtype), calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, help="a project whose split ran (default: the map's "
                    "Beauty)")
    ap.add_argument("--dim", type=int, default=64)
    a = ap.parse_args()
    if a.work is None:
        from map import prepare

        a.work = prepare("beauty")
    import polars as pl
    from scipy.sparse.linalg import svds

    from esans.encode.behaviour import embed, ppmi_matrix, top_eigen

    split = a.work / "data/split"
    train = pl.read_parquet(split / "train.parquet", columns=["user_idx", "item_idx"])
    n_users = pl.scan_parquet(split / "users.parquet").select(pl.len()).collect().item()
    n_items = pl.scan_parquet(split / "items.parquet").select(pl.len()).collect().item()
    t0 = time.perf_counter()
    ppmi, _ = ppmi_matrix(train["user_idx"].to_numpy(), train["item_idx"].to_numpy(),
                          n_users, n_items)
    build_s = time.perf_counter() - t0
    k = min(a.dim, n_items - 2)
    runs = {}
    for name in ("svds float64", "eigsh float32"):
        m = ppmi.astype(np.float64) if name.startswith("svds") else ppmi
        op, calls = counted(m)
        t0 = time.perf_counter()
        if name.startswith("svds"):
            v0 = np.random.default_rng(0).standard_normal(n_items)
            u, s, _ = svds(op, k=k, v0=v0, random_state=0)
            order = np.argsort(-s)
            s, u = s[order], u[:, order]
        else:
            s, u = top_eigen(op, k, seed=0)
        runs[name] = {"seconds": time.perf_counter() - t0, "products": calls[0], "u": u, "s": s}
        del m, op
    ref, new = runs["svds float64"], runs["eigsh float32"]
    cos = np.linalg.svd(ref["u"].T @ new["u"], compute_uv=False)
    diff = np.abs(embed(ref["u"], ref["s"]) - embed(new["u"], new["s"])).max()
    row = {"n_items": n_items, "n_users": n_users, "train_events": train.height,
           "ppmi_nonzeros": int(ppmi.nnz), "dim": k, "ppmi_build_s": round(build_s, 1),
           "solvers": {n: {"seconds": round(r["seconds"], 1), "products": r["products"]}
                       for n, r in runs.items()},
           "ratio_seconds": round(new["seconds"] / ref["seconds"], 3),
           "ratio_products": round(new["products"] / ref["products"], 3),
           "min_subspace_cosine": round(float(cos.min()), 6),
           "max_vector_difference": float(diff),
           "max_singular_value_rel_difference": float(np.max(np.abs(new["s"] - ref["s"])
                                                             / ref["s"]))}
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    results[str(a.work.resolve().relative_to(ROOT)) if a.work.resolve().is_relative_to(ROOT)
            else str(a.work)] = row
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    print(f"{n_items:,} items, {train.height:,} train events, PPMI {ppmi.nnz:,} non-zeros "
          f"(built in {build_s:.1f} s), top {k}")
    print(f"{'solver':14s} {'seconds':>8s} {'products':>9s}")
    for n, r in row["solvers"].items():
        print(f"{n:14s} {r['seconds']:8.1f} {r['products']:9d}")
    print(f"eigsh / svds: x{row['ratio_seconds']} seconds, x{row['ratio_products']} products; "
          f"subspace cosine >= {row['min_subspace_cosine']}, item vectors differ by <= "
          f"{diff:.2e}")


if __name__ == "__main__":
    main()
