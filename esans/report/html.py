"""A self-contained HTML report: every plot and poster is inlined as a PNG data URI.

Sections: metrics (and the sampler benchmark when it ran), Recall/NDCG@K curves, training
curves, MSAC cluster sizes, a 2-D projection of the item vectors coloured by level-1 cluster,
a negatives gallery (for a few items: poster and title beside the hard and easy negatives MSAC
draws), data validation, per-stage reports and lineage.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from esans import paths  # noqa: E402
from esans.io import atomic_path  # noqa: E402

esc = html.escape


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _img(b64: str, alt: str, cls: str = "plot") -> str:
    return f'<img class="{cls}" alt="{esc(alt)}" src="data:image/png;base64,{b64}">'


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


def _table(rows: list[tuple[str, object]], table_id: str = "") -> str:
    body = "".join(f"<tr><th>{esc(str(k))}</th><td>{esc(str(v))}</td></tr>" for k, v in rows)
    return f'<table id="{table_id}">{body}</table>' if table_id else f"<table>{body}</table>"


def metrics_section(metrics: dict) -> list[str]:
    ks = sorted(int(k.split("@")[1]) for k in metrics["test"] if k.startswith("recall@"))
    head = "".join(f"<th>Recall@{k}</th>" for k in ks) + "".join(f"<th>NDCG@{k}</th>" for k in ks)
    rows = []
    for split in ("test", "valid"):
        cells = "".join(
            f'<td data-key="{split}.{m}@{k}" data-value="{metrics[split][f"{m}@{k}"]}">'
            f'{metrics[split][f"{m}@{k}"]:.4f}</td>' for m in ("recall", "ndcg") for k in ks)
        rows.append(f"<tr><th>{split}</th>{cells}</tr>")
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for m in ("recall", "ndcg"):
        ax.plot(ks, [metrics["test"][f"{m}@{k}"] for k in ks], marker="o", label=f"test {m}@K")
    ax.set_xlabel("K")
    ax.legend()
    ax.grid(alpha=0.3)
    return ["<h2>Metrics</h2>",
            f"<p>source <b>{esc(str(metrics.get('source')))}</b>, sampler "
            f"<b>{esc(str(metrics.get('sampler')))}</b>; full-catalogue ranking, seen items "
            f"masked, {metrics['test'].get('n_users')} test users</p>",
            f'<table id="metrics"><tr><th></th>{head}</tr>{"".join(rows)}</table>',
            _img(_png(fig), "Recall@K and NDCG@K")]


BENCH = Path("bench/results/samplers-ml100k")   # the sampler benchmark (.json, .png): deps


def benchmark_section(root: Path) -> list[str]:
    """The sampler benchmark's summary table (parsed from its JSON) and plot, if it ran."""
    f = root / BENCH.with_suffix(".json")
    if not f.exists():
        return []
    b = json.loads(f.read_text())
    ks = ["recall@20", "recall@50", "recall@100", "recall@200", "ndcg@50"]
    rows = [("sampler", *ks)]
    for name, s in b.get("summary", {}).items():
        rows.append((name, *(f"{s[k]['mean']:.4f} ± {s[k]['std']:.4f}" for k in ks)))
    if b.get("ease"):
        rows.append(("EASE (reference)", *(f"{b['ease'][k]:.4f}" for k in ks)))
    body = "".join("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in r) + "</tr>"
                   for r in rows)
    out = [f"<h2>Sampler benchmark ({esc(str(b.get('dataset', '')))}, "
           f"{esc(str(b.get('seeds', '')))} seeds)</h2>", f"<table>{body}</table>"]
    png = root / BENCH.with_suffix(".png")
    if png.exists():
        out.append(_img(base64.b64encode(png.read_bytes()).decode(), "sampler benchmark"))
    return out


def training_section(reports: Path) -> list[str]:
    f = reports / "train_history.csv"
    if not f.exists():
        return []
    h = pl.read_csv(f)
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    ax[0].plot(h["epoch"], h["loss"], marker=".")
    ax[0].set_title("train loss")
    ax[1].plot(h["epoch"], h["valid_recall@50"], marker=".", color="C1")
    ax[1].set_title("valid Recall@50")
    for a in ax:
        a.set_xlabel("epoch")
        a.grid(alpha=0.3)
    return ["<h2>Training</h2>", _img(_png(fig), "training curves")]


def cluster_section(assign: pl.DataFrame, vectors: np.ndarray | None) -> list[str]:
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    ax[0].hist(assign.group_by("l1").len()["len"], bins=30)
    ax[0].set_title("level-1 cluster sizes")
    ax[1].hist(assign.group_by("l2").len()["len"], bins=30, color="C2")
    ax[1].set_title("level-2 cluster sizes")
    out = ["<h2>MSAC clusters</h2>", _img(_png(fig), "cluster sizes")]
    if vectors is not None and len(vectors) > 2:
        x = vectors - vectors.mean(0)
        _, _, vt = np.linalg.svd(x[:5000], full_matrices=False)
        xy = x @ vt[:2].T
        fig, ax = plt.subplots(figsize=(6, 5))
        ax.scatter(xy[:, 0], xy[:, 1], c=assign["l1"].to_numpy(), cmap="tab20", s=6)
        ax.set_title("fused item vectors (PCA), coloured by level-1 cluster")
        out.append(_img(_png(fig), "item vectors by cluster"))
    return out


