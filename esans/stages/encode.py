"""The ``encode`` stage: text and image embeddings, through the per-item cache."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from esans import paths
from esans.config import Params
from esans.data.schema import has_modality
from esans.io import atomic_dir, read_npy
from esans.stages.common import ingested, write_report

log = logging.getLogger("esans")

CACHE = Path(".cache/encode")


def _tags(p: Params, items: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The tags modality: (N, k) vectors and which items have them; (N, 0) without tags."""
    from esans.encode.tags import tags_svd

    return tags_svd(items["tags"].to_list(), p.encode.tags.dim, p.encode.tags.min_items)


def _provided(p: Params, items: pl.DataFrame, vectors: np.ndarray, t0: float) -> dict:
    """Items came with their own vectors: they are the content modality; no encoder runs."""
    empty = np.zeros((items.height, 0), np.float32)
    tags, has_tags = _tags(p, items)
    with atomic_dir(paths.ENCODE) as out:
        np.save(out / "text.npy", empty)
        np.save(out / "image.npy", empty)
        np.save(out / "tags.npy", tags)
        np.save(out / "provided.npy", vectors)
        pl.DataFrame({"item_id": items["item_id"], "has_text": [False] * items.height,
                      "has_image": [False] * items.height,
                      "image_status": ["skipped"] * items.height, "has_tags": has_tags}
                     ).write_parquet(out / "status.parquet")
    report = {"n_items": items.height, "provided_dim": int(vectors.shape[1]),
              "text_encoded": 0, "image_encoded": 0, "tags_dim": int(tags.shape[1]),
              "items_with_tags": int(has_tags.sum()),
              "note": "items carry precomputed vectors; text and image encoders skipped"}
    log.info("encode: %d items carry their own %d-d vectors; encoders skipped",
             items.height, vectors.shape[1])
    report = write_report("encode", report, t0)
    return report


@dataclass
class Modality:
    """One encoder's work: per-item cache content, model fingerprint, cache file, and
    ``encode(rows) -> (vectors, statuses)`` for any subset of rows (a shard, or all misses)."""
    name: str
    contents: list[str | None]
    fingerprint: str
    cache: Path
    batch_size: int
    encode: Callable[[list[int]], tuple[np.ndarray, list[str]]]


def modalities(p: Params, items: pl.DataFrame, progress: bool = False) -> list[Modality]:
    from esans.encode import image, text
    from esans.encode.cache import fingerprint

    # An item without text is encoded from its title (the validate stage reports how many).
    texts = [x if x else (t or "") for t, x in zip(items["title"].to_list(),
                                                    items["text"].to_list())]
    tp, ip = p.encode.text, p.encode.image
    # absolute, so a worker process anywhere on this machine finds the same files
    image_paths = [str(Path(x).resolve()) if x else None for x in items["image_path"].to_list()]

    def encode_texts(rows: list[int]):
        v = text.encode([texts[i] for i in rows], tp.model, tp.pooling, tp.max_length,
                        tp.batch_size, progress)
        return v, ["ok"] * len(rows)

    def encode_images(rows: list[int]):
        v, status, _ = image.encode([image_paths[i] for i in rows], ip.model, ip.size,
                                    ip.batch_size, ip.max_pixels, progress)
        return v, status

    return [
        Modality("text", texts, fingerprint(tp.model, text.resolve_model(tp.model),
                                            pooling=tp.pooling, max_length=tp.max_length,
                                            batch_size=tp.batch_size),
                 CACHE / "text.parquet", tp.batch_size, encode_texts),
        Modality("image", items["image_sha256"].to_list(),
                 fingerprint(ip.model, image.resolve_model(ip.model), size=ip.size,
                             max_pixels=ip.max_pixels, batch_size=ip.batch_size),
                 CACHE / "image.parquet", ip.batch_size, encode_images),
    ]


def encode(p: Params, progress: bool = True) -> dict:
    import torch

    from esans.encode.cache import encode_cached, library_versions

    t0 = time.perf_counter()
    torch.set_num_threads(p.train.threads)
    items, _ = ingested()
    provided = read_npy(paths.INGEST_VECTORS)
    if provided.shape[1] > 0:
        return _provided(p, items, provided, t0)
    text_m, image_m = modalities(p, items, progress)
    empty = np.zeros((items.height, 0), np.float32)
    # A catalogue with no text at all (titles are names only, e.g. the s3rec source) or no
    # image paths at all has no such modality: its encoder is not even loaded.
    tv, n_text = empty, 0
    if has_modality(items, "text"):
        tv, _, n_text = encode_cached(text_m.contents, text_m.fingerprint, text_m.cache,
                                      text_m.encode)
    t_text = time.perf_counter() - t0
    iv, status, n_image = empty, ["none"] * items.height, 0
    if has_modality(items, "image"):
        iv, status, n_image = encode_cached(image_m.contents, image_m.fingerprint,
                                            image_m.cache, image_m.encode)
    tags, has_tags = _tags(p, items)
    tp, ip = p.encode.text, p.encode.image
    with atomic_dir(paths.ENCODE) as out:
        np.save(out / "text.npy", tv)
        np.save(out / "image.npy", iv)
        np.save(out / "tags.npy", tags)
        pl.DataFrame({"item_id": items["item_id"], "has_text": items["text"].is_not_null(),
                      "has_image": [s == "ok" for s in status], "image_status": status,
                      "has_tags": has_tags}
                     ).write_parquet(out / "status.parquet")
    report = {"n_items": items.height, "text_dim": int(tv.shape[1]), "image_dim": int(iv.shape[1]),
              "tags_dim": int(tags.shape[1]), "items_with_tags": int(has_tags.sum()),
              "text_model": tp.model, "image_model": ip.model,
              "text_encoded": n_text, "text_cached": items.height - n_text if tv.shape[1] else 0,
              "image_encoded": n_image, "image_status": dict(Counter(status)),
              "libraries": library_versions()}
    log.info("encode: %d texts and %d images encoded, the rest from the cache", n_text, n_image)
    report = write_report("encode", report, t0, text_seconds=round(t_text, 3),
                          image_seconds=round(time.perf_counter() - t0 - t_text, 3))
    return report
