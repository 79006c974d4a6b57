"""Which modalities, with which fusion weights, should MSAC cluster on?

    python bench/modalities.py [--seeds 3]

Uses the ml100k workspace prepared by bench/samplers.py (same split and encodings). For each
candidate (one modality alone, or several aligned and fused with the weights in ``SETS``):
align + fuse, two-level MSAC, cluster quality against the MovieLens genres (NMI and purity of
level-1 clusters, against each movie's first genre), then ESANS trained on those clusters.
The candidate is *selected on validation* Recall@50 (mean over seeds; the split's validation
events, never test) and every candidate's test Recall@50 is reported beside it, so the choice
can be checked for leakage. Finished (candidate, seed) runs are kept in the workspace, so an
interrupted study resumes. Writes bench/results/modalities-ml100k.{json,md}.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# candidate -> fusion weights (one modality: its own normalised vectors, no alignment).
# Fusion normalises each block, so weights matter only up to a common scale
# (1/0.5/2 and 0.5/0.25/1 gave identical clusters and metrics).
SETS: dict[str, dict[str, float]] = {
    "text only": {"text": 1.0},
    "image only": {"image": 1.0},
    "behaviour only": {"behaviour": 1.0},
    "text + image": {"text": 1.0, "image": 1.0},
    "fused 1/1/1 (text/image/behaviour)": {"text": 1.0, "image": 1.0, "behaviour": 1.0},
    "fused 1/0.5/2": {"text": 1.0, "image": 0.5, "behaviour": 2.0},
    "fused 1/0/1 (text + behaviour)": {"text": 1.0, "behaviour": 1.0},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=ROOT / "bench/.work/ml100k")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/modalities-ml100k")
    a = ap.parse_args()
    import samplers

    samplers.enter(a.work)
    import polars as pl

    from esans.cluster.msac import msac
    from esans.cluster.quality import nmi, purity
    from esans.config import load_params
    from esans.encode.fuse import align, fuse, modality_inputs

    w = a.work
    p = load_params(w / "params.yaml")
    feats, masks = modality_inputs(w)
    status = pl.read_parquet(w / "data/encode/status.parquet")                # item ids
    labels = pl.read_parquet(w / "data/ingest/items.parquet")["label"].fill_null("?").to_numpy()
    keep = [w / "data/fuse/items.npy", w / "data/cluster/assignments.parquet",
            w / "data/cluster/centroids1.npy"]
    saved = {f: f.read_bytes() for f in keep}
    results = {}
    done_file = a.work / "modalities-runs.jsonl"
    done: dict[tuple[str, int], dict] = {}
    if done_file.exists():
        for line in done_file.read_text().splitlines():
            r = json.loads(line)
            done[(r["candidate"], r["seed"])] = r
    for name, weights in SETS.items():
        mods = list(weights)
        f = {m: feats[m] for m in mods}
        mk = {m: masks[m] for m in mods}
        if len(mods) > 1:
            proj, _ = align(f, mk, p.fuse.dim, p.fuse.epochs, p.fuse.lr, p.fuse.temperature,
                            p.seed)
            x = fuse(proj, mk, weights)
        else:
            x = f[mods[0]] / np.maximum(np.linalg.norm(f[mods[0]], axis=1, keepdims=True), 1e-12)
        c = p.cluster
        cl = msac(x.astype(np.float32), c.n_l1, c.n_l2, c.min_cluster_size, c.niter, p.seed)
        np.save(w / "data/fuse/items.npy", x.astype(np.float32))   # train reads these
        pl.DataFrame({"item_id": status["item_id"], "l1": cl.l1, "l2": cl.l2}).write_parquet(
            w / "data/cluster/assignments.parquet")
        np.save(w / "data/cluster/centroids1.npy", cl.centroids1)
        runs = []
        for s in range(a.seeds):
            if (name, s) not in done:
                r = {"candidate": name, **samplers.run_one(a.work, {"sampler": "esans"}, s)}
                with open(done_file, "a") as fh:
                    fh.write(json.dumps(r) + "\n")
                done[(name, s)] = r
            runs.append(done[(name, s)])
        results[name] = {"weights": weights, "nmi_l1": nmi(labels, cl.l1),
                         "purity_l1": purity(labels, cl.l1), "dim": int(x.shape[1]),
                         "seeds": a.seeds, **{f"{k}{suf}": float(fn([r[k] for r in runs]))
                                              for k in ("valid_recall@50", "recall@50")
                                              for suf, fn in (("", np.mean), ("_std", np.std))}}
        print(name, results[name], flush=True)
    for f, raw in saved.items():  # restore the workspace's own fused vectors and clusters
        f.write_bytes(raw)
    best = max(results, key=lambda n: results[n]["valid_recall@50"])
    a.out.with_suffix(".json").write_text(json.dumps(
        {"seeds": a.seeds, "selected_on_validation": best, "candidates": results}, indent=1))
    lines = [f"ESANS on ml100k-multimodal, mean ± std over {a.seeds} seed(s). Selected on "
             f"validation Recall@50: **{best}**.", "",
             "| clustered on | NMI (L1 vs genre) | purity (L1) | valid Recall@50 | "
             "test Recall@50 |", "|---|---|---|---|---|"]
    lines += [f"| {n}{' (selected)' if n == best else ''} | {r['nmi_l1']:.4f} | "
              f"{r['purity_l1']:.4f} | {r['valid_recall@50']:.4f} ± "
              f"{r['valid_recall@50_std']:.4f} | {r['recall@50']:.4f} ± "
              f"{r['recall@50_std']:.4f} |" for n, r in results.items()]
    a.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
