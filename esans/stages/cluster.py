"""The ``cluster`` stage."""

from __future__ import annotations

import time

import numpy as np
import polars as pl

from esans import paths
from esans.config import Params
from esans.io import atomic_dir, read_npy
from esans.stages.common import ingested, write_report


def cluster(p: Params) -> dict:
    from esans.cluster.msac import msac

    t0 = time.perf_counter()
    x = read_npy(paths.FUSE / "items.npy")
    c = p.cluster
    cl = msac(x, c.level1(len(x)), c.n_l2, c.min_cluster_size, c.niter, p.seed)
    items, _ = ingested()
    with atomic_dir(paths.CLUSTER) as out:
        pl.DataFrame({"item_id": items["item_id"], "l1": cl.l1, "l2": cl.l2}
                     ).write_parquet(out / "assignments.parquet")
        np.save(out / "centroids1.npy", cl.centroids1)
        np.save(out / "centroids2.npy", cl.centroids2)
    sizes1 = np.bincount(cl.l1)
    sizes2 = np.bincount(cl.l2)
    report = {"n_l1": int(len(sizes1)), "n_l2": int(len(sizes2)),
              "l1_size_min": int(sizes1.min()), "l1_size_max": int(sizes1.max()),
              "l2_size_min": int(sizes2.min()), "l2_size_max": int(sizes2.max())}
    labels = items["label"]
    if labels.null_count() < len(labels):
        from esans.cluster.quality import nmi, purity

        lab = labels.fill_null("?").to_numpy()
        report.update({"nmi_l1": nmi(lab, cl.l1), "purity_l1": purity(lab, cl.l1),
                       "nmi_l2": nmi(lab, cl.l2), "purity_l2": purity(lab, cl.l2)})
    report = write_report("cluster", report, t0)
    return report
