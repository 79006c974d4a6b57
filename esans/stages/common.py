"""Helpers shared by the stage modules: reading upstream artifacts, timing."""

from __future__ import annotations

import time

import polars as pl

from esans import paths
from esans.io import md5_file, read_parquet, write_json


def timed(report: dict, start: float) -> dict:
    report["seconds"] = round(time.perf_counter() - start, 3)
    return report


def write_report(stage: str, report: dict, start: float, **measured) -> dict:
    """Publish ``report`` (deterministic facts) to ``reports/<stage>.json`` and the stage's
    wall time plus ``measured`` (timings of any kind) to ``reports/timings/<stage>.json``;
    return both merged (what the CLI prints)."""
    write_json(report, paths.report(stage))
    timings = timed(dict(measured), start)
    write_json(timings, paths.timing(stage))
    return {**report, **timings}


# What validate's verdict names by content: the split's inputs (the ids and the events), so
# a split run by hand refuses an ingest validate did not pass; an item's text or image is not
# among them, so editing one never makes the split stale.
VALIDATED = (paths.INGEST_INTERACTIONS, paths.INGEST_CATALOGUE)


def ingest_digest(files=VALIDATED) -> dict[str, str]:
    """md5 of each of ``files`` (ingested files validate checks)."""
    from esans.errors import EsansError

    out = {}
    for f in files:
        if not f.is_file():
            raise EsansError("file not found", path=f)
        out[f.name] = md5_file(f)
    return out


def require_validated(*files) -> None:
    """Refuse to go on unless validate passed these very ingested ``files`` (the ones the
    calling stage reads): a stage run by hand after a failed validation, or before any,
    stops here with one line."""
    import json

    from esans.errors import EsansError

    report = paths.report("validate")
    try:
        verdict = json.loads(report.read_text())
    except (OSError, ValueError):
        verdict = {}
    checked = verdict.get("checked") or {}
    now = ingest_digest(files)
    if not verdict.get("success") or any(checked.get(k) != v for k, v in now.items()):
        raise EsansError("the ingested data has not passed validation (run `esans validate`, "
                         "or `dvc repro`, and fix what it reports)", path=paths.INGEST,
                         rule="validated")


def ingested() -> tuple[pl.DataFrame, pl.DataFrame]:
    """(items, interactions) as the ingest stage wrote them."""
    return read_parquet(paths.INGEST_ITEMS), read_parquet(paths.INGEST_INTERACTIONS)


def split_table(name: str) -> pl.DataFrame:
    """One of users / items / train / valid / test from the split stage."""
    return read_parquet(paths.SPLIT / f"{name}.parquet")

