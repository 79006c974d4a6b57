"""`prefect deployment run` against a real Prefect server on 127.0.0.1, with a process work
pool and a worker, deployed from prefect.yaml. Everything is stopped afterwards, even on
failure."""

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from datetime import timezone
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import BIN, ROOT, run, set_params

pytestmark = pytest.mark.slow
PREFECT = str(Path(sys.executable).parent / "prefect")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`scripts/prefect.sh` (what `make serve` runs) on a free port for a tiny project: server,
    work pool, worker and deployments, and the CLI environment that reaches them."""

    def __init__(self, project: Path, home: Path) -> None:
        self.project = project
        self.port = _free_port()
        self.api = f"http://127.0.0.1:{self.port}/api"
        self.home = home
        self.env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": self.api,
                    "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
                    "ESANS_PROJECT_DIR": str(project), "ESANS_BIN": str(BIN),
                    # the scheduler's loop, 60 s by default: the test waits for its runs
                    "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
                    "ESANS_WATCH_INTERVAL": "1",
                    "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}

    def script(self, *args: str, timeout: float = 300,
               check: bool = True) -> subprocess.CompletedProcess:
        return run(["bash", str(ROOT / "scripts/prefect.sh"), *args], self.project, env=self.env,
                   timeout=timeout, check=check)

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return run([PREFECT, *args], self.project, env=self.env, timeout=timeout)

    def query(self, coro_fn):
        """Run ``coro_fn(client)`` against this server."""
        from prefect.client.orchestration import get_client
        # Settings are read once per process: an earlier test in this process may have fixed
        # them, so point the client at this server explicitly.
        from prefect.settings import PREFECT_API_URL, temporary_settings

        async def go():
            async with get_client() as client:
                return await coro_fn(client)

        with temporary_settings(updates={PREFECT_API_URL: self.api}):
            return asyncio.run(go())


@contextlib.contextmanager
def serving(project: Path, home: Path):
    """`scripts/prefect.sh start` ... `stop` around the body; everything stopped after."""
    srv = Server(project, home)
    # before it runs, a clear error names the API it could not reach
    proc = srv.script("run", check=False)
    assert proc.returncode == 1 and f"no Prefect API at {srv.api}" in proc.stderr
    try:
        out = srv.script("start", timeout=600).stdout
        assert "retrain/nightly" in out
        yield srv
    finally:
        srv.script("stop", check=False)
    status = srv.script("status", check=False).stdout
    assert all(f"{p}: stopped" in status for p in ("server", "worker", "watch")), status
    assert "not reachable" in status


@pytest.fixture
def server(tiny_project, tmp_path):
    with serving(tiny_project, tmp_path / "prefect") as srv:
        yield srv


@pytest.fixture
def files_project(tiny_project):
    """The tiny project reading a `files` source under data/raw/ (parquet parts)."""
    from esans.data.synthetic_scale import ScaleParams, generate

    p = tiny_project
    set_params(p, {"data": {"source": "files", "files": {
        "interactions": "data/raw/interactions", "items": "data/raw/items"}}})
    generate(ScaleParams(n_items=300, n_users=100, n_events=3000, n_groups=4,
                         topics_per_group=2, dim=16, chunk_items=300, chunk_users=100),
             p / "data/raw", seed=1)
    return p


def _deployment_runs(name: str):
    async def read(client):
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

        return await client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[name])))
    return read


def test_nightly_schedule_and_data_trigger_create_runs(files_project, tmp_path):
    """`make serve`'s script deploys prefect.yaml: the server's scheduler creates the nightly
    runs at the cron times (with SQLAlchemy 2.1 it fails every loop and creates none: hence the
    sqlalchemy<2.1 pin), and the data watcher turns a change of the interactions into a
    retrain run through the deployment's trigger, with no manual step."""
    with serving(files_project, tmp_path / "prefect") as server:
        deadline, runs = time.monotonic() + 120, []
        while time.monotonic() < deadline and not runs:
            time.sleep(3)
            runs = server.query(_deployment_runs("nightly"))
        assert runs, "the scheduler created no run for the nightly deployment in 120 s"
        for r in runs:
            assert r.state.type.value == "SCHEDULED" and "nightly" in r.tags
            start = r.expected_start_time.astimezone(timezone.utc)
            assert (start.hour, start.minute, start.second) == (2, 0, 0), start
        days = sorted({r.expected_start_time.date() for r in runs})
        assert len(days) == len(runs) >= 2  # one run per night, several nights ahead
        assert not server.query(_deployment_runs("retrain"))  # no schedule, no data change

        log = Path(server.env["PREFECT_HOME"]) / "logs/watch.log"
        deadline = time.monotonic() + 30
        while "watching" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline, "the data watcher did not start"
            time.sleep(0.5)
        part = next((files_project / "data/raw/interactions").glob("part-*.parquet"))
        df = pl.read_parquet(part)
        df.head(df.height - 10).write_parquet(part)                # a new data version
        deadline, runs = time.monotonic() + 90, []
        while time.monotonic() < deadline and not runs:
            time.sleep(2)
            runs = server.query(_deployment_runs("retrain"))
        assert len(runs) == 1, "no retrain run was triggered by the data change"
        assert runs[0].created_by is not None and runs[0].created_by.type == "AUTOMATION"
        assert "data changed (1 files" in log.read_text()


