"""``esans <stage>``: one verb per pipeline stage (the same stages ``dvc.yaml`` declares)."""

from __future__ import annotations

import contextlib
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
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    # Our own INFO lines; libraries (faiss, great-expectations, ...) only from WARNING up.
    handler.addFilter(lambda r: r.name.startswith("esans") or r.levelno >= logging.WARNING
                      or verbose)
    logging.basicConfig(level=level, handlers=[handler], force=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _run(stage: str, params: Path, verbose: bool, quiet: bool) -> None:
    _setup(verbose, quiet)
    from esans import stages
    from esans.config import load_params
    from esans.lock import pipeline_locks

    p = load_params(params)
    main_rank = int(os.environ.get("RANK", "0")) == 0  # under torchrun, rank 0 holds the lock
    with pipeline_locks() if main_rank else contextlib.nullcontext():
        result = stages.get(stage)(p)
    if not quiet and main_rank:
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
    ("source", "Fingerprint the raw inputs (content hashes): ingest reruns when they change."),
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
    ("bundle", "Package model, id mappings, index and lineage into models/bundle (verified)."),
]:
    _make(_stage, _doc)


@app.command(name="report")
def report(params: Path = _PARAMS, verbose: bool = typer.Option(False, "--verbose", "-v"),
           quiet: bool = typer.Option(False, "--quiet", "-q"),
           open_: bool = typer.Option(False, "--open", help="open in a browser")) -> None:
    """Write reports/index.html from the metrics and stage reports."""
    _run("report", params, verbose, quiet)
    if open_:
        import webbrowser

        webbrowser.open(Path("reports/index.html").resolve().as_uri())


def _table(rows: list[dict]) -> str:
    """``rows`` as a plain rich table (no borders; values as text, never markup); as wide as
    it needs when the output is not a terminal, so a pipe gets one line per row."""
    if not rows:
        return "(none)"
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    cols = list(rows[0])
    table = Table(box=None, pad_edge=False, header_style="bold")
    for c in cols:
        table.add_column(str(c))
    for r in rows:
        table.add_row(*(Text(str(r.get(c, ""))) for c in cols))
    console = Console(width=None if sys.stdout.isatty() else 100_000, highlight=False)
    with console.capture() as cap:
        console.print(table)
    return "\n".join(line.rstrip() for line in cap.get().rstrip("\n").splitlines())


_CANDIDATE = typer.Option(False, "--candidate",
                          help="serve the workspace's latest bundle (models/bundle) instead "
                               "of the promoted champion (models/current)")


def _server(candidate: bool):
    from esans.query import Server

    return Server.open(Path("."), candidate=candidate)


@app.command()
def serve(host: str = typer.Option("127.0.0.1", "--host"),
          port: int = typer.Option(8000, "--port")) -> None:
    """Serve /recommend and /similar over HTTP from the champion (models/current), reloading
    it atomically when a model is promoted or rolled back; each answer names its model_id."""
    _setup(False, True)
    from esans.serve import run

    run(Path("."), host, port)


@app.command()
def recommend(user: str = typer.Option(..., "--user", "-u", help="user id (original)"),
              k: int = typer.Option(10, "-k", help="how many"),
              as_json: bool = typer.Option(False, "--json"),
              candidate: bool = _CANDIDATE) -> None:
    """Top-k unseen items for a user, from the promoted model's faiss index."""
    _setup(False, True)
    rows = _server(candidate).recommend(user, k)
    typer.echo(json.dumps(rows, indent=1) if as_json else _table(rows))


@app.command()
def similar(item: str = typer.Option(..., "--item", "-i", help="item id (original)"),
            k: int = typer.Option(10, "-k"), as_json: bool = typer.Option(False, "--json"),
            candidate: bool = _CANDIDATE) -> None:
    """Items whose trained vectors are nearest to this item's (promoted model)."""
    _setup(False, True)
    rows = _server(candidate).similar(item, k)
    typer.echo(json.dumps(rows, indent=1) if as_json else _table(rows))


@app.command()
def negatives(item: str = typer.Option(..., "--item", "-i", help="item id (original)"),
              user: str = typer.Option(None, "--user", "-u",
                                       help="user id: their row (train items redrawn, and "
                                            "a selecting sampler's choice for them)"),
              seed: int = typer.Option(0, "--seed"),
              as_json: bool = typer.Option(False, "--json"), candidate: bool = _CANDIDATE
              ) -> None:
    """The negatives the served model's training sampler draws for this item as a positive
    (its params, clusters and train items, from the bundle), and EDIS's mixes."""
    _setup(False, True)
    server = _server(candidate)
    out = server.negatives(item, user, seed)
    if as_json:
        typer.echo(json.dumps(out, indent=1))
        return
    it = out["item"]
    typer.echo(f"positive: {it['item_id']} {it['title']!r} (level-1 {it['l1']}, "
               f"level-2 {it['l2']}); sampler: {out['sampler']}\n")
    typer.echo(_table(out["real"]) + "\n")
    if out["selects"] and out["selected_for"] is None:
        typer.echo("(the sampler keeps the candidates the model scores highest for the row's "
                   "user: pass --user to see which)\n")
    if out["virtual"]:
        typer.echo(f"EDIS: {len(out['virtual'])} virtual negatives")
        typer.echo(_table([{"sources": ",".join(v["sources"]),
                            "weights": ",".join(map(str, v["weights"])),
                            "nearest item": v["nearest_item"]} for v in out["virtual"]]))


