"""The ``bundle`` stage: package the evaluated model for serving (see ``esans.bundle``)."""

from __future__ import annotations

import time
from pathlib import Path

from esans import paths
from esans.bundle import assemble
from esans.config import Params
from esans.io import atomic_dir
from esans.stages.common import write_report


def bundle(p: Params) -> dict:
    t0 = time.perf_counter()
    with atomic_dir(paths.BUNDLE) as out:
        manifest = assemble(Path("."), out)
    return write_report("bundle", {"model_hash": manifest["model_hash"],
                                   "files": len(manifest["files"]),
                                   "bytes": sum(f["bytes"] for f in manifest["files"].values())},
                        t0)
