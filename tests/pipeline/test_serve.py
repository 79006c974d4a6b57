"""`esans serve`: answers from the champion over HTTP and swaps models atomically while
promote and rollback run under load."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient

from esans.bundle import Bundle
from esans.query import Server
from esans.serve import app
from tests.conftest import BIN, copy_project, run, set_params

pytestmark = pytest.mark.slow
ESANS = str(Path(sys.executable).parent / "esans")


def _current(p: Path) -> str:
    return Path(os.readlink(p / "models/current")).name


def test_answers_come_whole_from_one_model_while_promote_and_rollback_run(built_project,
                                                                          tmp_path):
    p = copy_project(built_project, tmp_path / "ws")
    first = _current(p)
    set_params(p, {"train": {"lr": 0.004}})                 # a second, different model
    run([str(BIN / "dvc"), "repro"], p, timeout=900)
    run([ESANS, "promote", "--force"], p)
    second = _current(p)
    assert second != first
    users = pl.read_parquet(p / "data/split/users.parquet")["user_id"].to_list()[:3]
    expected = {mid: {u: [r["item_id"] for r in Server(Bundle(
        p / "models/registry" / mid)).recommend(u, 10)] for u in users}
        for mid in (first, second)}
    assert expected[first] != expected[second]

    client = TestClient(app(p, check_every=0.0))
    assert client.get("/health").json()["model_id"] == second
    answers, failures, stop = [], [], threading.Event()

    def hammer(u: str) -> None:
        while not stop.is_set():
            r = client.get("/recommend", params={"user": u, "k": 10})
            if r.status_code != 200:
                failures.append(r.text)
                continue
            body = r.json()
            answers.append((u, body["model_id"], [x["item_id"] for x in body["items"]]))

    threads = [threading.Thread(target=hammer, args=(u,)) for u in users]
    for t in threads:
        t.start()
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    for target in (first, second, first):
        subprocess.run([ESANS, "rollback", target], cwd=p, env=env, check=True,
                       capture_output=True)
        seen = len(answers)
        while not any(a[1] == target for a in answers[seen:]):    # served by the new one
            assert not failures, failures[:3]
            threading.Event().wait(0.05)
    stop.set()
    for t in threads:
        t.join()
    assert not failures, failures[:3]
    assert {a[1] for a in answers} == {first, second}
    for u, mid, items in answers:                 # whole, and from the model it names
        assert items == expected[mid][u], (u, mid)
    assert client.get("/similar", params={"item": "nope"}).status_code == 404
