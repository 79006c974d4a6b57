"""Load on `esans serve` over loopback: requests/s and latency, then the same load while the
champion is switched back and forth (every answer must be whole and from the model it names).

    python bench/serve_load.py [--project .] [--requests 2000] [--clients 8]

Needs a project with a promoted model; with two or more bundles in its registry, the second
phase toggles `esans rollback` between the last two while the load runs, and checks every
answer against that model's own answer. Writes bench/results/serve-load.json.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ESANS = str(Path(sys.executable).parent / "esans")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load(url: str, users: list[str], n: int, clients: int) -> tuple[list, list]:
    import httpx

    lat, answers = [], []

    def one(i: int) -> None:
        with httpx.Client(timeout=30) as c:
            for j in range(i, n, clients):
                u = users[j % len(users)]
                t0 = time.perf_counter()
                r = c.get(f"{url}/recommend", params={"user": u, "k": 10})
                lat.append(time.perf_counter() - t0)
                body = r.json() if r.status_code == 200 else {}
                answers.append((u, r.status_code, body.get("model_id"),
                                [x["item_id"] for x in body.get("items", [])]))

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(clients)))
    return lat, answers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--project", type=Path, default=ROOT)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=8)
    a = ap.parse_args()
    import polars as pl

    from esans.bundle import Bundle
    from esans.query import Server
    from esans.registry import current_id, served_history

    p = a.project.resolve()
    users = pl.read_parquet(p / "models/current/users.parquet")["user_id"].to_list()[:200]
    ids = [i for i in served_history(p) if (p / "models/registry" / i).is_dir()][-2:]
    expected = {i: {u: [r["item_id"] for r in Server(Bundle(p / "models/registry" / i))
                        .recommend(u, 10)] for u in users} for i in ids}
    port = free_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.Popen([ESANS, "serve", "--port", str(port)], cwd=p, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        for _ in range(600):
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        result = {"project": str(p), "n_items": Bundle(p / "models/current").meta["n_items"],
                  "requests": a.requests, "clients": a.clients, "phases": {}}
        start = current_id(p)
        for phase in ("steady", "switching"):
            stop = threading.Event()
            switches = []

            def toggle() -> None:
                k = 0
                while not stop.is_set() and len(ids) == 2:
                    subprocess.run([ESANS, "rollback", ids[k % 2]], cwd=p, env=env,
                                   check=True, capture_output=True)
                    switches.append(ids[k % 2])
                    k += 1
                    time.sleep(0.2)

            t = threading.Thread(target=toggle) if phase == "switching" else None
            if t:
                t.start()
            t0 = time.perf_counter()
            lat, answers = load(url, users, a.requests, a.clients)
            wall = time.perf_counter() - t0
            stop.set()
            if t:
                t.join()
            bad = [x for x in answers if x[1] != 200]
            wrong = [x for x in answers if x[1] == 200 and x[2] in expected
                     and x[3] != expected[x[2]][x[0]]]
            ms = np.array(lat) * 1000
            result["phases"][phase] = {
                "requests_per_s": round(len(answers) / wall, 1),
                "p50_ms": round(float(np.percentile(ms, 50)), 2),
                "p99_ms": round(float(np.percentile(ms, 99)), 2),
                "failed": len(bad), "not_whole_or_wrong_model": len(wrong),
                "models_answering": sorted({x[2] for x in answers if x[2]}),
                "switches": len(switches)}
            print(phase, result["phases"][phase], flush=True)
        subprocess.run([ESANS, "rollback", start], cwd=p, env=env, capture_output=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    out = ROOT / "bench/results/serve-load.json"
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
