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


def test_deployment_run_on_a_real_server(tiny_project, tmp_path):
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_API_URL": api,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
           "ESANS_PROJECT_DIR": str(tiny_project),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    procs: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        p = subprocess.Popen([PREFECT, *args], cwd=tiny_project, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True)
        procs.append(p)
        return p

    try:
        server = start("server", "start", "--host", "127.0.0.1", "--port", str(port))
        _wait_healthy(api, server)
        run([PREFECT, "work-pool", "create", "esans-process", "--type", "process"],
            tiny_project, env=env)
        start("worker", "start", "--pool", "esans-process")
        run([PREFECT, "--no-prompt", "deploy", "--all"], tiny_project, env=env, timeout=300)
        out = run([PREFECT, "deployment", "run", "retrain/retrain", "--watch",
                   "--watch-timeout", "900"], tiny_project, env=env, timeout=960)
        assert "Completed" in out.stdout + out.stderr, out.stdout[-3000:]

        async def inspect():
            from prefect.client.orchestration import get_client
            from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

            async with get_client() as client:
                runs = await client.read_flow_runs()
                arts = await client.read_artifacts(
                    artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["esans-retrain"])))
                return runs, arts

        # Settings are read once per process: an earlier test in this session may have fixed
        # them, so point the client at this server explicitly.
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: api}):
            runs, arts = asyncio.run(inspect())
        assert [r.state.type.value for r in runs] == ["COMPLETED"]
        assert arts and "Recall@50" in arts[0].data and "promoted" in arts[0].data
        assert (tiny_project / "models/current/model/model.pt").exists()
        record = json.loads((tiny_project / "models/registry.jsonl").read_text().splitlines()[0])
        assert record["metrics"]["test"]["recall@50"] > 0 and record["dvc_lock_sha256"]
    finally:
        for p in reversed(procs):
            _stop(p)
    assert all(p.poll() is not None for p in procs)
