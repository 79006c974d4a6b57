"""The per-user temporal split used for every number this project reports.

Per user, interactions sorted by (timestamp, source order), the latest ones are held out:

- ``temporal`` (the default): the last ``int(test_frac * n)`` go to test, the
  ``int(valid_frac * n)`` before them to valid, the rest to train (a user needs
  ``1 / frac`` events to hold one out);
- ``leave_last``: for every user with at least 3 events, the last one goes to test and the
  one before it to valid (the protocol short-history catalogues are published with: with a
  median of 6 events a user, the fractional split would test only the heaviest users).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class Split:
    users: pl.DataFrame   # user_idx u32, user_id str
    items: pl.DataFrame   # item_idx u32, item_id str (catalogue order)
    train: pl.DataFrame   # user_id, item_id, timestamp, user_idx, item_idx, pos
    valid: pl.DataFrame
    test: pl.DataFrame


LEAVE_LAST_MIN_EVENTS = 3


def temporal_split(interactions: pl.DataFrame, items: pl.DataFrame,
                   valid_frac: float = 0.1, test_frac: float = 0.1,
                   method: str = "temporal") -> Split:
    item_index = items.select(pl.col("item_id")).with_row_index("item_idx")
    df = interactions.sort(["user_id", "timestamp", "seq"])
    df = df.with_columns(
        pl.int_range(pl.len()).over("user_id").alias("pos"),
        pl.len().over("user_id").alias("_n"),
    )
    if method == "leave_last":
        one = (pl.col("_n") >= LEAVE_LAST_MIN_EVENTS).cast(pl.Int64)
        df = df.with_columns(one.alias("_nt"), one.alias("_nv"))
    elif method == "temporal":
        df = df.with_columns(
            (pl.col("_n") * test_frac).floor().cast(pl.Int64).alias("_nt"),
            (pl.col("_n") * valid_frac).floor().cast(pl.Int64).alias("_nv"),
        )
    else:
        raise ValueError(f"unknown split method {method!r}")
    users = (df.select("user_id").unique(maintain_order=True)
             .with_row_index("user_idx"))
    df = (df.join(users, on="user_id").join(item_index, on="item_id")
          .sort(["user_idx", "pos"]))
    is_test = pl.col("pos") >= pl.col("_n") - pl.col("_nt")
    is_valid = (~is_test) & (pl.col("pos") >= pl.col("_n") - pl.col("_nt") - pl.col("_nv"))
    cols = ["user_id", "item_id", "timestamp", "user_idx", "item_idx", "pos"]
    return Split(
        users=users.select("user_idx", "user_id"),
        items=item_index,
        train=df.filter(~is_test & ~is_valid).select(cols),
        valid=df.filter(is_valid).select(cols),
        test=df.filter(is_test).select(cols),
    )
