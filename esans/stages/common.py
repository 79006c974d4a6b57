"""Helpers shared by the stage modules: reading upstream artifacts, timing."""

from __future__ import annotations

import time

import polars as pl

from esans import paths
from esans.io import read_parquet, write_json


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


def ingested() -> tuple[pl.DataFrame, pl.DataFrame]:
    """(items, interactions) as the ingest stage wrote them."""
    return read_parquet(paths.INGEST_ITEMS), read_parquet(paths.INGEST_INTERACTIONS)


def split_table(name: str) -> pl.DataFrame:
    """One of users / items / train / valid / test from the split stage."""
    return read_parquet(paths.SPLIT / f"{name}.parquet")