def gallery_section(assign: pl.DataFrame, items: pl.DataFrame, n_items: int = 4,
                    seed: int = 0) -> list[str]:
    """For a few items: poster + title, then the hard and easy negatives MSAC draws."""
    import torch

    from esans.sampling.msac import MSACSampler

    l1, l2 = assign["l1"].to_numpy(), assign["l2"].to_numpy()
    cents = np.load(paths.CLUSTER / "centroids1.npy")
    sampler = MSACSampler(l1, l2, cents, m_c=3, m_o=3, temperature=1.0)
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(items), min(n_items, len(items)), replace=False)
    neg = sampler.sample(torch.zeros(len(picks), dtype=torch.long),
                         torch.from_numpy(picks), torch.Generator().manual_seed(seed)).ids
    titles, img_paths = items["title"].to_list(), items["image_path"].to_list()

    def card(j: int, kind: str) -> str:
        t = _thumb(img_paths[j])
        pic = _img(t, titles[j], "thumb") if t else '<div class="noimg">no image</div>'
        return (f'<div class="card {kind}">{pic}<div>{esc(titles[j])}</div>'
                f'<small>{kind} · L1 {l1[j]} · L2 {l2[j]}</small></div>')

    rows = []
    for r, i in enumerate(picks):
        cards = [card(int(i), "positive")] + [card(int(j), "hard") for j in neg[r, :3]] + \
                [card(int(j), "easy") for j in neg[r, 3:]]
        rows.append(f'<div class="row">{"".join(cards)}</div>')
    return ["<h2>What MSAC draws</h2>",
            "<p>Each row: an item (positive), 3 <b>hard</b> negatives (same level-1 cluster, "
            "another level-2 cluster) and 3 <b>easy</b> negatives (other level-1 clusters).</p>",
            *rows]


def validation_section(reports: Path) -> list[str]:
    f = reports / "validate.json"
    if not f.exists():
        return []
    v = json.loads(f.read_text())
    rows = [(f"{r['table']}: {r['expectation']} {r['kwargs'].get('column', '')}",
             ("ok" if r["success"] else r["severity"].upper())
             + (f" ({r['unexpected_count']} unexpected)" if r.get("unexpected_count") else ""))
            for r in v.get("results", [])]
    out = ["<h2>Data validation (great-expectations)</h2>",
           f"<p>{v.get('n_expectations')} expectations, {v.get('n_errors')} errors, "
           f"{v.get('n_warnings')} warnings.</p>", _table(rows)]
    docs = reports / "data_docs/index.html"
    if docs.exists():
        out.append('<p><a href="data_docs/index.html">great-expectations Data Docs</a></p>')
    return out


def lineage_section(params: dict) -> list[str]:
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
    return ["<h2>Lineage</h2>", _table(rows)]


STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
         "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;"
         "padding:3px 8px;text-align:left;vertical-align:top;white-space:pre-wrap}"
         "img.plot{max-width:100%}.row{display:flex;gap:8px;margin:8px 0}"
         ".card{width:120px;font-size:12px;border:1px solid #ddd;padding:4px}"
         ".card.positive{border:2px solid #2a7}.card.hard{background:#fee}"
         ".card.easy{background:#eef}.noimg{width:96px;height:96px;background:#eee}")


def build(reports: Path, metrics_path: Path, params: dict, root: Path = Path(".")) -> Path:
    """Write ``reports/index.html`` from the declared inputs of the report stage only."""
    metrics = json.loads(metrics_path.read_text())
    parts = ["<h1>esans report</h1>", *metrics_section(metrics), *benchmark_section(root),
             *training_section(reports)]
    assign_path = paths.CLUSTER / "assignments.parquet"
    if assign_path.exists():
        assign = pl.read_parquet(assign_path)
        fused = paths.FUSE / "items.npy"
        parts += cluster_section(assign, np.load(fused) if fused.exists() else None)
        if paths.INGEST_ITEMS.exists():
            parts += gallery_section(assign, pl.read_parquet(paths.INGEST_ITEMS))
    parts += validation_section(reports)
    for stage in ("ingest", "split", "encode", "cluster", "train"):
        f = reports / f"{stage}.json"
        if f.exists():
            d = json.loads(f.read_text())
            flat = [(k, json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in d.items()]
            parts += [f"<h2>Stage: {stage}</h2>", _table(flat)]
    parts += lineage_section(params)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>esans report</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
    out = reports / "index.html"
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out
