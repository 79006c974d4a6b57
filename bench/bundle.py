"""Model bundle size, build, publish (promote) and verified-load time at a catalogue size.

Builds a workspace with the shapes the pipeline produces (a real TwoTower state dict, a faiss
flat index, id mappings, N events split 80/10/10, MSAC assignments) at each size, then times
the three steps a model goes through on its way to serving:

  bundle   `esans bundle`: assemble + SHA-256 manifest + atomic publish to models/bundle
  promote  `esans promote` with no champion: copy to the registry, verify, symlink swap
  load     what `esans recommend` does before answering: verify every file, load the model
           and index, answer one query

    python bench/bundle.py                       # ml100k shape and 1M items x 10M events
    python bench/bundle.py --sizes 1682:943:100000

Writes bench/results/bundle.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import psutil

ROOT = Path(__file__).resolve().parents[1]

from esans import paths, registry
from esans.bundle import assemble
from esans.io import atomic_dir
from esans.query import Server

CONTENT_DIM, DIM, HISTORY = 192, 64, 50


def workspace(root: Path, n_items: int, n_users: int, n_events: int, seed: int = 0,
              serving: str = "flat") -> None:
    """A workspace of the pipeline's shapes; ``serving="ivf"`` adds the IVF serving index the
    index stage builds with ``index.serving: ivf`` (its default nlist and nprobe)."""
    import faiss
    import torch

    from esans import ann
    from esans.config import IndexParams
    from esans.model.towers import TwoTower

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    for d in (paths.MODELS, paths.SPLIT, paths.INDEX, paths.CLUSTER, paths.INGEST):
        (root / d).mkdir(parents=True, exist_ok=True)
    model = TwoTower(torch.randn(n_items, CONTENT_DIM), n_users, DIM, HISTORY)
    torch.save(model.state_dict(), root / paths.MODELS / "model.pt")
    meta = {"n_items": n_items, "n_users": n_users, "dim": DIM, "content_dim": CONTENT_DIM,
            "history_len": HISTORY}
    (root / paths.MODELS / "meta.json").write_text(json.dumps(meta))
    with torch.inference_mode():
        vecs = model.all_items().numpy().astype(np.float32)
    np.save(root / paths.INDEX / "item_vectors.npy", vecs)
    idx = faiss.IndexFlatIP(DIM)
    idx.add(vecs)
    faiss.write_index(idx, str(root / paths.INDEX / "items.faiss"))
    if serving == "ivf":
        d = IndexParams()
        ivf = ann.build_ivf(vecs, max(1, min(d.nlist, n_items // 39)), d.nprobe, seed=seed)
        faiss.write_index(ivf, str(root / paths.INDEX / "serving.faiss"))
    item_ids = [f"i{i:07d}" for i in range(n_items)]
    user_ids = [f"u{u:07d}" for u in range(n_users)]
    pl.DataFrame({"item_idx": np.arange(n_items, dtype=np.uint32), "item_id": item_ids}) \
        .write_parquet(root / paths.SPLIT / "items.parquet")
    pl.DataFrame({"user_idx": np.arange(n_users, dtype=np.uint32), "user_id": user_ids}) \
        .write_parquet(root / paths.SPLIT / "users.parquet")
    pl.DataFrame({"item_id": item_ids, "title": [f"title {i}" for i in range(n_items)],
                  "image_path": [None] * n_items}, schema_overrides={"image_path": pl.String}) \
        .write_parquet(root / paths.INGEST_ITEMS)
    users = np.sort(rng.integers(0, n_users, n_events)).astype(np.uint32)
    events = pl.DataFrame({"user_idx": users,
                           "item_idx": rng.integers(0, n_items, n_events).astype(np.uint32)})
    events = events.with_columns(pos=pl.int_range(pl.len()).over("user_idx").cast(pl.Int64),
                                 n=pl.len().over("user_idx"))
    cut = (pl.col("pos") >= (pl.col("n") * 0.8).cast(pl.Int64))
    test = pl.col("pos") >= (pl.col("n") * 0.9).cast(pl.Int64)
    for name, rows in (("train", ~cut), ("valid", cut & ~test), ("test", test)):
        events.filter(rows).drop("n").write_parquet(root / paths.SPLIT / f"{name}.parquet")
    l1 = rng.integers(0, 64, n_items)
    pl.DataFrame({"l1": l1, "l2": l1 * 8 + rng.integers(0, 8, n_items)}).write_parquet(
        root / paths.CLUSTER / "assignments.parquet")
    np.save(root / paths.CLUSTER / "centroids1.npy", rng.normal(size=(64, CONTENT_DIM)))
    (root / paths.METRICS).write_text(json.dumps({"valid": {"recall@50": 0.1}}))
    (root / "params.yaml").write_text("seed: 42\n")


def measure(n_items: int, n_users: int, n_events: int, workdir: Path) -> dict:
    root = Path(tempfile.mkdtemp(dir=workdir))
    try:
        t = time.perf_counter()
        workspace(root, n_items, n_users, n_events)
        setup_s = time.perf_counter() - t
        t = time.perf_counter()
        with atomic_dir(root / paths.BUNDLE) as out:
            manifest = assemble(root, out)
        bundle_s = time.perf_counter() - t
        t = time.perf_counter()
        d = registry.promote(root)
        promote_s = time.perf_counter() - t
        assert d.promote
        t = time.perf_counter()
        server = Server.open(root)
        server.recommend("u0000000", 10)
        load_s = time.perf_counter() - t
        return {"items": n_items, "users": n_users, "events": n_events,
                "bundle_mb": round(sum(f["bytes"] for f in manifest["files"].values()) / 2**20,
                                   1),
                "files": len(manifest["files"]), "bundle_s": round(bundle_s, 2),
                "promote_s": round(promote_s, 2), "load_and_first_query_s": round(load_s, 2),
                "workspace_setup_s": round(setup_s, 1),
                "peak_rss_mb": round(psutil.Process().memory_info().rss / 2**20)}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="*", default=["1682:943:100000", "1000000:100000:10000000"],
                    help="items:users:events")
    ap.add_argument("--workdir", default=str(ROOT / "bench/.work"))
    ap.add_argument("--out", default=str(ROOT / "bench/results/bundle.json"))
    a = ap.parse_args()
    Path(a.workdir).mkdir(parents=True, exist_ok=True)
    rows = []
    for size in a.sizes:
        n_items, n_users, n_events = map(int, size.split(":"))
        rows.append(measure(n_items, n_users, n_events, Path(a.workdir)))
        print(json.dumps(rows[-1]), flush=True)
    cols = ["items", "events", "bundle_mb", "bundle_s", "promote_s", "load_and_first_query_s"]
    print("\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    Path(a.out).write_text(json.dumps({"rows": rows, "machine": f"{psutil.cpu_count()} cores"},
                                      indent=1) + "\n")


if __name__ == "__main__":
    main()
