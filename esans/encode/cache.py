"""An incremental per-item embedding cache.

Each vector is stored under sha256(model fingerprint, preprocessing params, item content).
Re-running after one item's text changes re-encodes that item only; changing the model, a
preprocessing parameter or the version of a library the encoders compute with (``LIBRARIES``:
another torch build gives other low bits) changes every key, so everything is re-encoded and
a catalogue's vectors never mix two builds. The cache is
content-addressed across runs (one parquet file per modality, written atomically): a run's
entries come first, then earlier runs' entries, most recent first, up to ``MAX_ENTRIES`` (never
fewer than the run's own), so switching back to an earlier catalogue or model is a cache hit.
A vector does not depend on which other items were encoded with it (the encoders run fixed
batch shapes), so a cold, warm or half-warm cache gives byte-identical vectors.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import polars as pl

from esans.io import atomic_path

MAX_ENTRIES = 200_000     # per modality, beyond the current run's own entries
# what the encoders' arithmetic and preprocessing run on
LIBRARIES = ("torch", "transformers", "tokenizers", "pillow", "numpy",
             "efficientnet-lite-pytorch")


def library_versions() -> dict[str, str]:
    """Installed version of each of ``LIBRARIES`` ("absent" where it is not installed)."""
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    # the kernels' vector ISA changes low bits too (esans/__init__.py pins it)
    out["onednn_max_cpu_isa"] = os.environ.get("ONEDNN_MAX_CPU_ISA", "default")
    return out


def fingerprint(model: str, resolved: str | Path, **preprocessing: object) -> str:
    """Identify a model + preprocessing: its name, the encoders' library versions, and for a
    local folder its config bytes and weight file sizes (so a re-saved model with new weights
    gets new keys)."""
    h = hashlib.sha256(json.dumps({"model": model, "libraries": library_versions(),
                                   **preprocessing}, sort_keys=True, default=str).encode())
    path = Path(resolved)
    if path.is_dir():
        for f in sorted(path.iterdir()):
            if f.suffix in {".json", ".txt"}:
                h.update(f.name.encode() + f.read_bytes())
            elif f.suffix in {".safetensors", ".bin", ".pth", ".pt"}:
                h.update(f"{f.name}:{f.stat().st_size}".encode())
    elif path.is_file():
        h.update(f"{path.name}:{path.stat().st_size}".encode())
    return h.hexdigest()[:16]


def item_keys(fp: str, contents: list[str | None]) -> list[str | None]:
    """One key per item; None where there is no content to encode."""
    return [None if c is None else hashlib.sha256(f"{fp}\0{c}".encode()).hexdigest()
            for c in contents]


class EmbeddingCache:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.table: dict[str, tuple[np.ndarray, str]] = {}
        if self.path.exists():
            try:
                df = pl.read_parquet(self.path)
                for k, v, s in zip(df["key"].to_list(), df["vector"].to_list(),
                                   df["status"].to_list()):
                    self.table[k] = (np.asarray(v, np.float32), s)
            except Exception:  # a damaged cache is only a slower run
                self.table = {}

    def get(self, key: str | None) -> tuple[np.ndarray, str] | None:
        return None if key is None else self.table.get(key)

    def save(self, keys: list[str | None], vectors: np.ndarray, statuses: list[str],
             max_entries: int = MAX_ENTRIES) -> None:
        """This run's entries, then earlier ones (most recent first) up to ``max_entries``."""
        rows = [(k, vectors[i], statuses[i]) for i, k in enumerate(keys) if k is not None]
        mine = {r[0] for r in rows}
        room = max(0, max_entries - len(rows))
        rows += [(k, v, s) for k, (v, s) in self.table.items() if k not in mine][:room]
        df = pl.DataFrame({"key": [r[0] for r in rows],
                           "vector": [r[1].tolist() for r in rows],
                           "status": [r[2] for r in rows]},
                          schema={"key": pl.String, "vector": pl.List(pl.Float32),
                                  "status": pl.String})
        with atomic_path(self.path) as tmp:
            df.write_parquet(tmp)


@dataclass
class Plan:
    """What a run must encode: every item's key, the cache hits, and the rows to encode."""
    cache: EmbeddingCache
    keys: list[str | None]
    hits: list[tuple[np.ndarray, str] | None]
    todo: list[int]

    @property
    def must_encode(self) -> bool:
        return bool(self.todo) or all(h is None for h in self.hits)


def plan(contents: list[str | None], fp: str, cache_path: Path) -> Plan:
    cache = EmbeddingCache(cache_path)
    keys = item_keys(fp, contents)
    hits = [cache.get(k) for k in keys]
    todo = [i for i, (k, h) in enumerate(zip(keys, hits)) if k is not None and h is None]
    return Plan(cache, keys, hits, todo)


def shards(rows: list[int], n: int, align: int = 1) -> list[list[int]]:
    """Split ``rows`` into at most ``n`` contiguous shards whose sizes are multiples of
    ``align`` (the encoder's batch size, so every batch is the one a serial run makes)."""
    if not rows:
        return []
    blocks = -(-len(rows) // align)
    per = -(-blocks // max(1, n)) * align
    return [rows[s:s + per] for s in range(0, len(rows), per)]


def fill(pl_: Plan, n_items: int, fresh: np.ndarray | None, fresh_status: list[str]
         ) -> tuple[np.ndarray, list[str], int]:
    """Assemble all vectors from the hits and the freshly encoded ``todo`` rows, and save the
    cache with exactly these entries. Returns (vectors (N, d), statuses, number encoded)."""
    hits, todo = pl_.hits, pl_.todo
    dim = (fresh.shape[1] if fresh is not None else
           next((h[0].shape[0] for h in hits if h is not None), 0))
    vectors = np.zeros((n_items, dim), np.float32)
    statuses = ["missing"] * n_items
    for i, h in enumerate(hits):
        if h is not None and h[0].shape[0] == dim:
            vectors[i], statuses[i] = h
    for j, i in enumerate(todo):
        vectors[i], statuses[i] = fresh[j], fresh_status[j]
    pl_.cache.save(pl_.keys, vectors, statuses)
    return vectors, statuses, len(todo)


def encode_cached(contents: list[str | None], fp: str, cache_path: Path, encode_fn
                  ) -> tuple[np.ndarray, list[str], int]:
    """Vectors for all items, encoding only cache misses with ``encode_fn(rows) ->
    (vectors (len(rows), d), statuses)``. Items with no content get status ``missing``.

    Returns (vectors (N, d), statuses, number encoded now).
    """
    p = plan(contents, fp, cache_path)
    fresh, fresh_status = encode_fn(p.todo) if p.must_encode else (None, [])
    return fill(p, len(contents), fresh, fresh_status)
