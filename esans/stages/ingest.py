"""The ``ingest`` stage."""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from esans import paths
from esans.config import Params
from esans.io import atomic_dir
from esans.stages.common import write_report

log = logging.getLogger("esans")


def ingest(p: Params) -> dict:
    from esans.data import files, movielens, s3rec, synthetic, synthetic_scale
    from esans.data.ingest import normalise

    t0 = time.perf_counter()
    src = p.data.source
    with atomic_dir(paths.INGEST) as out:
        locate = lambda path: path  # noqa: E731
        # images the pipeline generated (synthetic only; other sources' stay where they are):
        # always a folder, so the stages that show them can declare it, and never an empty
        # one: DVC's cache keeps files, not folders, and a checkout (every `dvc exp run`)
        # would leave the declared dependency missing
        (out / paths.INGEST_IMAGES.name).mkdir()
        (out / paths.INGEST_IMAGES.name / "README.txt").write_text(
            "Images the pipeline generated itself (the synthetic source); other sources' "
            "images stay where the catalogue points.\n")
        if src == "synthetic":
            data = synthetic.generate(p.data.synthetic, p.seed)
            synthetic.write_images(data.images, out / paths.INGEST_IMAGES.name)
            items = data.items.with_columns(
                (pl.lit(str(paths.INGEST) + "/") + pl.col("image_path")).alias("image_path"))
            inter, report = data.interactions, {"items": data.items.height}
            locate = lambda path: out / paths.INGEST_IMAGES.name / Path(path).name  # noqa: E731
        elif src == "scale":
            with tempfile.TemporaryDirectory(dir=out.parent) as raw:
                scale = synthetic_scale.from_params(p.data.scale)
                synthetic_scale.generate(scale, raw, p.seed)
                items, inter, report = files.load(Path(raw) / "interactions",
                                                  Path(raw) / "items")
        elif src == "movielens":
            items, inter, report = movielens.load(p.data.movielens.path)
        elif src == "s3rec":
            items, inter, report = s3rec.load(p.data.s3rec.path, p.data.s3rec.name)
        else:
            items, inter, report = files.load(p.data.files.interactions, p.data.files.items)
        vectors = (items["vector"].to_numpy().astype(np.float32) if "vector" in items.columns
                   else np.zeros((items.height, 0), np.float32))
        items, inter, report = normalise(items, inter, report, locate)
        items.write_parquet(out / paths.INGEST_ITEMS.name)
        np.save(out / paths.INGEST_VECTORS.name, vectors)
        report["provided_vector_dim"] = int(vectors.shape[1])
        # The split needs only the ids: a text or image edit must not make it stale.
        items.select("item_id").write_parquet(out / paths.INGEST_CATALOGUE.name)
        inter.write_parquet(out / paths.INGEST_INTERACTIONS.name)
    report["source"] = src
    report = write_report("ingest", report, t0)
    log.info("ingest: %s items, %s interactions from %s", report["n_items"],
             report["n_interactions"], src)
    return report
