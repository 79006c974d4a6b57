"""The raw files a data source reads, and fingerprints of them (for the ``files`` source,
every image its items table points to as well).

The ``source`` stage writes :func:`content_fingerprint` to ``data/source.json`` on every run;
``ingest`` depends on that file, so DVC reruns ingest (and what follows) only when the bytes
of the raw inputs, the params or the code changed. The synthetic source reads no file: its
data is its params. :func:`stat_fingerprint` is the cheap poll the data watcher uses.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl

from esans.config import DataParams
from esans.io import md5_file


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


def image_files(root: Path, data: DataParams) -> list[Path]:
    """The image files the ``files`` source's items table points to (resolved; missing ones
    left out); none for other sources or a table ingest will refuse (ingest names why)."""
    from esans.data.files import ITEM_COLUMNS, read_table
    from esans.errors import EsansError

    if data.source != "files":
        return []
    items = (Path(root) / data.files.items)
    try:
        table = read_table(items, ITEM_COLUMNS)
    except EsansError:
        return []
    if "image_path" not in table.columns or table["image_path"].dtype != pl.String:
        return []
    base = items.parent.resolve()
    out = set()
    for v in table["image_path"].drop_nulls().to_list():
        v = v.strip()
        if v and not Path(v).is_absolute() and (base / v).is_file():
            out.add((base / v).resolve())
    return sorted(out)


def _digest(f: Path, memo: dict[str, list], fresh: dict[str, list]) -> str:
    """md5 of ``f``, reusing ``memo``'s when its size and mtime did not change."""
    st = f.stat()
    old = memo.get(str(f))
    digest = old[2] if old and old[:2] == [st.st_size, st.st_mtime_ns] else md5_file(f)
    fresh[str(f)] = [st.st_size, st.st_mtime_ns, digest]
    return digest


def content_fingerprint(root: Path, data: DataParams, memo: dict[str, list] | None = None,
                        images: list[Path] | None = None) -> tuple[dict, dict[str, list]]:
    """``({"source", "inputs": {path: {"size", "md5"}}}, memo)``: what the source reads, by
    content. Paths are written as given in params (relative to the project root when they
    are), so the fingerprint is the same in every clone. ``memo`` maps a resolved path to
    ``[size, mtime_ns, md5]`` from the previous call: a file whose size and mtime did not
    change is not read again (what DVC does for its own deps). ``images``: the image files
    (``image_files``) when the caller already listed them, so the items table is read once.
    """
    memo = dict(memo or {})
    root = Path(root).resolve()
    fresh: dict[str, list] = {}
    found: dict[str, dict] = {}
    for top in inputs(root, data):
        for f in _files(top):
            digest = _digest(f, memo, fresh)
            try:
                shown = f.relative_to(root).as_posix()
            except ValueError:
                shown = f.as_posix()
            found[shown] = {"size": fresh[str(f)][0], "md5": digest}
    out = {"source": data.source, "inputs": dict(sorted(found.items()))}
    images = image_files(root, data) if images is None else images
    if images:   # every image the items point to, by content: one digest for them all
        h = hashlib.md5(usedforsecurity=False)
        base = (root / data.files.items).parent.resolve()
        for f in images:
            rel = f.relative_to(base).as_posix() if f.is_relative_to(base) else f.as_posix()
            h.update(f"{rel}\t{_digest(f, memo, fresh)}\n".encode())
        out["images"] = {"files": len(images), "md5": h.hexdigest()}
    return out, fresh


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
