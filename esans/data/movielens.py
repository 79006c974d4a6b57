"""The ml100k-multimodal dataset: MovieLens-100k ratings + TMDB overviews + posters.

Dirt policy (every case is counted in the ingest report, none is silent):
- ``u.item`` is latin-1, ``items_tmdb.csv`` is UTF-8: each is decoded with its own encoding;
  a file that does not decode with its declared encoding is an error.
- rows of ``items_tmdb.csv`` repeated for one movie id with the same overview are collapsed
  to one (``duplicate_tmdb_rows``).
- one movie id with several *different* overviews: none of them is trusted
  (``conflicting_overview_ids``).
- one overview attached to several movie ids whose titles differ is a bad upstream join: it is
  dropped for all of them (``foreign_overview_ids``). Ids with identical titles (MovieLens lists
  some films twice) keep it (``shared_overview_same_title_ids``).
- no overview / empty overview: the text is title + genres only (``missing_overview``).
- no poster file: the item has no image (``missing_poster``); the encoder gives it a
  text/behaviour-only vector.
- every rating counts as an interaction (implicit feedback); the rating value is kept.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import polars as pl

from esans.errors import EsansError

GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
          "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
          "Romance", "Sci-Fi", "Thriller", "War", "Western"]


def _read_text(path: Path, encoding: str) -> str:
    if not path.exists():
        raise EsansError("file not found", path=path)
    raw = path.read_bytes()
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise EsansError(f"not valid {encoding}: byte {raw[exc.start]:#x}", path=path, row=line,
                         rule="encoding") from None


def load(root: str | Path, project_root: str | Path = ".") -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """Return (items, interactions, report) in the internal schema."""
    root = Path(root)
    if not root.is_dir():
        raise EsansError("dataset folder not found (set data.movielens.path)", path=root)
    report: dict[str, int] = {}

    ratings_path = root / "u.data"
    try:
        inter = pl.read_csv(io.StringIO(_read_text(ratings_path, "utf-8")), separator="\t",
                            has_header=False, new_columns=["user_id", "item_id", "rating",
                                                           "timestamp"],
                            schema_overrides={"user_id": pl.String, "item_id": pl.String,
                                              "rating": pl.Float64, "timestamp": pl.Int64})
    except pl.exceptions.PolarsError as exc:
        raise EsansError(f"cannot parse: {exc}".split("\n")[0], path=ratings_path) from None

    uitem_path = root / "u.item"
    uitem = pl.read_csv(io.StringIO(_read_text(uitem_path, "latin-1")), separator="|",
                        has_header=False, quote_char=None,
                        new_columns=["item_id", "title", "release", "video", "url", *GENRES],
                        schema_overrides={"item_id": pl.String})
    genre_names = pl.concat_list([pl.when(pl.col(g) == 1).then(pl.lit(g)) for g in GENRES]
                                 ).list.drop_nulls()
    uitem = uitem.with_columns(genre_names.alias("genres")).select("item_id", "title", "genres")

    tmdb_path = root / "items_tmdb.csv"
    tmdb = pl.read_csv(io.StringIO(_read_text(tmdb_path, "utf-8")),
                       schema_overrides={"movie_id": pl.String})
    tmdb = tmdb.select(pl.col("movie_id").alias("item_id"),
                       pl.col("overview").str.strip_chars())
    n_rows = tmdb.height
    tmdb = tmdb.unique(subset=["item_id", "overview"], keep="first", maintain_order=True)
    report["duplicate_tmdb_rows"] = n_rows - tmdb.height
    conflicting = tmdb.group_by("item_id").len().filter(pl.col("len") > 1)["item_id"]
    report["conflicting_overview_ids"] = conflicting.len()
    tmdb = (tmdb.with_columns(pl.when(pl.col("item_id").is_in(conflicting.implode()))
                              .then(None).otherwise(pl.col("overview")).alias("overview"))
            .unique(subset=["item_id"], keep="first", maintain_order=True))

    with_title = tmdb.join(uitem.select("item_id", "title"), on="item_id", how="left")
    shared = (with_title.filter(pl.col("overview").is_not_null() & (pl.col("overview") != ""))
              .group_by("overview").agg(pl.col("item_id"), pl.col("title").n_unique().alias("nt"))
              .filter(pl.col("item_id").list.len() > 1))
    foreign = shared.filter(pl.col("nt") > 1)["item_id"].explode()
    same = shared.filter(pl.col("nt") == 1)["item_id"].explode()
    report["foreign_overview_ids"] = foreign.len()
    report["shared_overview_same_title_ids"] = same.len()
    tmdb = tmdb.with_columns(pl.when(pl.col("item_id").is_in(foreign.implode())).then(None)
                             .otherwise(pl.col("overview")).alias("overview"))

    items = uitem.join(tmdb, on="item_id", how="left")
    missing_overview = pl.col("overview").is_null() | (pl.col("overview") == "")
    report["missing_overview"] = items.filter(missing_overview).height
    report["missing_tmdb_row"] = uitem.height - uitem.join(tmdb, on="item_id", how="semi").height

    posters = root / "posters"
    rel_root = os.path.relpath(posters, project_root)
    has_poster = [(posters / f"{i}.jpg").exists() for i in items["item_id"]]
    report["missing_poster"] = has_poster.count(False)
    genre_text = pl.col("genres").list.join(", ")
    items = items.with_columns(
        pl.when(missing_overview)
        .then(pl.format("{}. Genres: {}.", pl.col("title"), genre_text))
        .otherwise(pl.format("{}. Genres: {}. {}", pl.col("title"), genre_text,
                             pl.col("overview"))).alias("text"),
        pl.Series("image_path", [f"{rel_root}/{i}.jpg" if h else None
                                 for i, h in zip(items["item_id"], has_poster)]),
        pl.col("genres").list.first().alias("label"),
    )
    report["items"] = items.height
    report["interactions"] = inter.height
    return items, inter, report
