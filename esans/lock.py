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


@contextlib.contextmanager
def workspace_lock(path: str | Path, wait_s: float = 0.0, what: str = "run") -> Iterator[None]:
    """Hold an exclusive lock on ``path``; wait up to ``wait_s`` seconds, then refuse."""
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
                    raise EsansError(f"another esans {what} is using this workspace "
                                     f"({holder}); try again when it has finished",
                                     path=path, rule="lock") from None
                time.sleep(0.2)
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        yield
    finally:
        fh.close()
