"""A workspace lock so two runs never write the same artifacts at once.

``fcntl.flock`` on a lock file: released by the kernel when the holder exits, even on
``kill -9``, so a crash never leaves a stale lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from esans.errors import EsansError


FLOW_ENV = "ESANS_FLOW_RUN"   # set by the retrain/sweep flows for the dvc commands they start


@contextlib.contextmanager
def pipeline_locks(root: str | Path = ".") -> Iterator[None]:
    """What one ``esans <stage>`` holds: the stage lock, and, so that one pipeline run owns
    the workspace from its first stage to its last, the locks of the runs it is not part of:
    a stage started by hand (not by ``dvc repro``: no ``DVC_STAGE`` in its environment) takes
    DVC's own repo lock (``.dvc/tmp/lock``), so it refuses while ``dvc repro`` runs and
    ``dvc repro`` refuses while it runs; a stage not started by a flow takes the flows' lock,
    so a ``dvc repro`` or a stage by hand refuses while a retrain or sweep flow runs."""
    tmp = Path(root) / ".dvc/tmp"
    with contextlib.ExitStack() as stack:
        stack.enter_context(workspace_lock(tmp / "esans-stage.lock", what="stage"))
        if FLOW_ENV not in os.environ:
            stack.enter_context(workspace_lock(tmp / "esans-flow.lock",
                                               held_by="a retrain or sweep flow"))
        if "DVC_STAGE" not in os.environ and (Path(root) / ".dvc").is_dir():
            stack.enter_context(workspace_lock(tmp / "lock", held_by="`dvc repro` (or another "
                                                                      "dvc command)"))
        yield


@contextlib.contextmanager
def workspace_lock(path: str | Path, wait_s: float = 0.0, what: str = "run",
                   held_by: str | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``path``; wait up to ``wait_s`` seconds, then refuse, naming
    the holder (``held_by``, else "another esans <what>") and its pid."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+")
    deadline = time.monotonic() + wait_s
    try:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    fh.seek(0)
                    holder = fh.read().strip() or "another process"
                    holder = f"pid {holder}" if holder.isdigit() else holder  # DVC's own
                    raise EsansError(f"{held_by or f'another esans {what}'} is using this "
                                     f"workspace ({holder}); try again when it has finished",
                                     path=path, rule="lock") from None
                time.sleep(0.2)
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        yield
    finally:
        fh.close()
