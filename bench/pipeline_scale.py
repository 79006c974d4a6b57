"""The scale path through the real pipeline: one `dvc exp run` on the generated `scale` source.

    python bench/pipeline_scale.py --size 200k                 # every stage, 1 epoch
    python bench/pipeline_scale.py --size 1m --epochs 1

What a user with a large catalogue runs: a workspace copy of this project (git + DVC under
bench/.work/pipeline-<size>) and one ``dvc exp run -S data.source=scale -S data.scale...``
(items with their own vectors, ~10 events an item; docs/synthetic.md) with the settings
docs/scale.md advises at that size. Every stage runs, from the source fingerprint to the
report. Wall time per stage comes from the stages' own timings (reports/timings/), peak RSS
of the whole process tree (DVC and the stage it runs) is sampled with psutil every 50 ms,
test metrics come from metrics.json. Writes bench/results/pipeline-scale.json (one entry per
size and sampler) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import threading
import time
from pathlib import Path

import psutil

from esans.experiment import env, workspace

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench/results/pipeline-scale.json"
SIZES = {"20k": (20_000, 10_000, 200_000), "200k": (200_000, 100_000, 2_000_000),
         "1m": (1_000_000, 500_000, 10_000_000)}   # items, users, events
EVAL_USERS = 20_000
STAGES = ["source", "ingest", "validate", "split", "encode", "behaviour", "fuse", "cluster",
          "train", "index", "evaluate", "bundle", "report"]


def peak_rss(pid: int, done: threading.Event, out: list[int]) -> None:
    """The largest summed RSS of process ``pid`` and its descendants until ``done``."""
    root = psutil.Process(pid)
    while not done.is_set():
        total = 0
        try:
            for p in [root, *root.children(recursive=True)]:
                total += p.memory_info().rss
        except psutil.Error:    # a process exited between the listing and the reading
            pass
        out[0] = max(out[0], total)
        time.sleep(0.05)


def run(size: str, sampler: str, epochs: int, threads: int) -> dict:
    work = ROOT / f"bench/.work/pipeline-{size}"
    workspace(ROOT, work)
    n_items, n_users, n_events = SIZES[size]
    sets = {"data.source": "scale", "data.scale.n_items": n_items,
            "data.scale.n_users": n_users, "data.scale.n_events": n_events,
            "train.sampler": sampler, "train.epochs": epochs,
            "train.patience": 2, "train.valid_users": 2000, "train.threads": threads}
    if size == "1m":  # what docs/scale.md advises at this size: sampled final metrics, IVF serving
        sets.update({"evaluate.users": EVAL_USERS, "index.serving": "ivf"})
    cmd = ["dvc", "exp", "run", "-n", f"{size}-{sampler}-e{epochs}", "--force"]
    for k, v in sets.items():
        cmd += ["-S", f"{k}={v}"]
    log = work / f"exp-{sampler}.log"
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=work, env=env(), stdout=fh, stderr=subprocess.STDOUT)
        done, peak = threading.Event(), [0]
        threading.Thread(target=peak_rss, args=(proc.pid, done, peak), daemon=True).start()
        rc = proc.wait()
        done.set()
    wall, peak_gb = time.perf_counter() - t0, peak[0] / 2 ** 30
    if rc != 0:
        raise SystemExit(f"dvc exp run failed (exit {rc}); see {log}")
    seconds = {}
    for s in STAGES:
        f = work / f"reports/timings/{s}.json"
        if f.exists():
            seconds[s] = round(json.loads(f.read_text()).get("seconds", 0.0), 1)
    metrics = json.loads((work / "metrics.json").read_text())
    ingest = json.loads((work / "reports/ingest.json").read_text())
    return {"size": size, "sampler": sampler, "epochs": epochs, "threads": threads,
            "n_items": ingest["n_items"], "n_users": ingest.get("n_users"),
            "n_interactions": ingest["n_interactions"],
            "eval_users": sets.get("evaluate.users", "all"), "wall_s": round(wall, 1),
            "peak_rss_gb": round(peak_gb, 2), "stage_s": seconds,
            # DVC itself and the stages that keep no timings (source, validate, report)
            "other_s": round(wall - sum(seconds.values()), 1),
            "cluster_epoch_index_s": round(sum(seconds.get(s, 0.0) for s in
                                               ("cluster", "train", "index")), 1),
            "test": {k: round(v, 4) for k, v in metrics["test"].items() if "@" in k},
            "command": " ".join(cmd[:6]) + " -S ..."}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="200k", choices=["20k", "200k", "1m"])
    ap.add_argument("--sampler", default="esans")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    row = run(a.size, a.sampler, a.epochs, a.threads)
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    results[f"{a.size}|{a.sampler}|e{a.epochs}"] = row
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    print(f"{'stage':10s} {'seconds':>8s}")
    for s, v in row["stage_s"].items():
        print(f"{s:10s} {v:8.1f}")
    print(f"{'other':10s} {row['other_s']:8.1f}   (DVC, source, validate, report)")
    print(f"{row['size']} {row['sampler']}: wall {row['wall_s']:.0f} s, peak RSS "
          f"{row['peak_rss_gb']:.2f} GB (process tree), cluster + train + index "
          f"{row['cluster_epoch_index_s']:.0f} s, test R@50 {row['test'].get('recall@50')}")


if __name__ == "__main__":
    main()
