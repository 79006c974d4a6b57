"""ESANS step time vs uniform, measured side by side (alternating steps in one process).

    python bench/step_time.py [--steps 200]

Both samplers draw the same number of real negatives (m_c + m_o = 7); ESANS adds EDIS's
(m_o+2)(m_o-1)/2 = 14 virtual negatives. Steps alternate uniform / ESANS / uniform ... on the
same batches, so machine noise hits both alike; the ratio of medians is reported. Also run on
the synthetic default when ml100k is absent. Writes bench/results/step-time.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--work", type=Path, default=ROOT / "bench/.work/ml100k")
    a = ap.parse_args()
    import samplers

    samplers.prepare(a.work, (ROOT / "../shared/datasets/ml100k-multimodal").resolve())
    os.chdir(a.work)
    import torch

    from esans.config import load_params
    from esans.data.history import Histories
    from esans.model.towers import TwoTower
    from esans.sampling.base import SeenItems
    from esans.stages.train import _train_data
    from esans.train import batch_loss, build_sampler

    p = load_params("params.yaml")
    base = p.train.model_copy(update={"sampler": "esans"})
    data = _train_data(p.model_copy(update={"train": base}))
    torch.set_num_threads(base.threads)
    arms = {"uniform": base.model_copy(update={"sampler": "uniform", "edis": False,
                                               "n_negatives": base.m_c + base.m_o}),
            "msac (no EDIS)": base.model_copy(update={"sampler": "msac", "edis": False}),
            "esans": base}
    seen = SeenItems(data.train_users, data.train_items, data.n_items)
    hist = Histories(data.train_users, data.train_items, data.n_users)
    setup = {}
    for name, tp in arms.items():
        torch.manual_seed(0)
        model = TwoTower(torch.from_numpy(data.content), data.n_users, tp.dim, tp.history_len)
        setup[name] = (tp, model, torch.optim.Adam(model.parameters(), lr=tp.lr),
                       build_sampler(tp, data), torch.Generator().manual_seed(0))
    times = {n: [] for n in arms}
    sample = {n: [] for n in arms}
    g = torch.Generator().manual_seed(1)
    users = torch.from_numpy(data.train_users.astype(np.int64))
    items = torch.from_numpy(data.train_items.astype(np.int64))
    pos = torch.from_numpy(data.train_pos.astype(np.int64))
    for step in range(a.steps + 10):
        idx = torch.randint(len(users), (base.batch_size,), generator=g)
        u, i = users[idx], items[idx]
        h = hist.window(u, pos[idx], base.history_len)
        for name in (list(arms) if step % 2 == 0 else list(arms)[::-1]):
            tp, model, opt, sampler, gen = setup[name]
            t0 = time.perf_counter()
            loss, info = batch_loss(model, tp, sampler, seen, u, i, h, gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step >= 10:  # warm-up
                times[name].append(time.perf_counter() - t0)
                sample[name].append(info["sample_s"])
    med = {n: float(np.median(t)) * 1000 for n, t in times.items()}
    result = {"steps": a.steps, "batch_size": base.batch_size, "real_negatives": 7,
              "virtual_negatives": (base.m_o + 2) * (base.m_o - 1) // 2,
              "median_step_ms": med,
              "median_sample_ms": {n: float(np.median(t)) * 1000 for n, t in sample.items()},
              "ratio_esans_to_uniform": med["esans"] / med["uniform"],
              "ratio_msac_to_uniform": med["msac (no EDIS)"] / med["uniform"]}
    out = ROOT / "bench/results/step-time.json"
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
