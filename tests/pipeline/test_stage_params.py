"""Each stage declares in dvc.yaml every param and every workspace file it reads (so a param
or data change can never leave an output DVC calls up to date): every stage runs in-process on
a copy of the built tiny project while reads of the config model's fields, and files opened
for reading from Python (an audit hook; native readers such as polars' are not seen), are
recorded. And the other way round: every param is read by a stage, or by the one place
named in READ_ELSEWHERE."""

from __future__ import annotations

import os
import sys
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from esans import config
from tests.conftest import ROOT, copy_project

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def _paths_of(model: type[BaseModel], prefix: str = "") -> dict[type, str]:
    """Config class -> its dotted key in params.yaml (each class sits at one place)."""
    out: dict[type, str] = {}
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        for t in (field.annotation, *typing.get_args(field.annotation)):
            if isinstance(t, type) and issubclass(t, config._Strict):
                assert t not in out, f"{t.__name__} appears twice in the params tree"
                out[t] = key
                out.update(_paths_of(t, key + "."))
    return out


def _leaf(model: type[BaseModel], name: str) -> bool:
    ann = model.model_fields[name].annotation
    return not (isinstance(ann, type) and issubclass(ann, config._Strict))


@pytest.fixture
def reads(monkeypatch):
    """Record ``key`` for every leaf param read (attribute access, or a whole section dumped)."""
    where = {**_paths_of(config.Params), config.Params: ""}
    seen: set[str] = set()

    def key(obj, name):
        base = where.get(type(obj))
        if base is None:
            return None
        field = type(obj).model_fields[name]
        return f"{base + '.' if base else ''}{field.alias or name}"

    real_get = BaseModel.__getattribute__

    def get(self, name):
        cls = real_get(self, "__class__")
        if name in cls.__dict__.get("__pydantic_fields__", cls.model_fields) and \
                _leaf(cls, name):
            k = key(self, name)
            if k:
                seen.add(k)
        return real_get(self, name)

    real_dump = config._Strict.model_dump

    def dump(self, *a, **kw):
        for name in type(self).model_fields:
            getattr(self, name)
        return real_dump(self, *a, **kw)

    monkeypatch.setattr(config._Strict, "__getattribute__", get, raising=False)
    monkeypatch.setattr(config._Strict, "model_dump", dump)
    return seen


_OPENED: dict = {"root": None, "files": set()}


def _audit(event: str, args: tuple) -> None:
    if event != "open" or _OPENED["root"] is None:
        return
    path, mode, flags = args
    if not isinstance(path, (str, bytes, os.PathLike)):
        return
    writes = (any(c in mode for c in "wax+") if isinstance(mode, str)
              else bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)))
    name = os.fsdecode(path)
    # folders, and names relative to a folder's fd (shutil.rmtree), are not file reads
    if not writes and os.path.isfile(name):
        _OPENED["files"].add(os.path.abspath(name))


@pytest.fixture
def opened():
    """Workspace files opened for reading while ``opened["root"]`` is set."""
    if not getattr(sys, "_esans_audit", False):   # an audit hook cannot be removed: add once
        sys.addaudithook(_audit)
        sys._esans_audit = True
    yield _OPENED
    _OPENED["root"] = None
    _OPENED["files"] = set()


# Provenance a stage copies as it is, not an input: the bundle keeps the dvc.lock it was
# built under (the lock cannot be a dep of a stage it records; not part of the model hash).
PROVENANCE = {("bundle", "dvc.lock")}


def _undeclared_reads(name: str, files: set[str], ws: Path) -> list[str]:
    st = STAGES[name]
    declared = [next(iter(e)) if isinstance(e, dict) else e
                for key in ("deps", "outs", "metrics", "plots") for e in st.get(key, [])]
    out = []
    for f in files:
        rel = Path(os.path.realpath(f))
        try:
            rel = rel.relative_to(os.path.realpath(ws))
        except ValueError:
            continue                       # outside the workspace: libraries, model weights
        r = rel.as_posix()
        if r == "params.yaml" or r.startswith((".cache/", ".dvc/", ".git/")) or \
                "__pycache__" in r or r.endswith(".py") or \
                any(part.startswith(".") for part in rel.parts):
            continue       # params are checked above; caches are documented; atomic temp files
        if (name, r) in PROVENANCE:
            continue
        if not any(r == d.rstrip("/") or r.startswith(d.rstrip("/") + "/") for d in declared):
            out.append(r)
    return sorted(out)


# Params no stage reads in the default tiny run, and where they are read instead.
READ_ELSEWHERE = {
    **{f"encode.dask.{k}": "flows/encode.py" for k in ("address", "shards", "workers")},
    **{f"index.{k}": "esans/stages/index.py" for k in ("nlist", "nprobe")},  # serving: ivf
    **{f"data.scale.{k}": "esans/data/synthetic_scale.py"                   # source: scale
       for k in config.ScaleSourceParams.model_fields},
    **{f"promote.{k}": "esans/cli.py"
       for k in ("compare_last", "keep", "max_recall_drop", "metric")},      # esans promote
}


def _leaves() -> set[str]:
    """Every leaf param's dotted key, from the class -> key map ``_paths_of`` builds."""
    where = {**_paths_of(config.Params), config.Params: ""}
    return {f"{base + '.' if base else ''}{field.alias or name}"
            for cls, base in where.items() for name, field in cls.model_fields.items()
            if _leaf(cls, name)}


# Runtime settings a stage reads that change how fast it runs, not what it writes (the same
# bytes at any value: tests/unit/test_threads.py), so not its DVC params.
RUNTIME = {("encode", "train.threads"), ("fuse", "train.threads"), ("evaluate", "train.threads")}


def _covered(k: str, declared: list[str]) -> bool:
    return any(k == d or k.startswith(d + ".") for d in declared)


def test_every_param_and_file_a_stage_reads_is_declared(built_project, tmp_path, monkeypatch,
                                                        reads, opened):
    from esans import stages
    from tasks import dag

    ws = copy_project(built_project, tmp_path / "ws")
    monkeypatch.chdir(ws)
    problems, train_reads, all_reads = [], set(), set()
    for name in dag.read(ws).order:
        p = config.load_params("params.yaml")
        reads.clear()
        opened["files"], opened["root"] = set(), ws
        stages.get(name)(p)
        opened["root"] = None
        files = _undeclared_reads(name, opened["files"], ws)
        if files:
            problems.append(f"{name}: reads undeclared files {files}")
        file_reads = opened["files"] if name == "report" else set()
        declared = [next(iter(e)) if isinstance(e, dict) else e
                    for e in STAGES[name].get("params", [])]
        train_reads |= reads if name == "train" else set()
        all_reads |= reads
        missing = sorted(k for k in reads
                         if not _covered(k, declared) and (name, k) not in RUNTIME)
        if missing:
            problems.append(f"{name}: reads {missing}, declares {declared}")
    assert {"seed", "train.sampler", "train.lr", "train.n_negatives"} <= train_reads  # it records
    assert any(f.endswith("reports/validate.json") for f in file_reads)        # it records
    assert not problems, "\n".join(problems)
    # and every param is read by something: a stage of this default run, or the one place
    # named in READ_ELSEWHERE (a param nothing reads is a knob that silently does nothing)
    for key in sorted(_leaves() - all_reads):
        where = READ_ELSEWHERE.get(key)
        assert where, f"params.yaml key {key} is read by no stage and not in READ_ELSEWHERE"
        attr = key.rsplit(".", 1)[1]
        assert f".{attr}" in (ROOT / where).read_text(), f"{key}: {where} does not read it"
