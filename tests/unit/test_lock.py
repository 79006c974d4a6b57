"""The workspace lock: a second holder is refused with a clear message, a dead holder's lock
is released by the kernel."""

import subprocess
import sys
import time

import pytest

from esans.errors import EsansError
from esans.lock import workspace_lock

HOLD = """
import sys, time
from esans.lock import workspace_lock
with workspace_lock(sys.argv[1], what="flow"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_second_run_is_refused_while_the_first_holds_the_lock(tmp_path):
    lock = tmp_path / "ws.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock), "30"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(EsansError, match=r"another esans stage is using this workspace "
                                             rf"\(pid {holder.pid}\)"):
            with workspace_lock(lock, what="stage"):
                pass
        holder.kill()                                   # kill -9: the kernel drops the lock
        holder.wait()
        t0 = time.monotonic()
        with workspace_lock(lock, wait_s=5):
            pass
        assert time.monotonic() - t0 < 5
    finally:
        holder.kill()


def test_waiting_run_gets_the_lock_when_the_first_finishes(tmp_path):
    lock = tmp_path / "ws.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock), "1"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    t0 = time.monotonic()
    with workspace_lock(lock, wait_s=30):
        waited = time.monotonic() - t0
    holder.wait()
    assert 0.5 < waited < 30                            # it waited for the 1 s holder
