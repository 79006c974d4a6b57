"""The ``validate`` stage."""

from __future__ import annotations

import logging
import time

from esans import paths
from esans.config import Params
from esans.errors import EsansError
from esans.io import write_json
from esans.stages.common import ingested, timed

log = logging.getLogger("esans")


def validate(p: Params) -> dict:
    from esans.validate.suites import describe_failure, run

    t0 = time.perf_counter()
    items, inter = ingested()
    summary = run(items, inter, p.validate_)
    for r in summary["results"]:
        if not r["success"] and r["severity"] == "warning":
            log.warning("validate (warning): %s", describe_failure(r, r["table"]))
    if not summary["success"]:
        first = next(r for r in summary["results"]
                     if not r["success"] and r["severity"] == "error")
        src = {"items": paths.INGEST_ITEMS, "interactions": paths.INGEST_INTERACTIONS}
        raise EsansError(describe_failure(first, str(src[first["table"]]))
                         + f" ({summary['n_errors']} failed expectation(s))")
    write_json(timed(summary, t0), paths.report("validate"))
    return summary
