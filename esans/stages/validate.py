"""The ``validate`` stage."""

from __future__ import annotations

import logging
import time

import numpy as np

from esans import paths
from esans.config import Params
from esans.data.schema import MODALITY_COLUMNS, has_modality
from esans.errors import EsansError
from esans.io import write_json
from esans.stages.common import ingest_digest, ingested

log = logging.getLogger("esans")


def _source_rows(p: Params, failure: dict, inter) -> tuple[str, list[int]]:
    """Name the user's own file and where each row is, numbered as ingest numbers it (the
    record's first line in CSV/TSV, its record number in parquet) when the source is `files`;
    otherwise the ingested table and its 0-based rows."""
    from pathlib import Path

    from esans.data.files import record_line

    table, rows = failure["table"], failure.get("rows") or []
    if p.data.source != "files":
        src = paths.INGEST_ITEMS if table == "items" else paths.INGEST_INTERACTIONS
        return str(src), rows
    if table == "items":
        return p.data.files.items, [record_line(Path(p.data.files.items), r) for r in rows]
    seq = inter["seq"]
    return p.data.files.interactions, [record_line(Path(p.data.files.interactions),
                                                   int(seq[r])) for r in rows]


def catalogue_minimums(p: Params, n_items: int, n_users: int) -> None:
    """The catalogue must be big enough for the configured clusters and negatives; one error
    naming the params keys otherwise (before any later stage publishes anything)."""
    c, t = p.cluster, p.train
    n_l1 = c.level1(n_items)
    shown = f"auto: {n_l1}" if c.n_l1 == "auto" else n_l1
    rules = [(n_l1 * c.min_cluster_size,
              f"cluster.n_l1 ({shown}) x cluster.min_cluster_size ({c.min_cluster_size})")]
    if t.traits.per_row:
        rules.append((t.n_negatives + 1, f"train.n_negatives ({t.n_negatives}) + the positive"))
    k = max(p.evaluate.ks)
    rules.append((k + 1, f"evaluate.ks (K up to {k}: a top-K that can hold every item scores "
                         "any ranking as perfect)"))
    for need, why in rules:
        if n_items < need:
            raise EsansError(f"the catalogue has {n_items} items; {why} needs >= {need} "
                             "(add items or lower those params)", path=paths.INGEST_ITEMS,
                             rule="catalogue-size")
    if n_users < 2:
        raise EsansError(f"{n_users} user(s) with interactions; training and evaluation need "
                         ">= 2", path=paths.INGEST_INTERACTIONS, rule="catalogue-size")


def validate(p: Params) -> dict:
    from esans.validate.suites import describe_failure, run

    t0 = time.perf_counter()
    items, inter = ingested()
    catalogue_minimums(p, items.height, inter["user_id"].n_unique())
    provided = np.load(paths.INGEST_VECTORS, mmap_mode="r").shape[1] > 0
    summary = run(items, inter, p.validate_, max_pixels=p.encode.image.max_pixels,
                  docs_dir=paths.REPORTS / "data_docs", provided_vectors=provided)
    if not summary["success"]:
        first = next(r for r in summary["results"]
                     if not r["success"] and r["severity"] == "error")
        path, rows = _source_rows(p, first, inter)
        raise EsansError(describe_failure({**first, "rows": rows}, path)
                         + f" ({summary['n_errors']} failed expectation(s))")
    for r in summary["results"]:  # the pipeline goes on; say what is not perfect
        if not r["success"]:
            path, rows = _source_rows(p, r, inter)
            log.warning("validate (warning): %s", describe_failure({**r, "rows": rows}, path))
    if not provided:
        for name, what in (("text", "text"), ("image", "images")):
            if not has_modality(items, name):
                log.warning("validate (note): no item has %s: the catalogue has no %s "
                            "modality%s", MODALITY_COLUMNS[name], what,
                            " (titles are display names only; put them in `text` to encode "
                            "them)" if name == "text" else "")
    # No timing in this report: later stages depend on it, so it must change only when the
    # validation outcome does.
    log.info("validate: %d expectations in %.1fs", summary["n_expectations"],
             time.perf_counter() - t0)
    summary["checked"] = ingest_digest()       # the ingest this verdict is about
    write_json(summary, paths.report("validate"))
    return summary
