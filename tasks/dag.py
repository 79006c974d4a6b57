"""The stage order, read from ``dvc.yaml`` (the one place the DAG is declared)."""

from __future__ import annotations

import graphlib
from pathlib import Path

import yaml


def _paths(entries: list) -> list[str]:
    out = []
    for e in entries or []:
        out.extend(e.keys() if isinstance(e, dict) else [e])
    return [str(p).rstrip("/") for p in out]


def stage_graph(dvc_yaml: str | Path = "dvc.yaml") -> dict[str, set[str]]:
    """Each stage -> the stages whose outputs it depends on."""
    stages = yaml.safe_load(Path(dvc_yaml).read_text())["stages"]
    produced: dict[str, str] = {}
    for name, st in stages.items():
        for key in ("outs", "metrics", "plots"):
            for path in _paths(st.get(key)):
                produced[path] = name
    graph: dict[str, set[str]] = {name: set() for name in stages}
    for name, st in stages.items():
        for dep in _paths(st.get("deps")):
            for out, producer in produced.items():
                if producer != name and (dep == out or dep.startswith(out + "/")):
                    graph[name].add(producer)
    return graph


def downstream(stale: list[str] | set[str], dvc_yaml: str | Path = "dvc.yaml") -> set[str]:
    """The stale stages and every stage that (transitively) consumes their outputs: DVC's
    own status lists only the first, since the others' inputs have not changed yet."""
    graph = stage_graph(dvc_yaml)
    out = set(stale)
    changed = True
    while changed:
        changed = False
        for name, upstream in graph.items():
            if name not in out and upstream & out:
                out.add(name)
                changed = True
    return out


def stage_order(dvc_yaml: str | Path = "dvc.yaml") -> list[str]:
    """Stages in a topological order of their deps -> outs edges (ties keep file order)."""
    stages = yaml.safe_load(Path(dvc_yaml).read_text())["stages"]
    graph = stage_graph(dvc_yaml)
    ts = graphlib.TopologicalSorter(graph)
    ts.prepare()
    order, index = [], {n: i for i, n in enumerate(stages)}
    while ts.is_active():
        ready = sorted(ts.get_ready(), key=index.__getitem__)
        order.extend(ready)
        ts.done(*ready)
    return order
