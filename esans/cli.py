"""``esans <stage>``: one verb per pipeline stage (the same stages ``dvc.yaml`` declares)."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import typer

from esans.errors import EsansError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="ESANS negative sampling pipeline: run one stage, or `dvc repro` for all.")

_PARAMS = typer.Option(Path("params.yaml"), "--params", "-p", help="parameters file")


def _setup(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    for noisy in ("faiss.loader", "great_expectations"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _run(stage: str, params: Path, verbose: bool, quiet: bool) -> None:
    _setup(verbose, quiet)
    from esans import stages
    from esans.config import load_params

    p = load_params(params)
    result = stages.get(stage)(p)
    if not quiet:
        typer.echo(json.dumps({k: v for k, v in result.items() if k != "results"}, indent=1,
                              default=str))


def _make(stage: str, doc: str) -> None:
    def command(params: Path = _PARAMS,
                verbose: bool = typer.Option(False, "--verbose", "-v"),
                quiet: bool = typer.Option(False, "--quiet", "-q")) -> None:
        _run(stage, params, verbose, quiet)

    command.__doc__ = doc
    app.command(name=stage)(command)


for _stage, _doc in [
    ("ingest", "Read the data source named in params and normalise it to the internal schema."),
    ("validate", "Check the ingested tables with great-expectations; fail on errors."),
    ("split", "Per-user temporal 80/10/10 split (valid and test are each user's latest)."),
    ("encode", "Embed item text and images with Hugging Face / offline models."),
    ("behaviour", "Learn behaviour item vectors from train interactions only."),
    ("fuse", "Align modalities contrastively and fuse them into one item vector."),
    ("cluster", "MSAC: two-level k-means over fused item vectors (faiss)."),
    ("train", "Train the two-tower model with the sampler named in params."),
    ("index", "Build the faiss index over the item tower's vectors."),
    ("evaluate", "Full-catalogue Recall@K / NDCG@K on valid and test; write top-200 lists."),
    ("report", "Write reports/index.html from the metrics and stage reports."),
]:
    _make(_stage, _doc)


def main() -> None:
    try:
        app(standalone_mode=False)
    except EsansError as exc:
        typer.echo(f"esans: error: {exc}", err=True)
        sys.exit(2)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", getattr(exc, "code", 0))
        sys.exit(code or 0)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
