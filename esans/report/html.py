"""A self-contained HTML report: every plot and poster is inlined as a PNG data URI.

Sections: metrics (and the sampler map when it is published), Recall/NDCG@K curves, training
curves, MSAC cluster sizes, a 2-D projection of the item vectors coloured by level-1 cluster,
a negatives gallery (for a few items: poster and title beside the hard and easy negatives MSAC
draws), data validation, per-stage reports and lineage.

Each section function returns data; ``templates/report.html.j2`` (jinja2, autoescaped: item
titles, params and stage reports are user data) lays it out.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from jinja2 import Environment, FileSystemLoader, StrictUndefined  # noqa: E402

from esans import paths  # noqa: E402
from esans.io import atomic_path  # noqa: E402

TEMPLATES = Path(__file__).parent / "templates"


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _thumb(path: str | None, size: int = 96) -> str | None:
    if not path or not Path(path).is_file():
        return None
    from esans.encode.image import load_image

    img, status = load_image(path, 40_000_000)
    if img is None:
        return None
    img.thumbnail((size, size))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def metrics_section(metrics: dict, sampler_choice: str | None = None) -> dict:
    ks = sorted(int(k.split("@")[1]) for k in metrics["test"] if k.startswith("recall@"))
    rows = [{"name": split, "cells": [{"key": f"{split}.{m}@{k}",
                                       "value": metrics[split][f"{m}@{k}"]}
                                      for m in ("recall", "ndcg") for k in ks]}
            for split in ("test", "valid")]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for m in ("recall", "ndcg"):
        ax.plot(ks, [metrics["test"][f"{m}@{k}"] for k in ks], marker="o", label=f"test {m}@K")
    ax.set_xlabel("K")
    ax.legend()
    ax.grid(alpha=0.3)
    return {"source": metrics.get("source"), "sampler": metrics.get("sampler"),
            "sampler_choice": sampler_choice,
            "n_users": metrics["test"].get("n_users"), "ks": ks, "rows": rows,
            "plot": _png(fig)}


MAP = Path("bench/results/map.json")   # the sampler map (bench/map.py): a declared dep


def benchmark_section(root: Path) -> dict | None:
    """The sampler map's table, one row per (catalogue, budget, config), if it was
    published: which sampler for which catalogue, tuned alike, with the paired test."""
    f = root / MAP
    if not f.exists():
        return None
    rows = [("catalogue", "items", "config", "lr", "temp.", "test recall@50", "seeds",
             "x best", "paired p")]
    for r in json.loads(f.read_text()):
        rc = r["recall@50"]
        sd = f" ± {rc['sd']:.4f}" if rc.get("sd") is not None else ""
        p = r.get("p_vs_best")
        rows.append((r["catalogue"], f"{r['n_items']:,}" if r.get("n_items") else "",
                     r["config"] + (" (default)" if r.get("is_default") else ""),
                     r["tuned"]["lr"], r["tuned"]["temperature"], f"{rc['mean']:.4f}{sd}",
                     len(r["seeds"]), f"x{r['lift_vs_best']:.3f}",
                     "best" if p is None else f"{p:.3f}"))
    return {"source": str(MAP), "rows": rows}


def training_section(reports: Path) -> str | None:
    f = reports / "train_history.csv"
    if not f.exists():
        return None
    h = pl.read_csv(f)
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    ax[0].plot(h["epoch"], h["loss"], marker=".")
    ax[0].set_title("train loss")
    ax[1].plot(h["epoch"], h["valid_recall@50"], marker=".", color="C1")
    ax[1].set_title("valid Recall@50")
    for a in ax:
        a.set_xlabel("epoch")
        a.grid(alpha=0.3)
    return _png(fig)


def cluster_section(assign: pl.DataFrame, vectors: np.ndarray | None) -> dict:
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    ax[0].hist(assign.group_by("l1").len()["len"], bins=30)
    ax[0].set_title("level-1 cluster sizes")
    ax[1].hist(assign.group_by("l2").len()["len"], bins=30, color="C2")
    ax[1].set_title("level-2 cluster sizes")
    out = {"sizes": _png(fig), "projection": None}
    if vectors is not None and len(vectors) > 2:
        x = vectors - vectors.mean(0)
        _, _, vt = np.linalg.svd(x[:5000], full_matrices=False)
        xy = x @ vt[:2].T
        fig, ax = plt.subplots(figsize=(6, 5))
        ax.scatter(xy[:, 0], xy[:, 1], c=assign["l1"].to_numpy(), cmap="tab20", s=6)
        ax.set_title("fused item vectors (PCA), coloured by level-1 cluster")
        out["projection"] = _png(fig)
    return out


def gallery_section(assign: pl.DataFrame, items: pl.DataFrame, n_items: int = 4,
                    seed: int = 0, n_hard: int = 3, n_easy: int = 3) -> dict:
    """For a few items: poster + title, then the hard and easy negatives MSAC draws."""
    import torch

    from esans.sampling.msac import MSACSampler

    l1, l2 = assign["l1"].to_numpy(), assign["l2"].to_numpy()
    cents = np.load(paths.CLUSTER / "centroids1.npy")
    sampler = MSACSampler(l1, l2, cents, m_c=n_hard, m_o=n_easy, temperature=1.0)
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(items), min(n_items, len(items)), replace=False)
    neg = sampler.sample(torch.zeros(len(picks), dtype=torch.long),
                         torch.from_numpy(picks), torch.Generator().manual_seed(seed)).ids
    titles, img_paths = items["title"].to_list(), items["image_path"].to_list()

    def card(j: int, kind: str) -> dict:
        return {"kind": kind, "title": titles[j], "thumb": _thumb(img_paths[j]),
                "l1": int(l1[j]), "l2": int(l2[j])}

    rows = [[card(int(i), "positive")] + [card(int(j), "hard") for j in neg[r, :n_hard]]
            + [card(int(j), "easy") for j in neg[r, n_hard:]] for r, i in enumerate(picks)]
    return {"n_hard": n_hard, "n_easy": n_easy, "rows": rows}


def validation_section(reports: Path) -> dict | None:
    f = reports / "validate.json"
    if not f.exists():
        return None
    v = json.loads(f.read_text())
    rows = [(f"{r['table']}: {r['expectation']} {r['kwargs'].get('column', '')}",
             ("ok" if r["success"] else r["severity"].upper())
             + (f" ({r['unexpected_count']} unexpected)" if r.get("unexpected_count") else ""))
            for r in v.get("results", [])]
    return {"n_expectations": v.get("n_expectations"), "n_errors": v.get("n_errors"),
            "n_warnings": v.get("n_warnings"), "rows": rows,
            "data_docs": (reports / "data_docs/index.html").exists()}


def stage_sections(reports: Path) -> list[dict]:
    out = []
    for stage in ("ingest", "split", "encode", "cluster", "train"):
        f = reports / f"{stage}.json"
        if f.exists():
            d = json.loads(f.read_text())
            out.append({"name": stage, "rows": [
                (k, json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in d.items()]})
    return out


def lineage_section(params: dict) -> list[tuple[str, object]]:
    """What this model was built from: the raw inputs' fingerprint (the source stage's
    output) and the params the run used."""
    rows: list[tuple[str, object]] = []
    if paths.SOURCE.exists():
        src = json.loads(paths.SOURCE.read_text())
        rows.append(("data source", src.get("source")))
        for name, entry in src.get("inputs", {}).items():
            rows.append((f"input {name}", f"md5 {entry['md5']}, {entry['size']} bytes"))
    import yaml

    rows.append(("params", yaml.safe_dump(params, sort_keys=False)))
    return rows


STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
         "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;"
         "padding:3px 8px;text-align:left;vertical-align:top;white-space:pre-wrap}"
         "img.plot{max-width:100%}.row{display:flex;gap:8px;margin:8px 0}"
         ".card{width:120px;font-size:12px;border:1px solid #ddd;padding:4px}"
         ".card.positive{border:2px solid #2a7}.card.hard{background:#fee}"
         ".card.easy{background:#eef}.noimg{width:96px;height:96px;background:#eee}")


def render(sections: dict) -> str:
    """The page from its sections' data (``report.html.j2``; every value is autoescaped)."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                      undefined=StrictUndefined, keep_trailing_newline=True)
    return env.get_template("report.html.j2").render(style=STYLE, **sections)


def build(reports: Path, metrics_path: Path, params: dict, root: Path = Path(".")) -> Path:
    """Write ``reports/index.html`` from the declared inputs of the report stage only."""
    metrics = json.loads(metrics_path.read_text())
    train = reports / "train.json"
    choice = json.loads(train.read_text()).get("sampler_choice") if train.exists() else None
    sections = {"metrics": metrics_section(metrics, choice),
                "bench": benchmark_section(root),
                "training": training_section(reports), "clusters": None, "gallery": None,
                "validation": validation_section(reports), "stages": stage_sections(reports),
                "lineage": lineage_section(params)}
    assign_path = paths.CLUSTER / "assignments.parquet"
    if assign_path.exists():
        assign = pl.read_parquet(assign_path)
        fused = paths.FUSE / "items.npy"
        sections["clusters"] = cluster_section(assign, np.load(fused) if fused.exists() else None)
        if paths.INGEST_ITEMS.exists():
            sections["gallery"] = gallery_section(assign, pl.read_parquet(paths.INGEST_ITEMS))
    out = reports / "index.html"
    with atomic_path(out) as tmp:
        tmp.write_text(render(sections), encoding="utf-8")
    return out
