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


DVC_HOLD = """
import sys, time
from dvc.lock import make_lock
lock = make_lock(sys.argv[1] + "/.dvc/tmp/lock")   # what `dvc repro` holds while it runs
lock.lock()
print("held", flush=True)
time.sleep(30)
"""


def _holding(code: str, *args: str) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_one_pipeline_run_owns_the_workspace(tiny_project):
    """A stage by hand refuses while `dvc repro` runs; `dvc repro` refuses while a stage runs
    by hand or a flow runs (each names who holds the workspace); nothing is written."""
    from tests.conftest import BIN, run

    esans, dvc = str(BIN / "esans"), str(BIN / "dvc")
    holder = _holding(DVC_HOLD, str(tiny_project))
    try:
        proc = run([esans, "source"], tiny_project, check=False)
        assert proc.returncode == 2 and "`dvc repro` (or another dvc command) is using this " \
            f"workspace (pid {holder.pid})" in proc.stderr, proc.stderr
    finally:
        holder.kill()
        holder.wait()
    assert not (tiny_project / "data").exists()

    by_hand = "from esans.lock import pipeline_locks\nimport sys, time, os\nos.chdir(sys.argv[1])"\
              "\nwith pipeline_locks():\n    print('held', flush=True)\n    time.sleep(30)\n"
    holder = _holding(by_hand, str(tiny_project))
    try:
        proc = run([dvc, "repro"], tiny_project, check=False, timeout=120)
        assert proc.returncode != 0 and "lock" in (proc.stdout + proc.stderr).lower()
    finally:
        holder.kill()
        holder.wait()
    assert not (tiny_project / "data").exists()

    holder = _holding(HOLD, str(tiny_project / ".dvc/tmp/esans-flow.lock"), "30")
    try:
        proc = run([dvc, "repro"], tiny_project, check=False, timeout=120)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0 and "a retrain or sweep flow is using this workspace " \
            f"(pid {holder.pid})" in out, out
    finally:
        holder.kill()
        holder.wait()
    assert not (tiny_project / "data").exists()
