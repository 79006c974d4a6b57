"""The ``encode-sharded`` flow: encode the embedding-cache misses in shards on Dask.

Uses Prefect's ``DaskTaskRunner`` (prefect-dask): a ``LocalCluster`` with ``workers``
processes by default, or any running scheduler given by ``address`` (``encode.dask`` in
params.yaml). Each shard is a task; the results fill the per-item cache (``.cache/encode``)
and the ``encode`` DVC stage then finds every item cached and only assembles the arrays, so
the artifacts are exactly those of a serial run. Shards are cut on encoder-batch boundaries:
every batch is the batch a serial run would encode.

    python -m flows.encode                 # then: dvc repro
The ``retrain`` flow calls it before the encode stage when ``encode.dask.shards > 0``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from prefect import flow, get_run_logger, task
from prefect_dask import DaskTaskRunner

from esans.config import load_params
from esans.encode.cache import fill, plan, shards
from esans.stages.common import ingested
from esans.stages.encode import Modality, modalities


@task(name="encode-shard", task_run_name="{name}-{index}")
def encode_shard(name: str, index: int, rows: list[int], modality: Modality
                 ) -> tuple[np.ndarray, list[str]]:
    import torch

    torch.set_num_threads(1)  # one process per worker: no oversubscription
    return modality.encode(rows)


@flow(name="encode-sharded")
def _encode_sharded(project_dir: str, n_shards: int) -> dict:
    log = get_run_logger()
    p = load_params(Path(project_dir) / "params.yaml")
    items, _ = ingested()
    out = {}
    for m in modalities(p, items, progress=False):
        pl_ = plan(m.contents, m.fingerprint, m.cache)
        if not pl_.must_encode:
            out[m.name] = 0
            continue
        parts = shards(pl_.todo, n_shards, align=m.batch_size) or [[]]
        futures = [encode_shard.submit(m.name, k, rows, m) for k, rows in enumerate(parts)]
        results = [f.result() for f in futures]
        fresh = np.concatenate([r[0] for r in results]) if pl_.todo else results[0][0]
        status = [s for r in results for s in r[1]]
        fill(pl_, len(m.contents), fresh, status)
        out[m.name] = len(pl_.todo)
        log.info("encode %s: %d items in %d shards", m.name, len(pl_.todo), len(parts))
    return out


def encode_sharded(project_dir: str = ".", shards: int | None = None,
                   address: str | None = None, workers: int | None = None) -> dict:
    """Fill the embedding cache for the ingested items on Dask; returns items encoded per
    modality. Arguments default to ``encode.dask`` in params.yaml."""
    root = Path(project_dir).resolve()
    d = load_params(root / "params.yaml").encode.dask
    shards = shards or d.shards or 2
    address = address if address is not None else d.address
    runner = (DaskTaskRunner(address=address) if address else
              DaskTaskRunner(cluster_kwargs={"n_workers": workers or d.workers,
                                             "threads_per_worker": 1, "processes": True,
                                             "dashboard_address": None}))
    cwd = os.getcwd()
    os.chdir(root)  # stage paths are relative to the project root
    try:
        return _encode_sharded.with_options(task_runner=runner)(str(root), shards)
    finally:
        os.chdir(cwd)


if __name__ == "__main__":
    print(encode_sharded())