def test_deployment_runs_queue_and_leave_params_alone(server):
    """Two runs started together: the second waits for the first (deployment concurrency 1,
    ENQUEUE), then finds the pipeline up to date; the run parameter applies to the runs only."""
    tiny_project = server.project
    params_before = (tiny_project / "params.yaml").read_bytes()
    for _ in range(2):
        server.script("run", "-p", "sampler=uniform")
    deadline, runs = time.monotonic() + 900, []
    while time.monotonic() < deadline:
        runs = server.query(_deployment_runs("retrain"))
        if len(runs) == 2 and all(r.state.is_final() for r in runs):
            break
        time.sleep(3)
    assert [r.state.type.value for r in runs] == ["COMPLETED"] * 2, [r.state for r in runs]
    first, second = sorted(runs, key=lambda r: r.start_time)
    assert second.start_time >= first.end_time              # queued, never overlapping
    assert first.name.startswith("synthetic-uniform-")      # flow_run_name: source-sampler-date

    async def artifacts(client):
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

        return await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["esans-retrain"])))

    arts = {a.flow_run_id: a.data for a in server.query(artifacts)}
    assert "Recall@50" in arts[first.id] and "promoted" in arts[first.id]
    assert "up to date" in arts[second.id]
    assert "`train.sampler=uniform`" in arts[first.id]

    async def tables(client):
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

        return await client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["esans-metrics", "esans-stages"])))

    tabs = {(a.flow_run_id, a.key): a for a in server.query(tables)}
    metrics_table = tabs[(first.id, "esans-metrics")]
    rows = json.loads(metrics_table.data) if isinstance(metrics_table.data, str) \
        else metrics_table.data
    assert metrics_table.type == "table" and {r["split"] for r in rows} == {"valid", "test"}
    assert all(0 < r["recall@50"] <= 1 for r in rows)
    stages_table = tabs[(first.id, "esans-stages")]
    assert "train" in str(stages_table.data)
    # the run parameter applied to those runs only: trained with it, params.yaml untouched
    assert json.loads((tiny_project / "metrics.json").read_text())["sampler"] == "uniform"
    assert (tiny_project / "params.yaml").read_bytes() == params_before
    assert (tiny_project / "models/current/model.pt").exists()
    record = json.loads((tiny_project / "models/registry.jsonl").read_text().splitlines()[0])
    assert record["event"] == "promote" and record["test"]["recall@50"] > 0
    assert (tiny_project / "models/current/dvc.lock").exists()

