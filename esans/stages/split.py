"""The ``split`` stage."""

from __future__ import annotations

import time

import numpy as np

from esans import paths
from esans.config import Params
from esans.errors import EsansError
from esans.io import atomic_dir, read_parquet
from esans.stages.common import require_validated, write_report



def split(p: Params) -> dict:
    from esans.data.split import LEAVE_LAST_MIN_EVENTS, temporal_split

    t0 = time.perf_counter()
    require_validated(paths.INGEST_CATALOGUE, paths.INGEST_INTERACTIONS)
    items = read_parquet(paths.INGEST_CATALOGUE)
    inter = read_parquet(paths.INGEST_INTERACTIONS)
    s = temporal_split(inter, items, p.split.valid_frac, p.split.test_frac, p.split.method)
    need = int(np.ceil(1 / min(p.split.valid_frac, p.split.test_frac)))
    for part, key in (("valid", "split.valid_frac"), ("test", "split.test_frac")):
        if getattr(s, part).height == 0:     # checked before anything is published
            most = int(inter.group_by("user_id").len()["len"].max() or 0)
            if p.split.method == "leave_last":
                raise EsansError(
                    f"the split leaves no {part} events: split.method leave_last holds out "
                    f"events of users with >= {LEAVE_LAST_MIN_EVENTS} interactions (the most "
                    f"active user has {most}); add data", path=paths.INGEST_INTERACTIONS,
                    rule="split")
            raise EsansError(
                f"the split leaves no {part} events: a user needs >= {need} interactions for "
                f"one to fall in each part at {key} = {getattr(p.split, part + '_frac')} "
                f"(the most active user has {most}); add data or raise the fraction",
                path=paths.INGEST_INTERACTIONS, rule="split")
    with atomic_dir(paths.SPLIT) as out:
        for name in ("users", "items", "train", "valid", "test"):
            getattr(s, name).write_parquet(out / f"{name}.parquet")
    report = {"n_users": s.users.height, "n_items": s.items.height, "train": s.train.height,
              "valid": s.valid.height, "test": s.test.height,
              "test_users": s.test["user_idx"].n_unique(), "method": p.split.method}
    report = write_report("split", report, t0)
    return report
