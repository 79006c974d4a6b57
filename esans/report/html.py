"""A self-contained HTML report (plots inlined as PNG) from the stage reports and metrics."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402

from esans.io import atomic_path  # noqa: E402


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def _table(rows: list[tuple[str, object]]) -> str:
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in rows)
    return f"<table>{body}</table>"


def build(reports: Path, metrics_path: Path) -> Path:
    metrics = json.loads(metrics_path.read_text())
    parts = ["<h1>esans report</h1>",
             f"<p>source: <b>{html.escape(str(metrics.get('source')))}</b>, sampler: "
             f"<b>{html.escape(str(metrics.get('sampler')))}</b></p>"]
    ks = sorted(int(k.split("@")[1]) for k in metrics["test"] if k.startswith("recall@"))
    rows = [(f"{split} {m}@{k}", f"{metrics[split][f'{m}@{k}']:.4f}")
            for split in ("test", "valid") for m in ("recall", "ndcg") for k in ks]
    parts += ["<h2>Metrics</h2>", _table(rows)]

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for m in ("recall", "ndcg"):
        ax.plot(ks, [metrics["test"][f"{m}@{k}"] for k in ks], marker="o", label=f"test {m}@K")
    ax.set_xlabel("K")
    ax.legend()
    ax.grid(alpha=0.3)
    parts.append(_img(_png(fig), "recall and ndcg at K"))

    hist_csv = reports / "train_history.csv"
    if hist_csv.exists():
        h = pl.read_csv(hist_csv)
        fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
        ax[0].plot(h["epoch"], h["loss"], marker=".")
        ax[0].set_title("train loss")
        ax[1].plot(h["epoch"], h["valid_recall@50"], marker=".", color="C1")
        ax[1].set_title("valid recall@50")
        for a in ax:
            a.set_xlabel("epoch")
            a.grid(alpha=0.3)
        parts += ["<h2>Training</h2>", _img(_png(fig), "training curves")]

    assign = Path("data/cluster/assignments.parquet")
    if assign.exists():
        a = pl.read_parquet(assign)
        fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
        ax[0].hist(a.group_by("l1").len()["len"], bins=30)
        ax[0].set_title("level-1 cluster sizes")
        ax[1].hist(a.group_by("l2").len()["len"], bins=30, color="C2")
        ax[1].set_title("level-2 cluster sizes")
        parts += ["<h2>MSAC clusters</h2>", _img(_png(fig), "cluster sizes")]

    for stage in ("ingest", "validate", "split", "encode", "cluster", "train"):
        f = reports / f"{stage}.json"
        if f.exists():
            d = json.loads(f.read_text())
            d.pop("results", None)
            flat = [(k, json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in d.items()]
            parts += [f"<h2>Stage: {stage}</h2>", _table(flat)]

    style = ("body{font-family:sans-serif;max-width:980px;margin:2em auto}"
             "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;"
             "padding:3px 8px;text-align:left}img{max-width:100%}")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>esans report</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")
    out = reports / "index.html"
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out
