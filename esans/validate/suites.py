"""great-expectations 1.x suites for the internal tables, and a runner that summarises them.

Two severities: ``error`` expectations stop the pipeline, ``warning`` ones are reported and the
pipeline goes on (e.g. a few missing posters). Each failure names the table, the expectation
and example offending values.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from esans.config import ValidateParams
from esans.data.schema import has_modality

DERIVED = ["text_length", "image_status"]  # computed columns the item suite checks


@dataclass(frozen=True)
class Check:
    table: str
    severity: str  # "error" | "warning"
    expectation: object


def build_checks(items: pl.DataFrame, p: ValidateParams, now: int | None = None,
                 provided_vectors: bool = False) -> list[Check]:
    """The expectations. With ``provided_vectors`` (items carry their own embeddings) text and
    images are not encoded, so missing ones are not checked."""
    import great_expectations as gx

    E = gx.expectations
    now = now if now is not None else int(time.time())
    ids = items["item_id"].drop_nulls().unique().to_list()
    checks = [
        Check("interactions", "error", E.ExpectTableColumnsToMatchSet(
            column_set=["user_id", "item_id", "timestamp", "rating", "seq"], exact_match=True)),
        Check("interactions", "error", E.ExpectTableRowCountToBeBetween(
            min_value=p.min_interactions,
            meta={"param": ["validate.min_interactions", p.min_interactions]})),
        Check("interactions", "error", E.ExpectColumnValuesToNotBeNull(column="user_id")),
        Check("interactions", "error", E.ExpectColumnValuesToNotBeNull(column="item_id")),
        Check("interactions", "error", E.ExpectColumnValuesToNotBeNull(column="timestamp")),
        Check("interactions", "error", E.ExpectColumnValuesToBeBetween(
            column="timestamp", min_value=0, max_value=now + 86400,
            meta={"volatile": ["max_value"]})),  # "now" moves: keep it out of the report
        Check("interactions", "error", E.ExpectColumnValuesToBeInSet(
            column="item_id", value_set=ids)),
        Check("interactions", "error", E.ExpectColumnValuesToBeBetween(
            column="rating", min_value=-1e6, max_value=1e6)),
        Check("items", "error", E.ExpectTableColumnsToMatchSet(
            column_set=["item_id", "title", "text", "image_path", "label", "image_sha256",
                        "tags", *DERIVED],
            exact_match=True)),
        Check("items", "error", E.ExpectColumnValuesToNotBeNull(column="item_id")),
        Check("items", "error", E.ExpectColumnValuesToBeUnique(column="item_id")),
        Check("items", "error", E.ExpectColumnValuesToNotBeNull(column="title")),
    ]
    if provided_vectors:
        return checks
    # Missing text or images: an error past the threshold, a warning for any at all. A
    # catalogue with no text at all or no image paths at all simply lacks that modality (the
    # encode stage skips it): nothing is missing.
    if has_modality(items, "text"):
        checks += [
            Check("items", "error", E.ExpectColumnValuesToBeBetween(
                column="text_length", min_value=1, max_value=100_000,
                mostly=1 - p.max_missing_text_frac,
                meta={"param": ["validate.max_missing_text_frac", p.max_missing_text_frac]})),
            Check("items", "warning", E.ExpectColumnValuesToBeBetween(
                column="text_length", min_value=1, max_value=100_000))]
    if has_modality(items, "image"):
        checks += [
            Check("items", "error", E.ExpectColumnValuesToBeInSet(
                column="image_status", value_set=["ok"], mostly=1 - p.max_missing_image_frac,
                meta={"param": ["validate.max_missing_image_frac",
                                p.max_missing_image_frac]})),
            Check("items", "warning", E.ExpectColumnValuesToBeInSet(
                column="image_status", value_set=["ok"]))]
    return checks


def _with_derived(items: pl.DataFrame, root: Path, max_pixels: int) -> pl.DataFrame:
    """Text length, and each image's status under the encoder's loading policy
    (ok / missing / corrupt / too_large), so a broken poster is caught before training."""
    from esans.encode.image import load_image

    status = [load_image(root / pth if pth else None, max_pixels)[1]
              for pth in items["image_path"].to_list()]
    return items.with_columns(pl.col("text").str.len_chars().fill_null(0).alias("text_length"),
                              pl.Series("image_status", status))


def run(items: pl.DataFrame, interactions: pl.DataFrame, p: ValidateParams,
        root: str | Path = ".", max_pixels: int = 40_000_000,
        docs_dir: str | Path | None = None, provided_vectors: bool = False) -> dict:
    """Validate both tables; return a JSON-able summary with ``success`` and ``failures``.

    One expectation suite per table (each expectation's severity in its ``meta``), run by a
    checkpoint; with ``docs_dir`` the results are also rendered as great-expectations Data Docs
    (static HTML) there, replacing what was there atomically.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    from esans.io import atomic_dir

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = ctx.data_sources.add_pandas("esans")
    frames = {"items": _with_derived(items, Path(root), max_pixels).to_pandas(),
              "interactions": interactions.to_pandas()}
    checks = build_checks(items, p, provided_vectors=provided_vectors)
    with contextlib.ExitStack() as stack:
        actions = []
        if docs_dir is not None:
            tmp = stack.enter_context(atomic_dir(docs_dir))
            ctx.add_data_docs_site("esans", {
                "class_name": "SiteBuilder", "site_index_builder": {
                    "class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                                  "base_directory": str(tmp.resolve())}})
            actions = [gx.checkpoint.UpdateDataDocsAction(name="data_docs")]
        results = []
        for table, frame in frames.items():
            suite = ctx.suites.add(gx.ExpectationSuite(name=table))
            for check in (c for c in checks if c.table == table):
                exp = check.expectation
                exp.meta = {**(exp.meta or {}), "severity": check.severity}
                # GX keeps meta as given; the param's name/value ride along to the summary
                suite.add_expectation(exp)
            batch = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe("all")
            vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=table, data=batch,
                                                                        suite=suite))
            cp = ctx.checkpoints.add(gx.Checkpoint(name=table, validation_definitions=[vd],
                                                   actions=actions, result_format="COMPLETE"))
            outcome = cp.run(batch_parameters={"dataframe": frame})
            for run_result in outcome.run_results.values():
                for res in run_result.results:
                    results.append(_summarise(table, res))
    errors = [r for r in results if not r["success"] and r["severity"] == "error"]
    warnings = [r for r in results if not r["success"] and r["severity"] == "warning"]
    return {"success": not errors, "n_expectations": len(results), "n_errors": len(errors),
            "n_warnings": len(warnings), "results": results,
            "data_docs": str(Path(docs_dir) / "index.html") if docs_dir else None}


def _summarise(table: str, res) -> dict:
    cfg = res.expectation_config
    detail = res.result or {}
    return {
        "table": table, "severity": (cfg.meta or {}).get("severity", "error"),
        "expectation": cfg.type,
        "kwargs": {k: v for k, v in cfg.kwargs.items()
                   if k not in ("value_set", "batch_id", *(cfg.meta or {}).get("volatile", []))},
        "param": (cfg.meta or {}).get("param"),
        "success": bool(res.success),
        "unexpected_count": detail.get("unexpected_count"),
        "unexpected_percent": detail.get("unexpected_percent"),
        "examples": [str(x) for x in (detail.get("partial_unexpected_list") or [])[:5]],
        "rows": [int(x) for x in (detail.get("partial_unexpected_index_list") or [])[:5]
                 if isinstance(x, int)],
        "observed_value": _plain(detail.get("observed_value")),
    }


def _plain(v: object) -> object:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def describe_failure(r: dict, path: str) -> str:
    col = r["kwargs"].get("column")
    where = f"column {col!r} " if col else ""
    ex = f"; e.g. {r['examples']}" if r["examples"] else ""
    rows = f" row(s) {r['rows']}" if r.get("rows") else ""
    obs = f"; observed {r['observed_value']}" if r["observed_value"] is not None else ""
    pct = (f" ({r['unexpected_percent']:.1f}% of rows)"
           if r.get("param") and r.get("unexpected_percent") is not None else "")
    param = (f"; the threshold is params key {r['param'][0]} = {r['param'][1]} (raise it if "
             "your catalogue is legitimately like this)" if r.get("param") else "")
    return f"{path}:{rows} {where}failed {r['expectation']}{obs}{pct}{ex}{param}"
