"""Retrain when upstream data changes: watch the raw inputs, emit a Prefect event.

The ``retrain`` deployment carries a trigger (``prefect.yaml``) on the event
``esans.data.changed`` from the resource ``esans.project`` whose ``esans.project.dir`` is this
project, so Prefect starts a retrain run as soon as the data changes, not at 02:00. The run
is an ordinary one: DVC finds what the new data made stale and reruns only that.

``make serve`` starts this watcher beside the worker. It polls the inputs the configured
source reads (``data.files.interactions`` / ``items``, files or folders, the images the items
point to, or the movielens folder; the synthetic source has none: its data is params, which
DVC tracks) for size and modification time, waits until a change has settled (a data drop
written in pieces triggers one run, not several), and emits one event listing what changed
by content: a touch, or a retrain run's own run-only parameters, start nothing.

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


def configured(root: Path):
    """The data params the user configured. While a retrain run applies its own run-only
    overrides to params.yaml (backed up in .dvc/tmp, ``tasks.params``), the backup is the
    user's file: a run's ``-p data_path=...`` is not a data change."""
    from tasks.params import BACKUP

    backup = Path(root) / BACKUP
    return load_params(backup if backup.exists() else Path(root) / "params.yaml").data


def inputs(root: Path) -> list[Path]:
    """The raw inputs the configured source reads, resolved against the project root."""
    return sources.inputs(root, configured(root))


def changed(old: dict, new: dict) -> list[str]:
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


class Watcher:
    """Polls the configured inputs (and, for the files source, the images the items point
    to) by size and modification time, cheaply; when those move, compares their content
    (md5, memoised by size and mtime): a touch or a copy of the same bytes is no change."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.memo: dict[str, list] = {}
        self.images: list[Path] = []
        self.stat = self._stat(refresh=True)
        self.content = self._content()

    def _stat(self, refresh: bool = False) -> dict:
        tables = sources.stat_fingerprint(inputs(self.root))
        if refresh or tables != getattr(self, "stat", {}).get("tables"):
            self.images = sources.image_files(self.root, configured(self.root))
        return {"tables": tables, "images": sources.stat_fingerprint(self.images)}

    def _content(self) -> dict:
        fp, self.memo = sources.content_fingerprint(self.root, configured(self.root), self.memo,
                                                    self.images)
        return fp

    def moved(self) -> bool:
        """Whether any watched file's size or mtime changed since the last look."""
        now = self._stat()
        if now == self.stat:
            return False
        self.stat = now
        return True

    def changes(self) -> list[str]:
        """What changed by content since the last change reported (empty: nothing did)."""
        now = self._content()
        what = changed(self.content["inputs"], now["inputs"])
        if self.content.get("images") != now.get("images"):
            what.append(f"images ({(now.get('images') or {}).get('files', 0)} files)")
        self.content = now
        return what


def emit(root: Path, what: list[str]) -> None:
    from prefect.events import emit_event

    emit_event(EVENT, resource={"prefect.resource.id": "esans.project",
                                "esans.project.dir": str(root)},
               payload={"changed": what[:50], "n_changed": len(what)})
    log.info("data changed (%d files, e.g. %s): emitted %s", len(what), what[0], EVENT)


def watch(root: Path, interval: float = 5.0) -> None:
    w = Watcher(root)
    log.info("watching %d files under %s", len(w.stat["tables"]) + len(w.images),
             [str(p) for p in inputs(w.root)])
    while True:
        time.sleep(interval)
        try:
            if not w.moved():
                continue
            while True:                            # settle: no change for one interval
                time.sleep(interval)
                if not w.moved():
                    break
            what = w.changes()
        except Exception as exc:  # noqa: BLE001 - bad params or a file mid-move: next poll
            log.warning("cannot read the inputs now: %s", exc)
            continue
        if what:
            emit(w.root, what)
        else:
            log.info("inputs touched, content unchanged: no run")


def main() -> None:
    ap = argparse.ArgumentParser(description="emit esans.data.changed when raw inputs change")
    ap.add_argument("--project-dir", default=os.environ.get("ESANS_PROJECT_DIR", "."))
    ap.add_argument("--interval", type=float, default=5.0, help="seconds between polls")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    watch(Path(a.project_dir), a.interval)


if __name__ == "__main__":
    main()
