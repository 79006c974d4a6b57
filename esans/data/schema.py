"""The internal schema every source is normalised to by the ``ingest`` stage.

interactions: user_id str, item_id str, timestamp int64 (unix s), rating float64 (nullable),
              seq int64 (ingest order, the tie-break for equal timestamps)
items:        item_id str, title str, text str (nullable), image_path str (nullable, relative to
              the project root or absolute), label str (nullable: topic/genre, for diagnostics),
              image_sha256 str (nullable: content hash of the image file, so an image edit
              changes the ingested table and reruns what depends on it),
              tags list[str] (nullable: categories, brands, any attribute names; the ``tags``
              modality)
"""

from __future__ import annotations

import polars as pl

INTERACTIONS_SCHEMA: dict[str, pl.DataType] = {
    "user_id": pl.String(),
    "item_id": pl.String(),
    "timestamp": pl.Int64(),
    "rating": pl.Float64(),
    "seq": pl.Int64(),
}

ITEMS_SCHEMA: dict[str, pl.DataType] = {
    "item_id": pl.String(),
    "title": pl.String(),
    "text": pl.String(),
    "image_path": pl.String(),
    "label": pl.String(),
    "image_sha256": pl.String(),
    "tags": pl.List(pl.String()),
}


# a modality and the items column that carries it; a catalogue where no item has it lacks it
MODALITY_COLUMNS = {"text": "text", "image": "image_path", "tags": "tags"}


def has_modality(items: pl.DataFrame, name: str) -> bool:
    """Whether the catalogue has the ``name`` modality at all (some item's text, image path or
    tags): validate checks it, encode encodes it, only then."""
    column = MODALITY_COLUMNS[name]
    return column in items.columns and bool(items[column].is_not_null().any())


def conform(df: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Select and cast the schema's columns in order, adding missing optional ones as null."""
    cols = []
    for name, dtype in schema.items():
        if name in df.columns:
            cols.append(pl.col(name).cast(dtype))
        else:
            cols.append(pl.lit(None, dtype=dtype).alias(name))
    return df.select(cols)
