"""The raw files a data source reads, and fingerprints of them.

The ``source`` stage writes :func:`content_fingerprint` to ``data/source.json`` on every run;
``ingest`` depends on that file, so DVC reruns ingest (and what follows) only when the bytes
of the raw inputs, the params or the code changed. The synthetic source reads no file: its
data is its params. :func:`stat_fingerprint` is the cheap poll the data watcher uses.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from esans.config import DataParams


def inputs(root: Path, data: DataParams) -> list[Path]:
    """The raw inputs (files or folders) the configured source reads, resolved against the
    project root; none for the synthetic source."""
    from esans.data import s3rec

    named = {"files": [data.files.interactions, data.files.items],
             "movielens": [data.movielens.path],
             "s3rec": [str(f) for f in s3rec.files(data.s3rec.path, data.s3rec.name)],
             }.get(data.source, [])
    return [(Path(root) / x).resolve() for x in named]


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(f for f in path.rglob("*") if f.is_file() and not f.name.startswith("."))
    return []


def stat_fingerprint(paths: list[Path]) -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file under ``paths`` (files or folders; missing ones omitted)."""
    return {str(f): (f.stat().st_size, f.stat().st_mtime_ns) for p in paths for f in _files(p)}


def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def content_fingerprint(root: Path, data: DataParams,
                        memo: dict[str, list] | None = None) -> tuple[dict, dict[str, list]]:
    """``({"source", "inputs": {path: {"size", "md5"}}}, memo)``: what the source reads, by
    content. Paths are written as given in params (relative to the project root when they
    are), so the fingerprint is the same in every clone. ``memo`` maps a resolved path to
    ``[size, mtime_ns, md5]`` from the previous call: a file whose size and mtime did not
    change is not read again (what DVC does for its own deps)."""
    memo = dict(memo or {})
    root = Path(root).resolve()
    fresh: dict[str, list] = {}
    found: dict[str, dict] = {}
    for top in inputs(root, data):
        for f in _files(top):
            st = f.stat()
            key = str(f)
            old = memo.get(key)
            digest = (old[2] if old and old[:2] == [st.st_size, st.st_mtime_ns]
                      else _md5(f))
            fresh[key] = [st.st_size, st.st_mtime_ns, digest]
            try:
                shown = f.relative_to(root).as_posix()
            except ValueError:
                shown = f.as_posix()
            found[shown] = {"size": st.st_size, "md5": digest}
    return {"source": data.source, "inputs": dict(sorted(found.items()))}, fresh


def check_inputs(root: Path, data: DataParams) -> None:
    """One clear error naming the param whose path does not exist."""
    from esans.errors import EsansError

    from esans.data import s3rec

    named = {"files": [("data.files.interactions", data.files.interactions),
                       ("data.files.items", data.files.items)],
             "movielens": [("data.movielens.path", data.movielens.path)],
             "s3rec": [("data.s3rec.path and data.s3rec.name", str(f))
                       for f in s3rec.files(data.s3rec.path, data.s3rec.name)],
             }.get(data.source, [])
    for key, value in named:
        if not (Path(root) / value).exists():
            raise EsansError(f"not found (set by params keys {key})" if " and " in key else
                             f"not found (set by params key {key})", path=value)
