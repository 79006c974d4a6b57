"""The ``source`` stage: fingerprint the raw inputs so DVC knows when ingest is stale.

It runs on every ``dvc repro`` (``always_changed``) and only reads: a content hash per raw file
(files unchanged in size and mtime since the last run are not read again). ``data/source.json``
comes out byte-identical when the data did not change, and DVC then skips ``ingest`` and
everything after it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from esans import paths
from esans.config import Params
from esans.io import write_json


def source(p: Params) -> dict:
    from esans.data.sources import check_inputs, content_fingerprint

    t0 = time.perf_counter()
    root = Path(".")
    check_inputs(root, p.data)
    try:
        memo = json.loads(paths.SOURCE_MEMO.read_text())
    except (OSError, ValueError):
        memo = {}
    fp, memo = content_fingerprint(root, p.data, memo)
    if not paths.SOURCE.exists() or json.loads(paths.SOURCE.read_text()) != fp:
        write_json(fp, paths.SOURCE)          # untouched when equal: no needless rewrite
    paths.SOURCE_MEMO.parent.mkdir(parents=True, exist_ok=True)
    write_json(memo, paths.SOURCE_MEMO)
    n = len(fp["inputs"])
    return {"source": p.data.source, "files": n,
            "bytes": sum(v["size"] for v in fp["inputs"].values()),
            "seconds": round(time.perf_counter() - t0, 3)}
