"""Load on `esans serve` over loopback: requests/s and latency, then the same load while the
champion is switched back and forth (every answer must be whole and from the model it names).

    python bench/serve_load.py --label NAME [--project .] [--requests 2000] [--clients 8]
    python bench/serve_load.py --label 1m-ivf --synthetic 1000000:2000:200000 --ivf --requests 8000

Needs a project with a promoted model; with two or more bundles in its registry, the second
phase toggles `esans rollback` between the last two while the load runs, and checks every
answer against that model's own answer. `--synthetic` builds such a project instead: two
models of the pipeline's shapes at that size (bench/bundle.py's workspace, random weights:
serving cost does not depend on them), each bundled and promoted. Writes one row per label
into bench/results/serve-load.json.
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


def synthetic_project(root: Path, size: str, serving: str) -> Path:
    """Two promoted models of the pipeline's shapes at ``size`` (items:users:events)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from bundle import workspace

    from esans import paths, registry
    from esans.bundle import assemble
    from esans.io import atomic_dir

    n_items, n_users, n_events = map(int, size.split(":"))
    for seed in (0, 1):
        workspace(root, n_items, n_users, n_events, seed=seed, serving=serving)
        with atomic_dir(root / paths.BUNDLE) as out:
            assemble(root, out)
        registry.promote(root, force=True)
        time.sleep(1.1)                          # model ids carry the second they were made
    return root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--label", required=True, help="the row's name in serve-load.json")
    ap.add_argument("--project", type=Path, default=ROOT)
    ap.add_argument("--synthetic", metavar="ITEMS:USERS:EVENTS")
    ap.add_argument("--ivf", action="store_true", help="with --synthetic: an IVF serving index")
    ap.add_argument("--requests", type=int, default=2000, help="a phase's requests")
    ap.add_argument("--clients", type=int, default=8)
    a = ap.parse_args()
    import shutil
    import tempfile

    if a.synthetic:
        work = ROOT / "bench/.work"
        work.mkdir(parents=True, exist_ok=True)
        a.project = Path(tempfile.mkdtemp(dir=work))
        try:
            run(a, synthetic_project(a.project, a.synthetic, "ivf" if a.ivf else "flat"))
        finally:
            shutil.rmtree(a.project, ignore_errors=True)
    else:
        run(a, a.project.resolve())


def run(a: argparse.Namespace, p: Path) -> None:
    import polars as pl

    from esans.bundle import Bundle
    from esans.query import Server
    from esans.registry import current_id, served_history

    users = pl.read_parquet(p / "models/current/users.parquet")["user_id"].to_list()[:200]
    ids = [i for i in served_history(p) if (p / "models/registry" / i).is_dir()][-2:]
    servers = {i: Server(Bundle(p / "models/registry" / i)) for i in ids}
    expected = {i: {u: [r["item_id"] for r in s.recommend(u, 10)] for u in users}
                for i, s in servers.items()}
    del servers
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
        champion = Bundle(p / "models/current")
        result = {"label": a.label, "synthetic": a.synthetic,
                  "n_items": champion.meta["n_items"],
                  "serving_index": "ivf" if (p / "models/current/serving.faiss").exists()
                  else "flat", "requests": a.requests, "clients": a.clients, "phases": {}}
        start = current_id(p)
        for phase in ("steady", "switching"):
            stop = threading.Event()
            switches = []

            def toggle() -> None:
                """Switch the champion, wait until the server answers from it (its reload:
                verify + load), pause 0.2 s, switch back; the seconds each took are kept."""
                k = 0
                while not stop.is_set() and len(ids) == 2:
                    target, t_sw = ids[k % 2], time.perf_counter()
                    subprocess.run([ESANS, "rollback", target], cwd=p, env=env,
                                   check=True, capture_output=True)
                    while not stop.is_set() and httpx.get(f"{url}/health", timeout=30).json()[
                            "model_id"] != target:
                        time.sleep(0.05)
                    if not stop.is_set():
                        switches.append(round(time.perf_counter() - t_sw, 2))
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
                "switches": len(switches),
                "switch_s_median": float(np.median(switches)) if switches else None}
            print(phase, result["phases"][phase], flush=True)
        subprocess.run([ESANS, "rollback", start], cwd=p, env=env, capture_output=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    out = ROOT / "bench/results/serve-load.json"
    doc = json.loads(out.read_text()) if out.exists() else {}
    rows = [r for r in doc.get("rows", []) if r.get("label") != a.label] + [result]
    doc = {"machine": f"{os.cpu_count()}-core CPU box, loopback, server and load generator on "
                      "the same cores", "rows": rows}
    out.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
