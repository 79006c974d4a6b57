"""Each stage declares in dvc.yaml every param it reads (so a param change can never leave an
output DVC calls up to date): every stage runs in-process on a copy of the built tiny
project while reads of the config model's fields are recorded."""

from __future__ import annotations

import shutil
import typing

import pytest
import yaml
from pydantic import BaseModel

from esans import config
from tests.conftest import ROOT

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


def _covered(k: str, declared: list[str]) -> bool:
    return any(k == d or k.startswith(d + ".") for d in declared)


def test_every_param_a_stage_reads_is_declared(built_project, tmp_path, monkeypatch, reads):
    from esans import stages
    from tasks.dag import stage_order

    ws = tmp_path / "ws"
    shutil.copytree(built_project, ws, symlinks=True)
    monkeypatch.chdir(ws)
    problems, train_reads = [], set()
    for name in stage_order(ws / "dvc.yaml"):
        p = config.load_params("params.yaml")
        reads.clear()
        stages.get(name)(p)
        declared = [next(iter(e)) if isinstance(e, dict) else e
                    for e in STAGES[name].get("params", [])]
        train_reads |= reads if name == "train" else set()
        missing = sorted(k for k in reads if not _covered(k, declared))
        if missing:
            problems.append(f"{name}: reads {missing}, declares {declared}")
    assert {"seed", "train.sampler", "train.lr", "train.m_o"} <= train_reads  # it records
    assert not problems, "\n".join(problems)
