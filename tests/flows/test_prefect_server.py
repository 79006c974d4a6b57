"""`prefect deployment run` against a real Prefect server on 127.0.0.1, with a process work
pool and a worker, deployed from prefect.yaml. Everything is stopped afterwards, even on
failure."""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import timezone
from pathlib import Path

import pytest

from tests.conftest import run

pytestmark = pytest.mark.slow
PREFECT = str(Path(sys.executable).parent / "prefect")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"prefect server exited: {proc.stdout.read()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise AssertionError("prefect server did not become healthy")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


class Server:
    """A Prefect server on a free port, its processes and the CLI environment that reaches it."""

    def __init__(self, project: Path, home: Path) -> None:
        self.project = project
        self.port = _free_port()
        self.api = f"http://127.0.0.1:{self.port}/api"
        self.env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": self.api,
                    "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
                    "ESANS_PROJECT_DIR": str(project),
                    # the scheduler's loop, 60 s by default: the test waits for its runs
                    "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        self.procs: list[subprocess.Popen] = []

    def start(self, *args: str) -> subprocess.Popen:
        p = subprocess.Popen([PREFECT, *args], cwd=self.project, env=self.env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True)
        self.procs.append(p)
        return p

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return run([PREFECT, *args], self.project, env=self.env, timeout=timeout)

    def query(self, coro_fn):
        """Run ``coro_fn(client)`` against this server."""
        from prefect.client.orchestration import get_client
        # Settings are read once per process: an earlier test in this session may have fixed
        # them, so point the client at this server explicitly.
        from prefect.settings import PREFECT_API_URL, temporary_settings

        async def go():
            async with get_client() as client:
                return await coro_fn(client)

        with temporary_settings(updates={PREFECT_API_URL: self.api}):
            return asyncio.run(go())


@pytest.fixture
def server(tiny_project, tmp_path):
    srv = Server(tiny_project, tmp_path / "prefect")
    try:
        _wait_healthy(srv.api, srv.start("server", "start", "--host", "127.0.0.1", "--port",
                                         str(srv.port)))
        srv.cli("work-pool", "create", "esans-process", "--type", "process")
        yield srv
    finally:
        for p in reversed(srv.procs):
            _stop(p)
    assert all(p.poll() is not None for p in srv.procs)


def _deployment_runs(name: str):
    async def read(client):
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

        return await client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[name])))
    return read


def test_nightly_schedule_creates_runs_at_the_cron_times(server):
    """`prefect deploy --all` registers the nightly cron; the server's scheduler must then
    create its upcoming runs at 02:00 UTC (with SQLAlchemy 2.1 it fails every loop and
    creates none: hence the sqlalchemy<2.1 pin)."""
    server.cli("--no-prompt", "deploy", "--all")
    deadline, runs = time.monotonic() + 120, []
    while time.monotonic() < deadline and not runs:
        time.sleep(3)
        runs = server.query(_deployment_runs("nightly"))
    assert runs, "the scheduler created no run for the nightly deployment in 120 s"
    for r in runs:
        assert r.state.type.value == "SCHEDULED"
        start = r.expected_start_time.astimezone(timezone.utc)
        assert (start.hour, start.minute, start.second) == (2, 0, 0), start
    days = sorted({r.expected_start_time.date() for r in runs})
    assert len(days) == len(runs) >= 2  # one run per night, several nights ahead
    assert not server.query(_deployment_runs("retrain"))  # no schedule: nothing created


def test_deployment_run_on_a_real_server(server):
    tiny_project = server.project
    server.start("worker", "start", "--pool", "esans-process")
    server.cli("--no-prompt", "deploy", "--all")
    out = server.cli("deployment", "run", "retrain/retrain", "--watch", "--watch-timeout", "900",
                     timeout=960)
    assert "Completed" in out.stdout + out.stderr, out.stdout[-3000:]

    async def artifacts(client):
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

        return await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["esans-retrain"])))

    runs = server.query(_deployment_runs("retrain"))
    arts = server.query(artifacts)
    assert [r.state.type.value for r in runs] == ["COMPLETED"]
    assert arts and "Recall@50" in arts[0].data and "promoted" in arts[0].data
    assert (tiny_project / "models/current/model.pt").exists()
    record = json.loads((tiny_project / "models/registry.jsonl").read_text().splitlines()[0])
    assert record["event"] == "promote" and record["test"]["recall@50"] > 0
    assert (tiny_project / "models/current/dvc.lock").exists()
