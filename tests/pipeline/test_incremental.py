"""DVC reruns only what a change affects: one item's text, or a sampler param."""

import json
import re
import shutil

import pytest

from tests.bad_inputs.test_corpus import good_catalogue
from tests.conftest import BIN, make_project, run, set_params

pytestmark = pytest.mark.slow


def _ran(proc) -> set[str]:
    return set(re.findall(r"Running stage '(\w+)'", proc.stdout + proc.stderr))


def test_only_downstream_stages_rerun(tmp_path):
    (tmp_path / "ws").mkdir()
    p = make_project(tmp_path / "ws", {
        "data": {"source": "files",
                 "files": {"interactions": "raw/inter.csv", "items": "raw/items.csv"}},
        "cluster": {"n_l1": 3, "n_l2": 2, "min_cluster_size": 2},
        "validate": {"min_interactions": 50},
        "evaluate": {"ks": [5, 10, 20]}})          # below the 30-item catalogue
    good_catalogue(p / "raw")
    dvc = str(BIN / "dvc")
    first = run([dvc, "repro"], p, timeout=900)
    assert "split" in _ran(first) and "encode" in _ran(first)

    # one item's text changes: re-encode that item; the split and behaviour stay
    items = (p / "raw/items.csv").read_text().replace("A story about thing 7,",
                                                      "A brand new overview,")
    (p / "raw/items.csv").write_text(items)
    second = run([dvc, "repro"], p, timeout=900)
    ran = _ran(second)
    assert {"ingest", "encode", "fuse", "cluster", "train", "evaluate"} <= ran, ran
    assert not {"split", "behaviour"} & ran, ran
    assert json.loads((p / "reports/encode.json").read_text())["text_encoded"] == 1

    # one poster replaced in place: re-encode that image; a touch without change: nothing
    from PIL import Image

    Image.new("RGB", (24, 24), (250, 10, 200)).save(p / "raw/img/4.png")
    poster = run([dvc, "repro"], p, timeout=900)
    assert {"ingest", "encode", "fuse", "train"} <= _ran(poster), _ran(poster)
    enc = json.loads((p / "reports/encode.json").read_text())
    assert (enc["image_encoded"], enc["text_encoded"]) == (1, 0)
    (p / "raw/img/5.png").touch()
    (p / "raw/items.csv").touch()
    assert _ran(run([dvc, "repro"], p, timeout=900)) == {"source"}

    # a sampler change: retrain and re-evaluate, never re-encode; committed before and after,
    # `dvc metrics diff` / `dvc plots diff` compare the two git revisions
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    run([*git, "add", "-A"], p)
    run([*git, "commit", "-qm", "esans sampler"], p)
    old = json.loads((p / "metrics.json").read_text())["valid"]["ndcg@20"]
    set_params(p, {"train": {"sampler": "uniform"}})
    third = run([dvc, "repro"], p, timeout=900)
    # validate reruns too (it checks the catalogue against the sampler's negatives) and comes
    # out identical, so the split, encoders and clusters are skipped
    assert _ran(third) == {"source", "validate", "train", "index", "evaluate", "bundle",
                          "report"}, _ran(third)
    new = json.loads((p / "metrics.json").read_text())["valid"]["ndcg@20"]
    run([*git, "add", "-A"], p)
    run([*git, "commit", "-qm", "uniform sampler"], p)
    diff = json.loads(run([dvc, "metrics", "diff", "HEAD~1", "--json"], p).stdout)
    change = diff["metrics.json"]["valid.ndcg@20"]
    assert (change["old"], change["new"]) == (pytest.approx(old), pytest.approx(new))
    assert old != new and "reports/train.json" in diff and not any("timings" in f for f in diff)
    plots = run([dvc, "plots", "diff", "HEAD~1", "--json"], p).stdout
    data = json.loads(plots)["data"]
    assert {"training", "recall_at_k", "fuse_alignment"} <= set(data)
    assert data["training"][0]["revisions"] == ["workspace", "HEAD~1"]
    assert "valid_recall@50" in plots
    shutil.rmtree(p / ".cache", ignore_errors=True)
