"""The ``report`` stage."""

from __future__ import annotations

import time

from esans import paths
from esans.config import Params
from esans.stages.common import timed



def report(p: Params) -> dict:
    from esans.report.html import build

    t0 = time.perf_counter()
    out = build(paths.REPORTS, paths.METRICS, p.model_dump(by_alias=True))
    return timed({"html": str(out)}, t0)
