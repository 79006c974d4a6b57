"""dvc.yaml is the one DAG: the flow's order, the CLI verbs and the artifact paths agree."""

import yaml

from esans import paths
from esans.stages import NAMES
from tasks.dag import downstream, stage_order
from tests.conftest import ROOT

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def _entries(st, key):
    return [next(iter(e)) if isinstance(e, dict) else e for e in st.get(key, [])]


def test_flow_order_is_a_topological_order_of_dvc_yaml():
    order = stage_order(ROOT / "dvc.yaml")
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
    for p in (paths.INGEST, paths.SPLIT, paths.ENCODE, paths.BEHAVIOUR, paths.FUSE,
              paths.CLUSTER, paths.MODELS, paths.INDEX, paths.EVALUATE, paths.BUNDLE):
        assert str(p) in outs, p
    metrics = {o for st in STAGES.values() for o in _entries(st, "metrics")}
    assert str(paths.METRICS) in metrics
    for stage in NAMES:
        if stage not in ("report",):
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
    dvc_yaml = ROOT / "dvc.yaml"
    assert downstream(["train"], dvc_yaml) == {"train", "index", "evaluate", "bundle",
                                               "report"}
    image_change = downstream(["encode"], dvc_yaml)
    assert "split" not in image_change and "behaviour" not in image_change
    assert {"fuse", "cluster", "train"} <= image_change
    assert downstream([], dvc_yaml) == set()
