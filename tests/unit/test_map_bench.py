"""bench/map.py's bookkeeping: the same tuning grid for every config, the setting chosen on
validation only, sample SD and a paired test against the cell's best."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from scipy import stats

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import map as study  # noqa: E402


def _row(config, setting, seed, valid, test):
    return {"catalogue": "beauty", "budget": 8, "config": config, "setting": setting,
            "seed": seed, "valid": {"recall@50": valid}, "test": {"recall@50": test},
            "best_epoch": 4, "epochs_run": 7, "at_cap": False}


def test_every_config_gets_the_same_grid_and_every_config_is_valid_params():
    from esans.config import TrainParams

    grids = {c: study.grid(c) for c in study.configs(8)}
    assert len({str(g) for g in grids.values()}) == 1 and len(grids["uniform"]) == 9
    for c, over in study.configs(8).items():
        TrainParams.model_validate({**over, **study.COMMON, **grids[c][0]})


def test_choice_is_on_validation_and_the_paired_test_is_against_the_best():
    grid = study.grid("uniform")
    rows = [_row("uniform", s, 0, 0.10 + 0.001 * k, 0.30 - 0.001 * k)   # test never chooses
            for k, s in enumerate(grid)]
    best = grid[-1]
    assert study.chosen(rows, "beauty", 8, "uniform") == best
    rng = np.random.default_rng(0)
    a = 0.12 + rng.normal(0, 0.002, 5)
    rows += [_row("uniform", best, s, 0.2, float(a[s])) for s in range(1, 5)]
    rows = [r for r in rows if not (r["seed"] == 0 and r["setting"] == best)]
    rows.append(_row("uniform", best, 0, 0.2, float(a[0])))
    rows += [_row("dns", s, 0, 0.1, 0.1) for s in grid[:-1]]
    b = a + 0.01 + rng.normal(0, 0.001, 5)
    rows += [_row("dns", grid[-1], s, 0.2, float(b[s])) for s in range(5)]
    out = {r["config"]: r for r in study.summarise(rows)}
    assert out["dns"]["p_vs_best"] is None and out["dns"]["lift_vs_best"] == 1
    assert out["uniform"]["recall@50"]["sd"] == pytest.approx(np.std(a, ddof=1), abs=1e-4)
    assert out["uniform"]["p_vs_best"] == pytest.approx(stats.ttest_rel(a, b).pvalue, abs=1e-4)
    assert out["uniform"]["seeds"] == [0, 1, 2, 3, 4]
    assert "| beauty | 8 | dns |" in study.markdown(list(out.values()))


def test_a_config_not_fully_tuned_is_not_summarised():
    grid = study.grid("dns")
    rows = [_row("dns", s, 0, 0.1, 0.1) for s in grid[:5]]
    assert study.chosen(rows, "beauty", 8, "dns") is None
    assert study.summarise(rows) == []


def test_generated_catalogues_are_the_scale_source_under_the_pipelines_own_cluster_rule():
    from esans.config import Params

    data, real = study.catalogue_params("synth-20k:0.6")
    p = Params.model_validate(data)
    assert not real and p.data.source == "scale" and p.data.scale.group_spread == 0.6
    assert p.data.scale.n_items == 20_000 and p.cluster.n_l1 == "auto"   # never the truth
    assert study.catalogue_params("synth-200k")[0]["data"]["scale"]["group_spread"] == 0
    assert study.catalogue_params("beauty")[1]
    with pytest.raises(SystemExit, match="unknown catalogue 'synth-3k'"):
        study.catalogue_params("synth-3k")


def test_a_generated_catalogue_takes_any_generator_setting_and_its_own_workspace():
    from esans.config import Params

    name = "synth-20k:topics_per_group=250,noise=1.5"
    p = Params.model_validate(study.catalogue_params(name)[0])
    assert (p.data.scale.topics_per_group, p.data.scale.noise) == (250, 1.5)
    assert p.data.scale.group_spread == 0 and p.cluster.n_l1 == "auto"
    assert study.workdir(name).name == "synth-20k-topics_per_group250-noise1.5"
    assert study.workdir("synth-20k:0.5").name == "synth-20k-spread0.5"   # the older form
    assert study.workdir(name) != study.workdir("synth-20k:topics_per_group=100,noise=1.5")
    for bad in ("synth-20k:n_items=5", "synth-20k:shape=3"):   # size is the cell's, not a knob
        with pytest.raises(SystemExit, match="not a generator setting"):
            study.catalogue_params(bad)
    # values are typed and range-checked by the params model, named in the message
    with pytest.raises(SystemExit, match="topics_per_group: Input should be greater"):
        study.catalogue_params("synth-20k:topics_per_group=0")
    with pytest.raises(SystemExit, match="noise: Input should be a valid number"):
        study.catalogue_params("synth-20k:noise=lots")


def test_a_workspace_is_this_project_with_the_studys_data_params_and_one_commit(tmp_path):
    import subprocess

    import yaml

    from esans.config import load_params
    from esans.experiment import env, workspace

    work = workspace(ROOT, tmp_path / "w", {"data": {"source": "scale",
                                                     "scale": {"n_items": 5000}}})
    p = load_params(work / "params.yaml")
    assert p.data.source == "scale" and p.data.scale.n_items == 5000
    assert p.train == load_params(ROOT / "params.yaml").train        # the rest as it is
    assert (work / "esans/trainer.py").read_bytes() == (ROOT / "esans/trainer.py").read_bytes()
    assert (work / "bench/results/map.json").exists()                 # the report's dep
    head = lambda: subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, env=env(),  # noqa
                                  capture_output=True, text=True, check=True).stdout
    first = head()
    (work / "esans/trainer.py").write_text("stale")
    workspace(ROOT, work)                       # refreshes the files, keeps the repository
    assert head() == first and (work / "esans/trainer.py").read_bytes() == \
        (ROOT / "esans/trainer.py").read_bytes()
    assert yaml.safe_load((work / "params.yaml").read_text())["data"]["source"] == "synthetic"


def test_the_peer_bench_counts_training_time_only_and_finds_95pct_of_each_arms_best():
    import peer_recbole

    run = {"arm": "x", "n_events": 1000, "test": {"recall@50": 0.3},
           "curve": [{"train_seconds": 2.0, "valid_recall@50": 0.1},
                     {"train_seconds": 2.0, "valid_recall@50": 0.39},
                     {"train_seconds": 2.0, "valid_recall@50": 0.40},
                     {"train_seconds": 2.0, "valid_recall@50": 0.38}]}
    s = peer_recbole.summary(run)
    assert s["events_per_s"] == 500                  # 4 epochs x 1000 events / 8 s
    assert s["seconds_to_95pct"] == 4.0              # 0.39 >= 0.95 x 0.40 after two epochs
    assert s["best_valid_recall@50"] == 0.4 and s["epochs"] == 4


def test_the_default_is_marked_without_the_prepared_copies(tmp_path, monkeypatch):
    """The report reads a catalogue's size from its prepared copy (ignored, under bench/.work)
    and, on a fresh clone where that is gone, from the last map.json."""
    import json

    monkeypatch.setattr(study, "WORK", tmp_path / "work")
    monkeypatch.setattr(study, "OUT", tmp_path / "map")
    grid = study.grid("mixed")
    rows = [{**_row(c, s, 0, 0.1 + 0.01 * k, 0.1), "catalogue": "sports"}
            for c in ("mixed", "full") for k, s in enumerate(grid)]
    assert study.catalogue_size("sports") is None
    assert not any(r["is_default"] for r in study.summarise(rows))    # size unknown: unmarked
    (tmp_path / "map.json").write_text(json.dumps([{"catalogue": "sports", "n_items": 18357}]))
    out = {r["config"]: r for r in study.summarise(rows)}
    assert out["mixed"]["is_default"] and not out["full"]["is_default"]
    assert out["mixed"]["n_items"] == 18357
    split = tmp_path / "work/sports/reports/split.json"
    split.parent.mkdir(parents=True)
    split.write_text(json.dumps({"n_items": 1682}))                     # the prepared copy wins
    out = {r["config"]: r for r in study.summarise(rows)}
    assert out["full"]["is_default"] and not out["mixed"]["is_default"]
