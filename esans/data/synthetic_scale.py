"""A streamed synthetic catalogue at scale: items with precomputed vectors, no text or images.

The scale path (1M items, 10M interactions) cannot render images or encode texts on a laptop
CPU, so items carry their own feature vectors, as a team's precomputed embeddings would (the
``files`` source reads the same layout). Items and interactions are generated in chunks and
written as parquet parts (``items/part-*.parquet``, ``interactions/part-*.parquet``); memory
holds one chunk plus O(N) per-item tables (topic, popularity) at a time.

Latent structure: ``n_groups`` groups of ``topics_per_group`` topics; a topic's centre is its
group's centre plus noise, an item is its topic's centre plus noise (so a two-level clustering
has something to find). Users pick a few topics and, within a topic, items by Zipf popularity;
with ``drift`` > 0 a user's later events come more and more from a second set of topics
(tastes move, so the temporal split's test items are partly from topics not yet seen).

``content="random"`` is the no-structure control: same sizes, popularity and behaviour, but
each item's vector comes from an independently drawn topic, so content says nothing about who
interacts with the item. See docs/synthetic.md.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from esans.config import ScaleSourceParams


@dataclass(frozen=True)
class ScaleParams:
    n_items: int = 1_000_000
    n_users: int = 200_000
    n_events: int = 10_000_000
    n_groups: int = 100
    topics_per_group: int = 10
    dim: int = 64
    noise: float = 0.5
    popularity_alpha: float = 0.9
    topics_per_user: int = 8
    chunk_items: int = 100_000
    chunk_users: int = 20_000
    drift: float = 0.0            # share of a user's last events from a second topic set
    content: str = "topics"       # "topics" | "random" (the no-structure control)
    # How strongly a user's tastes stay within one semantic group: each of a user's topics
    # after the first is, with this probability, another topic of the first one's group
    # (0: topics independent across groups, so same-group items are no likelier positives;
    # towards 1, MSAC's hard stratum holds the user's other tastes: likely false negatives)
    group_spread: float = 0.0

    @property
    def n_topics(self) -> int:
        return self.n_groups * self.topics_per_group


def from_params(p: ScaleSourceParams) -> ScaleParams:
    """The generator's settings from the ``data.scale`` params block (``ScaleSourceParams``):
    ``n_items / items_per_group`` semantic groups."""
    fields = p.model_dump()
    return ScaleParams(**{k: v for k, v in fields.items() if k != "items_per_group"},
                       n_groups=max(2, p.n_items // p.items_per_group))


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def generate(p: ScaleParams, out: str | Path, seed: int = 0) -> dict:
    """Write ``out/items/part-*.parquet`` (item_id, title, text, label, vector) and
    ``out/interactions/part-*.parquet`` (user_id, item_id, timestamp); return counts."""
    t0 = time.perf_counter()
    out = Path(out)
    (out / "items").mkdir(parents=True, exist_ok=True)
    (out / "interactions").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    groups = _normalise(rng.standard_normal((p.n_groups, p.dim)))
    centres = _normalise(np.repeat(groups, p.topics_per_group, 0)
                         + 0.5 * rng.standard_normal((p.n_topics, p.dim)) / np.sqrt(p.dim))
    if p.content not in ("topics", "random"):
        raise ValueError(f"content must be 'topics' or 'random', not {p.content!r}")
    topic = rng.integers(0, p.n_topics, p.n_items).astype(np.int32)
    # the control draws the content topic independently of the behaviour topic (own stream,
    # so behaviour is the same as with structure)
    shown = (np.random.default_rng(seed + 1).integers(0, p.n_topics, p.n_items).astype(np.int32)
             if p.content == "random" else topic)
    for part, s in enumerate(range(0, p.n_items, p.chunk_items)):
        t = shown[s:s + p.chunk_items]
        vec = _normalise(centres[t] + p.noise * rng.standard_normal((len(t), p.dim))
                         / np.sqrt(p.dim)).astype(np.float32)
        ids = np.arange(s, s + len(t))
        pl.DataFrame({
            "item_id": pl.Series(ids).cast(pl.String).str.zfill(7).str.replace(r"^", "i"),
            "title": pl.Series(ids).cast(pl.String).str.replace(r"^", "item "),
            "text": pl.Series([None] * len(t), dtype=pl.String),
            "label": pl.Series(topic[s:s + p.chunk_items]).cast(pl.String)
            .str.replace(r"^", "topic"),
            "vector": pl.Series(vec, dtype=pl.Array(pl.Float32, p.dim)),
        }).write_parquet(out / "items" / f"part-{part:05d}.parquet")

    # Popularity: Zipf weights in random order; items grouped by topic for O(log N) draws.
    pop = (1.0 / np.arange(1, p.n_items + 1) ** p.popularity_alpha)[rng.permutation(p.n_items)]
    order = np.argsort(topic, kind="stable")
    cum = np.cumsum(pop[order])
    sizes = np.bincount(topic, minlength=p.n_topics)
    end = np.cumsum(sizes)
    start = end - sizes
    mass_before = np.where(start > 0, cum[np.maximum(start - 1, 0)], 0.0)
    mass = cum[np.maximum(end - 1, 0)] - mass_before
    del pop

    per_user = rng.lognormal(0, 0.8, p.n_users)
    per_user = np.maximum(5, np.round(per_user / per_user.sum() * p.n_events)).astype(int)
    start_ts, n_written = 1_600_000_000, 0
    for part, s in enumerate(range(0, p.n_users, p.chunk_users)):
        want = per_user[s:s + p.chunk_users]
        n = np.ceil(want * 2.5).astype(int) + 2   # oversample: repeats are dropped below
        users = np.repeat(np.arange(s, s + len(n)), n)
        pref_topics = rng.integers(0, p.n_topics, (len(n), p.topics_per_user))
        if p.group_spread > 0:
            pref_topics = _within_group(pref_topics, p, rng)
        pref_topics[sizes[pref_topics] == 0] = int(np.argmax(sizes))
        w = np.cumsum(rng.dirichlet(np.full(p.topics_per_user, 0.5), len(n)), 1)
        row = users - s
        k = (rng.random(len(users))[:, None] > w[row]).sum(1).clip(max=p.topics_per_user - 1)
        t = pref_topics[row, k]
        ts = rng.integers(start_ts, start_ts + 365 * 86400, len(users))
        if p.drift > 0:  # later events: more and more from the user's second topic set
            later = rng.integers(0, p.n_topics, (len(n), p.topics_per_user))
            later[sizes[later] == 0] = int(np.argmax(sizes))
            frac = (ts - start_ts) / (365 * 86400)
            t = np.where(rng.random(len(users)) < p.drift * frac, later[row, k], t)
        target = mass_before[t] + rng.random(len(users)) * mass[t]
        item = order[np.searchsorted(cum, target).clip(start[t], end[t] - 1)]
        df = (pl.DataFrame({"u": users, "i": item, "timestamp": ts})
              .unique(subset=["u", "i"], keep="first", maintain_order=True)
              .filter(pl.int_range(pl.len()).over("u")
                      < pl.col("u").replace_strict(np.arange(s, s + len(n)), want)))
        df = df.select(
            pl.col("u").cast(pl.String).str.zfill(7).str.replace(r"^", "u").alias("user_id"),
            pl.col("i").cast(pl.String).str.zfill(7).str.replace(r"^", "i").alias("item_id"),
            pl.col("timestamp").cast(pl.Int64))
        df.write_parquet(out / "interactions" / f"part-{part:05d}.parquet")
        n_written += df.height
    return {"params": asdict(p), "n_items": p.n_items, "n_users": p.n_users,
            "n_interactions": n_written, "seconds": round(time.perf_counter() - t0, 1)}


def _within_group(topics: np.ndarray, p: ScaleParams, rng: np.random.Generator) -> np.ndarray:
    """Each row's topics after the first moved, with probability ``p.group_spread``, to a
    random topic of the first topic's group."""
    first = topics[:, :1] // p.topics_per_group
    same = first * p.topics_per_group + rng.integers(0, p.topics_per_group, topics.shape)
    move = rng.random(topics.shape) < p.group_spread
    move[:, 0] = False
    return np.where(move, same, topics)


def read_item_vectors(folder: str | Path) -> tuple[pl.Series, np.ndarray]:
    """(item ids, (N, d) float32 vectors) from ``items/part-*.parquet``, part by part."""
    ids, vecs = [], []
    for f in sorted(Path(folder).glob("part-*.parquet")):
        df = pl.read_parquet(f, columns=["item_id", "vector"])
        ids.append(df["item_id"])
        vecs.append(df["vector"].to_numpy())
    return pl.concat(ids), np.ascontiguousarray(np.concatenate(vecs), np.float32)
