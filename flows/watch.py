"""Retrain when upstream data changes: watch the raw inputs, emit a Prefect event.

The ``retrain`` deployment carries a trigger (``prefect.yaml``) on the event
``esans.data.changed`` from the resource ``esans.project`` whose ``esans.project.dir`` is this
project, so Prefect starts a retrain run as soon as the data changes, not at 02:00. The run
is an ordinary one: DVC finds what the new data made stale and reruns only that.

``make serve`` starts this watcher beside the worker. It polls the inputs the configured
source reads (``data.files.interactions`` / ``items``, files or folders, or the movielens
folder; the synthetic source has none: its data is params, which DVC tracks) for size and
modification time, waits until a change has settled (a data drop written in pieces triggers
one run, not several), and emits one event listing what changed.

Wire your own data drop to it by writing into those paths (the recommended layout keeps them
under ``data/raw/`` tracked with ``dvc add data/raw``, so each data version is a git commit),
or emit the same event yourself from any Prefect client:

    from prefect.events import emit_event
    emit_event("esans.data.changed", resource={"prefect.resource.id": "esans.project",
                                              "esans.project.dir": "/path/to/project"})

    python -m flows.watch --project-dir . --interval 5
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

from esans.config import load_params
from esans.data import sources

EVENT = "esans.data.changed"
log = logging.getLogger("esans.watch")


def inputs(root: Path) -> list[Path]:
    """The raw inputs the configured source reads, resolved against the project root."""
    return sources.inputs(root, load_params(root / "params.yaml").data)


fingerprint = sources.stat_fingerprint


def changed(old: dict, new: dict) -> list[str]:
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


def emit(root: Path, what: list[str]) -> None:
    from prefect.events import emit_event

    emit_event(EVENT, resource={"prefect.resource.id": "esans.project",
                                "esans.project.dir": str(root)},
               payload={"changed": what[:50], "n_changed": len(what)})
    log.info("data changed (%d files, e.g. %s): emitted %s", len(what), what[0], EVENT)


def watch(root: Path, interval: float = 5.0) -> None:
    root = Path(root).resolve()
    seen = fingerprint(inputs(root))
    log.info("watching %d files under %s", len(seen), [str(p) for p in inputs(root)])
    while True:
        time.sleep(interval)
        try:
            now = fingerprint(inputs(root))
        except Exception as exc:  # noqa: BLE001 - bad params or a file mid-move: next poll
            log.warning("cannot read the inputs now: %s", exc)
            continue
        if now == seen:
            continue
        while True:                                # settle: no change for one interval
            time.sleep(interval)
            later = fingerprint(inputs(root))
            if later == now:
                break
            now = later
        emit(root, changed(seen, now))
        seen = now


def main() -> None:
    ap = argparse.ArgumentParser(description="emit esans.data.changed when raw inputs change")
    ap.add_argument("--project-dir", default=os.environ.get("ESANS_PROJECT_DIR", "."))
    ap.add_argument("--interval", type=float, default=5.0, help="seconds between polls")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    watch(Path(a.project_dir), a.interval)


if __name__ == "__main__":
    main()
