"""Normalise any source's tables to the internal schema (see ``schema.py``)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import polars as pl

from esans.data.schema import INTERACTIONS_SCHEMA, ITEMS_SCHEMA, conform


def file_sha256(path: str | Path | None) -> str | None:
    """Hex SHA-256 of a file's bytes, or None if there is no such file."""
    if not path or not Path(path).is_file():
        return None
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def normalise(items: pl.DataFrame, interactions: pl.DataFrame, report: dict,
              locate: Callable[[str], str | Path] = lambda p: p
              ) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """Conform both tables, number interactions in source order, and report what changed.

    ``locate`` maps an item's ``image_path`` to where the file is now (for hashing).
    Policy: a repeated (user, item) pair keeps its earliest interaction
    (``duplicate_interactions``): the split needs each positive in exactly one part, and
    masking train items must never hide a test positive.
    """
    report = dict(report)
    inter = interactions.with_row_index("seq").with_columns(pl.col("seq").cast(pl.Int64))
    inter = conform(inter, INTERACTIONS_SCHEMA)
    n = inter.height
    inter = (inter.sort(["timestamp", "seq"])
             .unique(subset=["user_id", "item_id"], keep="first", maintain_order=True)
             .sort("seq"))
    report["duplicate_interactions"] = n - inter.height
    items = conform(items, ITEMS_SCHEMA)
    # Tags: trimmed, blank and repeated ones dropped, an empty list is no tags.
    items = items.with_columns(
        pl.col("tags").list.eval(pl.element().str.strip_chars())
        .list.eval(pl.element().filter(pl.element() != ""))
        .list.unique(maintain_order=True).alias("tags"))
    items = items.with_columns(
        pl.when(pl.col("tags").list.len() > 0).then(pl.col("tags")).alias("tags"))
    report["items_with_tags"] = int(items["tags"].is_not_null().sum())
    # Text that is only whitespace says nothing: it is missing (an item without text is
    # encoded from its title; a blank title fails validation), counted per column.
    blank = {c: int((items[c].str.strip_chars() == "").sum())
             for c in ("title", "text", "label", "image_path")}
    report["blank_values"] = {c: n for c, n in blank.items() if n}
    items = items.with_columns(
        pl.when(pl.col(c).str.strip_chars() == "").then(None).otherwise(pl.col(c)).alias(c)
        for c in blank if blank[c])
    items = items.with_columns(
        pl.Series("image_sha256", [file_sha256(locate(p) if p else None)
                                  for p in items["image_path"].to_list()]
                  if "image_path" in items.columns else [None] * items.height,
                  dtype=pl.String))
    report["n_users"] = inter["user_id"].n_unique()
    report["n_items"] = items.height
    report["n_interactions"] = inter.height
    return items, inter, report
