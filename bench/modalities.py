"""Which modalities should MSAC cluster on? Text / image / behaviour alone vs fused.

    python bench/modalities.py [--seeds 1]

Uses the ml100k workspace prepared by bench/samplers.py (same split and encodings). For each
modality set: align + fuse, two-level MSAC, cluster quality against the MovieLens genres
(NMI and purity of level-1 clusters, against each movie's first genre), then ESANS trained on
those clusters and scored on test. Writes bench/results/modalities-ml100k.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

SETS = {"text only": ["text"], "image only": ["image"], "behaviour only": ["behaviour"],
        "text + image": ["text", "image"], "fused (text + image + behaviour)":
        ["text", "image", "behaviour"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=ROOT / "bench/.work/ml100k")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/modalities-ml100k")
    a = ap.parse_args()
    import samplers

    samplers.enter(a.work)
    import polars as pl

    from esans.cluster.msac import msac
    from esans.cluster.quality import nmi, purity
    from esans.config import load_params
    from esans.encode.fuse import align, fuse
    from esans.stages.fuse import modality_inputs

    p = load_params("params.yaml")
    feats, masks = modality_inputs()
    status = pl.read_parquet("data/encode/status.parquet")                # item ids
    labels = pl.read_parquet("data/ingest/items.parquet")["label"].fill_null("?").to_numpy()
    keep = ["data/fuse/items.npy", "data/cluster/assignments.parquet",
            "data/cluster/centroids1.npy"]
    saved = {f: Path(f).read_bytes() for f in keep}
    results = {}
    for name, mods in SETS.items():
        f = {m: feats[m] for m in mods}
        mk = {m: masks[m] for m in mods}
        if len(mods) > 1:
            proj, _ = align(f, mk, p.fuse.dim, p.fuse.epochs, p.fuse.lr, p.fuse.temperature,
                            p.seed)
            x = fuse(proj, mk, {m: 1.0 for m in mods})
        else:
            x = f[mods[0]] / np.maximum(np.linalg.norm(f[mods[0]], axis=1, keepdims=True), 1e-12)
        c = p.cluster
        cl = msac(x.astype(np.float32), c.n_l1, c.n_l2, c.min_cluster_size, c.niter, p.seed)
        np.save("data/fuse/items.npy", x.astype(np.float32))   # train reads these
        pl.DataFrame({"item_id": status["item_id"], "l1": cl.l1, "l2": cl.l2}).write_parquet(
            "data/cluster/assignments.parquet")
        np.save("data/cluster/centroids1.npy", cl.centroids1)
        runs = [samplers.run_one(a.work, {"sampler": "esans"}, s) for s in range(a.seeds)]
        results[name] = {"nmi_l1": nmi(labels, cl.l1), "purity_l1": purity(labels, cl.l1),
                         "recall@50": float(np.mean([r["recall@50"] for r in runs])),
                         "recall@50_std": float(np.std([r["recall@50"] for r in runs])),
                         "dim": int(x.shape[1])}
        print(name, results[name], flush=True)
    for f, raw in saved.items():  # restore the workspace's own fused vectors and clusters
        Path(f).write_bytes(raw)
    a.out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    lines = ["| clustered on | NMI (L1 vs genre) | purity (L1) | ESANS test Recall@50 |",
             "|---|---|---|---|"]
    lines += [f"| {n} | {r['nmi_l1']:.4f} | {r['purity_l1']:.4f} | {r['recall@50']:.4f} ± "
              f"{r['recall@50_std']:.4f} |" for n, r in results.items()]
    a.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
