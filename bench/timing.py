"""Train-step timing of several training configurations side by side, in one process.

Each arm gets its own model (same initial weights), optimisers, sampler and RNG; every step
draws one batch and runs it through every arm, alternating the arms' order, so machine noise
hits all of them alike. An arm with ``selection_table_every`` refreshes its stale item table
outside the timed step; the refreshes are timed apart (``refresh_s``), for the caller to
amortise over ``every`` steps. Used by step_time.py.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from esans.config import TrainParams
from esans.data.history import Histories
from esans.heap import release_free_heap
from esans.model.towers import TwoTower
from esans.sampling.base import SeenItems
from esans.trainer import (HEAP_TRIM_EVERY, TrainData, batch_loss, build_sampler,
                         optimiser_step, optimizers, stale_table, uses_sparse_ids)


def alternating_step_times(arms: dict[str, TrainParams], data: TrainData, steps: int,
                           warmup: int, sparse_ids: bool | None = None,
                           trim_every: int = HEAP_TRIM_EVERY
                           ) -> dict[str, dict[str, list[float]]]:
    """{arm: {"step_s": [...], "cpu_s": [...], "sample_s": [...], "refresh_s": [...]}} over
    ``steps`` timed steps after ``warmup`` untimed ones (``cpu_s``: the process's user + system
    seconds in the step, which a busy machine's waits do not inflate); batch size and history
    length from the first arm; sparse id embeddings as training would use them (each arm's
    ``sparse_ids``: the full softmax keeps dense rows) unless ``sparse_ids`` says. The free
    heap goes back to the OS every ``trim_every`` steps, as training does (0: never)."""
    first = next(iter(arms.values()))
    seen = SeenItems(data.train_users, data.train_items, data.n_items)
    hist = Histories(data.train_users, data.train_items, data.n_users)
    setup = {}
    for name, tp in arms.items():
        torch.manual_seed(0)
        sparse = uses_sparse_ids(tp, data.n_items) if sparse_ids is None else sparse_ids
        model = TwoTower(torch.from_numpy(data.content), data.n_users, tp.dim, tp.history_len,
                         sparse)
        sampler = build_sampler(tp, data, seen)
        stale = stale_table(tp, sampler)
        setup[name] = (tp, model, optimizers(model, tp, sparse), sampler,
                       torch.Generator().manual_seed(0), stale)
    out = {n: {"step_s": [], "cpu_s": [], "sample_s": [], "refresh_s": []} for n in arms}
    g = torch.Generator().manual_seed(1)
    users, items, pos = (torch.from_numpy(np.asarray(x, np.int64))
                         for x in (data.train_users, data.train_items, data.train_pos))
    for step in range(steps + warmup):
        if trim_every and step % trim_every == 0:   # the refaults count in the steps
            release_free_heap()
        idx = torch.randint(len(users), (first.batch_size,), generator=g)
        u, i = users[idx], items[idx]
        h = hist.window(u, pos[idx], first.history_len)
        for name in (list(arms) if step % 2 == 0 else list(arms)[::-1]):
            tp, model, opts, sampler, gen, stale = setup[name]
            table = None
            if stale is not None:
                t0 = time.perf_counter()
                due = stale.due
                table = stale.tick(model)
                if due:  # warm-up's first refresh included: the amortised cost errs high
                    out[name]["refresh_s"].append(time.perf_counter() - t0)
            t0, c0 = time.perf_counter(), time.process_time()
            loss, info = batch_loss(model, tp, sampler, seen, u, i, h, gen, table=table)
            optimiser_step(loss, opts, model)
            if step >= warmup:
                out[name]["step_s"].append(time.perf_counter() - t0)
                out[name]["cpu_s"].append(time.process_time() - c0)  # user + sys, no waits
                out[name]["sample_s"].append(info["sample_s"])
    return out
