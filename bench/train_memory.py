"""Resident memory of training steps with and without handing the free heap back (esans.heap).

Each arm runs in its own process on the regime study's synthetic catalogue (``regime.py``'s
prepared arrays, built on first use): the training step of ``esans.trainer`` (``batch_loss`` +
``optimiser_step``) for ``--steps`` steps, calling ``release_free_heap`` every ``trim`` steps
(0: never; training uses ``esans.trainer.HEAP_TRIM_EVERY``). Reports peak and final resident
memory, glibc's heap (size, in use, free: ``mallinfo2``), CPU and wall seconds a step
(``timing.alternating_step_times`` with one arm; a model set-up's faults count in the last
column) and minor page faults a step; writes ``bench/results/train-memory.json``.

    python bench/train_memory.py --dataset 200k --budget 64 --configs uniform esans-dns-table-k2
"""

from __future__ import annotations

import argparse
import ctypes
import json
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench/results/train-memory.json"


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def heap_stats() -> dict[str, float]:
    """glibc's main-heap size, bytes in use and free in it (GB); {} elsewhere."""
    try:
        f = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return {}
    f.restype = _MallInfo2
    m = f()
    return {"heap_gb": m.arena / 1e9, "in_use_gb": m.uordblks / 1e9, "free_gb": m.fordblks / 1e9}


def arm(dataset: str, budget: int, config: str, steps: int, trim: int) -> dict:
    import torch

    import regime
    from esans.heap import resident_bytes
    from timing import alternating_step_times

    torch.set_num_threads(1)
    _, data = regime.load(dataset)
    tp = regime.train_params(dataset, regime.configs(budget)[config], 1)
    start_rss = resident_bytes()
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t = alternating_step_times({config: tp}, data, steps, warmup=0, trim_every=trim)[config]
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {"dataset": dataset, "budget": budget, "config": config, "steps": steps,
            "trim_every": trim, "start_rss_gb": start_rss / 1e9,
            "final_rss_gb": resident_bytes() / 1e9,
            "peak_rss_gb": ru.ru_maxrss * 1024 / 1e9,             # ru_maxrss is in KiB
            **heap_stats(), "cpu_ms_step": 1000 * float(np.mean(t["cpu_s"])),
            "wall_ms_step": 1000 * float(np.mean(t["step_s"])),
            "minflt_step": (ru.ru_minflt - f0) / steps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="200k")
    ap.add_argument("--budget", type=int, default=64)
    ap.add_argument("--configs", nargs="*", default=["uniform", "esans-dns-table-k2"])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--trim", nargs="*", type=int, default=[0, 50])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--arm", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.arm:
        print(json.dumps(arm(a.dataset, a.budget, a.arm[0], int(a.arm[1]), int(a.arm[2]))))
        return
    rows = []
    print("| config | trim every | peak RSS GB | final RSS GB | heap GB | in use GB | free GB | "
          "CPU ms/step | wall ms/step | minor faults/step |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for config in a.configs:
        for trim in a.trim:
            proc = subprocess.run([sys.executable, __file__, "--dataset", a.dataset, "--budget",
                                   str(a.budget), "--arm", config, str(a.steps), str(trim)],
                                  capture_output=True, text=True, check=True)
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(r)
            print(f"| {config} | {trim or 'never'} | {r['peak_rss_gb']:.2f} | "
                  f"{r['final_rss_gb']:.2f} | {r.get('heap_gb', float('nan')):.2f} | "
                  f"{r.get('in_use_gb', float('nan')):.2f} | {r.get('free_gb', float('nan')):.2f}"
                  f" | {r['cpu_ms_step']:.0f} | {r['wall_ms_step']:.0f} | "
                  f"{r['minflt_step']:.0f} |", flush=True)
    a.out.write_text(json.dumps({"rows": rows}, indent=1))


if __name__ == "__main__":
    main()
