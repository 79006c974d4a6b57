"""The ``encode`` stage."""

from __future__ import annotations

import logging
import time

import numpy as np
import polars as pl

from esans import paths
from esans.config import Params
from esans.io import atomic_dir, write_json
from esans.stages.common import ingested, timed

log = logging.getLogger("esans")


def encode(p: Params, progress: bool = True) -> dict:
    import torch

    from esans.encode import image, text

    t0 = time.perf_counter()
    torch.set_num_threads(p.train.threads)
    items, _ = ingested()
    # An item without text is encoded from its title (the validate stage reports how many).
    texts = [x if x else (t or "") for t, x in zip(items["title"].to_list(),
                                                    items["text"].to_list())]
    tp = p.encode.text
    tv = text.encode(texts, tp.model, tp.pooling, tp.max_length, tp.batch_size, progress)
    t_text = time.perf_counter() - t0
    ip = p.encode.image
    iv, status, counts = image.encode(items["image_path"].to_list(), ip.model, ip.size,
                                      ip.batch_size, ip.max_pixels, progress)
    with atomic_dir(paths.ENCODE) as out:
        np.save(out / "text.npy", tv)
        np.save(out / "image.npy", iv)
        pl.DataFrame({"item_id": items["item_id"], "has_text": items["text"].is_not_null(),
                      "has_image": [s == "ok" for s in status], "image_status": status}
                     ).write_parquet(out / "status.parquet")
    report = {"n_items": items.height, "text_dim": int(tv.shape[1]), "image_dim": int(iv.shape[1]),
              "text_model": tp.model, "image_model": ip.model, "text_seconds": round(t_text, 3),
              "image_seconds": round(time.perf_counter() - t0 - t_text, 3),
              "image_status": dict(counts)}
    write_json(timed(report, t0), paths.report("encode"))
    return report