@app.command()
def promote(force: bool = typer.Option(False, "--force",
                                       help="promote even if the gate rejects it"),
            as_json: bool = typer.Option(False, "--json", help="the gate's decision as JSON"),
            params: Path = _PARAMS) -> None:
    """Gate the workspace's bundle against the champion and promote it if it passes."""
    _setup(False, False)
    from esans import registry
    from esans.config import load_params

    params_ = load_params(params)
    p = params_.promote
    d = registry.promote(Path("."), metric=p.metric, max_drop=p.max_recall_drop,
                         compare_last=p.compare_last, keep=p.keep, force=force,
                         max_users=params_.evaluate.users)
    if as_json:
        typer.echo(json.dumps(d.as_dict(), indent=1))
        raise typer.Exit(0 if d.promote or d.identical else 1)
    rows = [{"model": c["id"] + (" (champion)" if c["champion"] else ""),
             f"valid {d.metric} on this split": c["rescored"],
             "at its promotion": c["at_promotion"]} for c in d.compared]
    if rows:
        rows.insert(0, {"model": "candidate", f"valid {d.metric} on this split": d.candidate,
                        "at its promotion": "-"})
        typer.echo(_table(rows) + "\n")
    if d.promote:
        typer.echo(f"promoted {d.model_id}: {d.reason}")
        if d.pushed_to:
            typer.echo(f"pushed to DVC remote {d.pushed_to!r}; commit registry/{d.model_id}.dvc "
                       f"to restore it anywhere with `esans checkout {d.model_id}`")
        return
    typer.echo(("not promoted: " if d.identical else "rejected: ") + d.reason,
               err=not d.identical)
    raise typer.Exit(0 if d.identical else 1)


@app.command()
def rollback(model_id: str = typer.Argument(None, help="registry id (default: the model "
                                                       "served before the current one)")
             ) -> None:
    """Serve an earlier promoted bundle again (atomic switch of models/current)."""
    from esans import registry

    typer.echo(f"now serving {registry.rollback(Path('.'), model_id)}")


@app.command()
def checkout(model_id: str = typer.Argument(..., help="registry id")) -> None:
    """Fetch a promoted bundle from the DVC remote (registry/<id>.dvc) and serve it."""
    from esans import registry

    typer.echo(f"now serving {registry.checkout(Path('.'), model_id)}")


@app.command()
def models() -> None:
    """The registry: bundles served so far, the current one starred."""
    from esans import registry

    typer.echo(_table(registry.listing(Path("."))))


def _benches(root: Path) -> dict[str, str]:
    """``bench/<name>.py`` scripts (those runnable as a program) -> their docstring's first
    line."""
    import ast

    out = {}
    for f in sorted((root / "bench").glob("*.py")):
        text = f.read_text(encoding="utf-8")
        if '__name__ == "__main__"' in text:
            doc = ast.get_docstring(ast.parse(text)) or ""
            out[f.stem] = doc.strip().splitlines()[0] if doc.strip() else ""
    return out


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                               "help_option_names": []})
def bench(ctx: typer.Context,
          name: str = typer.Argument(None, help="bench/<name>.py to run; none: list them"),
          root: Path = typer.Option(Path("."), "--root", help="the project (holds bench/)")
          ) -> None:
    """Run a benchmark (``esans bench samplers --seeds 3``: the script's own options follow
    its name, ``--help`` included) or list them; each prints a table and writes its JSON
    under bench/results/."""
    import subprocess

    benches = _benches(root)
    if name is None or name in ("-h", "--help"):
        typer.echo(_table([{"bench": n, "what": d} for n, d in benches.items()]))
        return
    if name not in benches:
        raise EsansError(f"no benchmark {name!r}; one of {', '.join(benches) or '(none)'}",
                         path=root.resolve() / "bench", rule="bench")
    proc = subprocess.run([sys.executable, str(root / "bench" / f"{name}.py"), *ctx.args],
                          cwd=root, check=False)
    raise typer.Exit(proc.returncode)


def main() -> None:
    try:
        rc = app(standalone_mode=False)   # a command's typer.Exit(code) comes back as code
        if isinstance(rc, int) and rc:
            sys.exit(rc)
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
