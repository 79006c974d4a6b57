"""dvc.yaml is the one DAG: the flow's order, the CLI verbs and the artifact paths agree."""

import ast
from pathlib import Path

import yaml

from esans import paths
from esans.stages import NAMES
from tasks import dag
from tests.conftest import ROOT

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def _entries(st, key):
    return [next(iter(e)) if isinstance(e, dict) else e for e in st.get(key, [])]


def test_flow_order_is_a_topological_order_of_dvc_yaml():
    order = dag.read(ROOT).order
    assert sorted(order) == sorted(NAMES)
    pos = {s: i for i, s in enumerate(order)}
    producer = {o: n for n, st in STAGES.items()
                for k in ("outs", "metrics", "plots") for o in _entries(st, k)}
    for name, st in STAGES.items():
        for dep in _entries(st, "deps"):
            for out, stage in producer.items():
                if dep == out or dep.startswith(out + "/"):
                    assert pos[stage] < pos[name], (dep, name)


def test_declared_outputs_are_the_paths_the_code_writes():
    outs = {o for st in STAGES.values() for o in _entries(st, "outs")}
    for p in (paths.SOURCE, paths.INGEST, paths.SPLIT, paths.ENCODE, paths.BEHAVIOUR, paths.FUSE,
              paths.CLUSTER, paths.MODELS, paths.INDEX, paths.EVALUATE, paths.BUNDLE):
        assert str(p) in outs, p
    metrics = {o for st in STAGES.values() for o in _entries(st, "metrics")}
    assert str(paths.METRICS) in metrics
    for stage in NAMES:
        if stage not in ("report", "source"):    # source's output is its report
            assert str(paths.report(stage)) in metrics | outs, stage
    # timings are measured, never declared: an identical rerun leaves dvc.lock identical
    assert not any("timings" in o for o in metrics | outs)
    # plots are declared once (top level), their files are stage outputs
    assert not any("plots" in st for st in STAGES.values())


def test_every_stage_depends_on_its_own_code():
    for name, st in STAGES.items():
        deps = _entries(st, "deps")
        assert f"esans/stages/{name}.py" in deps, name
        for dep in deps:
            assert (ROOT / dep).exists() or not dep.startswith("esans"), dep


def test_downstream_of_a_stale_stage_is_everything_that_consumes_it():
    pipeline = dag.read(ROOT)
    assert pipeline.downstream(["train"]) == {"train", "index", "evaluate", "bundle", "report"}
    image_change = pipeline.downstream(["encode"])
    assert "split" not in image_change and "behaviour" not in image_change
    assert {"fuse", "cluster", "train"} <= image_change
    assert pipeline.downstream([]) == set() == pipeline.affected   # nothing stale read


def _imports(path: Path) -> set[str]:
    """Every ``esans`` module a source file imports, at top level or inside a function."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}  # `from esans.x import y`
    return {m for m in found if m == "esans" or m.startswith("esans.")}


def _module_file(module: str) -> Path | None:
    base = ROOT / module.replace(".", "/")
    for f in (base.with_suffix(".py"), base / "__init__.py"):
        if f.exists():
            return f
    return None


def import_closure(module: str) -> set[str]:
    """The project files (relative paths) that running ``module`` can execute: its imports,
    transitively, with each package's ``__init__``; static, so an over-approximation."""
    todo, seen = [module], set()
    while todo:
        m = todo.pop()
        parts = m.split(".")
        for i in range(1, len(parts) + 1):          # importing a.b.c runs a and a.b too
            f = _module_file(".".join(parts[:i]))
            if f is None or f in seen:
                continue
            seen.add(f)
            todo.extend(_imports(f))
    return {f.relative_to(ROOT).as_posix() for f in seen}


TRIVIAL = {"esans/__init__.py", "esans/stages/__init__.py", "esans/paths.py",
           "esans/errors.py"}


def test_every_stage_declares_the_code_it_runs():
    """A code change can never leave an output DVC calls up to date: every project file a
    stage's module can execute is a declared dep (itself or its folder), and every declared
    code dep is something the stage runs. Package ``__init__`` files holding no logic, the
    path constants and the error type are declared by none (they change no result)."""
    problems = []
    for name, st in STAGES.items():
        code = import_closure(f"esans.stages.{name}") - TRIVIAL
        code = {f for f in code if not (f.endswith("__init__.py")
                                        and len((ROOT / f).read_text().strip().splitlines()) < 3)}
        deps = [d for d in _entries(st, "deps") if d.startswith("esans")]
        missing = sorted(f for f in code if not any(f == d or f.startswith(d + "/")
                                                    for d in deps))
        unused = sorted(d for d in deps if not any(f == d or f.startswith(d + "/")
                                                    for f in code))
        if missing:
            problems.append(f"{name}: add deps {missing}")
        if unused:
            problems.append(f"{name}: drop deps {unused} (not run by the stage)")
    assert not problems, "\n".join(problems)


def test_a_dvc_added_raw_folder_can_be_committed_but_outputs_stay_ignored():
    import subprocess

    def ignored(path: str) -> bool:
        return subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT).returncode == 0

    assert not ignored("data/raw.dvc")           # `dvc add data/raw && git add data/raw.dvc`
    assert ignored("data/raw/interactions.csv") and ignored("data/ingest/items.parquet")
