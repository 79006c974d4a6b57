"""Amazon review catalogues as published with S3-Rec (Zhou et al., CIKM 2020).

Files, in one folder, for a catalogue ``<name>`` (e.g. ``Beauty``, ``Sports_and_Outdoors``):

- ``<name>.txt``: one line per user, ``user_id item_id item_id ...``, the items in the order
  the user reviewed them, oldest first. There are no timestamps: the order is the only time.
- ``<name>_item2attributes.json``: ``{"<item_id>": [attr_id, ...]}``: each item's category
  and brand ids (names are not published).

What the loader makes of them:
- each user's events get timestamps 1, 2, ... in file order, so the per-user split keeps its
  meaning (``split.method: leave_last`` is the protocol these catalogues are published with);
- each item's attribute ids become its ``tags`` (``attr:<id>``): the semantic modality the
  ``encode`` stage turns into vectors (TF-IDF + truncated SVD);
- an item has no text and no image; its title is a display name (``<name> #<id>``).

Dirt policy: a line that is not integers, a user listed twice, or an item without
attributes is an error naming the file and line; an item that appears only in the
attributes file stays in the catalogue (it simply has no events).
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from esans.errors import EsansError


def files(path: str | Path, name: str) -> tuple[Path, Path]:
    """The two files of catalogue ``name`` under ``path``."""
    root = Path(path)
    return root / f"{name}.txt", root / f"{name}_item2attributes.json"


def _events(path: Path) -> tuple[list[str], list[str], list[int]]:
    users, items, stamps = [], [], []
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            fields = line.split()
            if not fields:
                continue
            if not all(f.isdigit() for f in fields):
                bad = next(f for f in fields if not f.isdigit())
                raise EsansError(f"value {bad!r} is not an integer id (a line is "
                                 "'user_id item_id item_id ...')", path=path, row=line_no,
                                 rule="s3rec-line")
            if len(fields) < 2:
                raise EsansError(f"user {fields[0]} has no items", path=path, row=line_no,
                                 rule="s3rec-line")
            user = fields[0]
            if user in seen:
                raise EsansError(f"user {user} is listed again (first on line {seen[user]})",
                                 path=path, row=line_no, rule="s3rec-user")
            seen[user] = line_no
            n = len(fields) - 1
            users.extend([user] * n)
            items.extend(fields[1:])
            stamps.extend(range(1, n + 1))
    return users, items, stamps


def _attributes(path: Path) -> dict[str, list[str]]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EsansError(f"not valid JSON: {exc}".split("\n")[0], path=path,
                         rule="s3rec-attributes") from None
    if not isinstance(raw, dict):
        raise EsansError("expected an object {item_id: [attribute ids]}", path=path,
                         rule="s3rec-attributes")
    out = {}
    for item, attrs in raw.items():
        if not isinstance(attrs, list) or not all(isinstance(a, int) for a in attrs):
            raise EsansError(f"item {item}: attributes must be a list of integer ids, got "
                             f"{attrs!r}"[:200], path=path, rule="s3rec-attributes")
        out[str(item)] = [f"attr:{a}" for a in attrs]
    return out


def load(path: str | Path, name: str) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """``(items, interactions, report)`` in the files source's column names."""
    events_file, attr_file = files(path, name)
    for f in (events_file, attr_file):
        if not f.is_file():
            raise EsansError("file not found (set by params keys data.s3rec.path and "
                             "data.s3rec.name)", path=f)
    users, item_ids, stamps = _events(events_file)
    if not users:
        raise EsansError("no events", path=events_file, rule="non-empty")
    tags = _attributes(attr_file)
    missing = sorted(set(item_ids) - set(tags), key=int)
    if missing:
        raise EsansError(f"{len(missing)} item(s) with events have no attribute entry, e.g. "
                         f"{missing[:5]}", path=attr_file, rule="s3rec-attributes")
    ids = sorted(set(item_ids) | set(tags), key=int)
    items = pl.DataFrame({
        "item_id": ids,
        "title": [f"{name} #{i}" for i in ids],
        "text": pl.Series([None] * len(ids), dtype=pl.String),
        "tags": [tags.get(i, []) for i in ids],
    }, schema_overrides={"tags": pl.List(pl.String)})
    inter = pl.DataFrame({"user_id": users, "item_id": item_ids, "timestamp": stamps},
                         schema={"user_id": pl.String, "item_id": pl.String,
                                 "timestamp": pl.Int64})
    report = {"items": items.height, "catalogue": name,
              "items_without_events": len(set(tags) - set(item_ids)),
              "distinct_tags": len({t for ts in tags.values() for t in ts})}
    return items, inter, report
