"""bench/regime.py at a toy size: a prepared synthetic catalogue and its control, one run per
sampler family, the report; plus what the generator promises about the control."""

import json
import sys

import numpy as np
import polars as pl
import pytest

from esans.data.synthetic_scale import ScaleParams, generate
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import regime  # noqa: E402


def test_control_keeps_behaviour_and_popularity_but_not_content(tmp_path):
    kw = dict(n_items=2000, n_users=400, n_events=8000, n_groups=2, dim=16, drift=0.3)
    generate(ScaleParams(**kw), tmp_path / "s", seed=3)
    generate(ScaleParams(**kw, content="random"), tmp_path / "c", seed=3)

    def read(d, what):
        return pl.concat([pl.read_parquet(f) for f in sorted((d / what).glob("*.parquet"))])

    assert read(tmp_path / "s", "interactions").equals(read(tmp_path / "c", "interactions"))
    s, c = read(tmp_path / "s", "items"), read(tmp_path / "c", "items")
    assert s["label"].equals(c["label"])                      # the behaviour topic
    topic = s["label"].str.replace("topic", "").cast(pl.Int64).to_numpy()

    def topic_separation(vec):  # mean cosine within a topic minus across topics
        v = np.asarray(vec.to_list(), np.float32)
        same = topic[:, None] == topic[None, :]
        cos = v @ v.T
        return cos[same].mean() - cos[~same].mean()

    assert topic_separation(s["vector"]) > 0.3               # content shows the topic
    assert abs(topic_separation(c["vector"])) < 0.05         # the control's does not


@pytest.fixture
def toy(tmp_path, monkeypatch):
    monkeypatch.setattr(regime, "WORK", tmp_path / "work")
    monkeypatch.setattr(regime, "RUNS", tmp_path / "runs.jsonl")
    monkeypatch.setattr(regime, "OUT", tmp_path / "regime")
    monkeypatch.setitem(regime.SIZES, "20k", {"n_items": 4000, "n_users": 800,
                                              "n_events": 16000})
    monkeypatch.setitem(regime.EPOCHS, "20k", (2, 1))
    return tmp_path


def test_regime_runs_prepares_once_resumes_and_reports(toy):
    rows = [regime.run_one(d, c, 8, 0, 1) for d in ("20k", "ctl-20k")
            for c in ("uniform", "esans-paper")]
    for r in rows:
        assert 0 < r["recall@50"] <= r["recall@200"] <= 1 and r["epochs"] <= 2
    (toy / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert set(regime.done_runs()) == {(r["dataset"], r["config"], 8, 0) for r in rows}
    assert {r["prep"] for r in rows if r["dataset"] == "20k"} == {regime.prep_id("20k")}
    assert regime.prep_id("20k") != regime.prep_id("ctl-20k")
    other = {**rows[0], "config": "dns", "prep": "0123456789ab"}   # another machine's
    with open(toy / "runs.jsonl", "a") as fh:
        fh.write(json.dumps(other) + "\n")
    with pytest.raises(SystemExit, match="runs of 20k trained on another preparation"):
        regime.study(["20k"], [8], 1, ["dns"], workers=1, threads=1)
    (toy / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    todo = [g for g in regime.grid(["20k"], [8], 1, ["uniform", "esans-paper"])
            if g not in regime.done_runs()]
    assert todo == []                                        # resumes: nothing left to run
    regime.report(["esans-paper"], [("20k", 8)], threads=1, full_cost=["20k"])
    md = (toy / "regime.md").read_text()
    full = json.loads((toy / "regime-steps.json").read_text())["full_softmax"]["20k"]
    # the full softmax scores all 4,000 items a row against uniform's 9: dearer, and the
    # projected run is its measured step times the cap's steps (2 epochs of 1,024-row batches)
    steps = 2 * -(-len(np.load(regime.prepare("20k"))["train_users"]) // 1024)
    assert full["full_over_uniform"] > 1 and full["steps_per_run"] == steps
    assert full["hours_per_run_at_cap"] == pytest.approx(steps * full["full_ms"] / 3.6e6)
    assert f"Full softmax at 20k: not run. One step costs x{full['full_over_uniform']:.1f}" in md
    assert "| 20k | 8 | esans-paper | 1 |" in md and "| esans-paper | ctl-20k | 8 |" in md
    steps = json.loads((toy / "regime-steps.json").read_text())["20k|8"]   # measured on request
    assert steps["uniform"] == 1.0 and steps["esans-paper"] > 0 and steps["threads"] == 1
    assert steps["cpu"]["uniform"] == 1.0 and steps["cpu"]["esans-paper"] > 0
    assert f"{steps['esans-paper']:.2f} (cpu {steps['cpu']['esans-paper']:.2f}) |" in md
    assert "ctl-20k|8" not in json.loads((toy / "regime-steps.json").read_text())
    assert (toy / "regime.png").stat().st_size > 0
    import train_memory    # its arms train on the same prepared catalogue

    for trim in (0, 2):
        r = train_memory.arm("20k", 8, "esans-dns-table", 6, trim)
        assert r["trim_every"] == trim and r["steps"] == 6
        assert 0 < r["final_rss_gb"] <= r["peak_rss_gb"] + 0.01
        assert r["cpu_ms_step"] > 0 and r["wall_ms_step"] > 0
        if "heap_gb" in r:                                     # glibc
            assert 0 < r["in_use_gb"] <= r["heap_gb"] and r["free_gb"] >= 0


def test_lift_against_same_budget_baselines_leaves_the_mixed_pool_out():
    runs = [{"dataset": "200k", "config": c, "budget": 8, "seed": s, "recall@50": v + 0.001 * s,
             "recall@200": 0.3, "ndcg@50": 0.1, "best_epoch": 3, "to_best_s": 60.0}
            for c, v in (("uniform", 0.10), ("dns", 0.13), ("mixed", 0.17), ("esans-dns", 0.14))
            for s in range(3)]
    summary = regime.summarise(runs)
    (all_,), (per_row,) = (regime.lifts(summary, "esans-dns", b)
                           for b in (regime.BASELINES, regime.PER_ROW))
    assert all_["best_baseline"] == "mixed" and all_["lift"] == pytest.approx(0.141 / 0.171)
    assert per_row["best_baseline"] == "dns" and per_row["lift"] == pytest.approx(0.141 / 0.131)
    assert per_row["seeds"] == 3 and per_row["gap_sd"] > 2          # equal spreads, +0.01 apart
    md = regime.markdown(summary, {}, ["esans-dns"])
    assert "| esans-dns | 200k | 8 | mixed | 0.825 |" in md
    assert "| esans-dns | 200k | 8 | dns | 1.076 |" in md
    pooled = regime.summarise(runs + [{**runs[0], "config": "mixed+esans"}])   # on the pool:
    assert regime.lifts(pooled, "mixed+esans", regime.PER_ROW) == []          # no per-row lift
    assert regime.lifts(pooled, "mixed+esans")[0]["best_baseline"] == "mixed"
    capped = regime.summarise(runs + [{**r, "config": c, "recall@50": v + 0.001 * r["seed"]}
                                      for r in runs[:3] for c, v in (
                                          ("dns-table-p2-e12", 0.50),
                                          ("esans-dns-table-k2-e12", 0.55))])
    assert regime.lifts(capped, "esans-dns")[0]["best_baseline"] == "mixed"   # 6-epoch cap
    (e12,) = regime.lifts(capped, "esans-dns-table-k2-e12")         # only the 12-epoch twin
    assert e12["best_baseline"] == "dns-table-p2-e12"
    assert e12["lift"] == pytest.approx(0.551 / 0.501)
    # the mixed pool's 12-epoch twin runs once (at the first budget) and, like mixed, counts
    # for every budget under its cap, but never as a per-row baseline
    twins = regime.summarise(runs + [{**r, "config": c, "budget": b, "recall@50": v}
                                     for r in runs[:3] for c, b, v in (
                                         ("mixed-e12", 8, 0.60),
                                         ("dns-table-p2-e12", 64, 0.50),
                                         ("esans-dns-table-k2-e12", 64, 0.55))])
    (e12,) = regime.lifts(twins, "esans-dns-table-k2-e12")
    assert e12["best_baseline"] == "mixed-e12" and e12["lift"] == pytest.approx(0.55 / 0.60)
    (e12,) = regime.lifts(twins, "esans-dns-table-k2-e12", regime.PER_ROW)
    assert e12["best_baseline"] == "dns-table-p2-e12"
    assert [g[1] for g in regime.grid(["200k"], [8, 64], 1, ["mixed-e12"])] == ["mixed-e12"]
    # the plot's best-variant row: per cell, the variant with the highest lift, each against
    # its own comparable baselines (the 12-epoch twin against the 12-epoch DNS)
    best = regime.best_variant_lifts(capped, ["esans-dns", "esans-dns-table-k2-e12"],
                                     regime.PER_ROW)
    assert [(r["config"], r["best_baseline"]) for r in best] == [
        ("esans-dns-table-k2-e12", "dns-table-p2-e12")]
    assert best[0]["lift"] == pytest.approx(0.551 / 0.501)
    best = regime.best_variant_lifts(summary, ["esans-dns", "esans-paper"], regime.PER_ROW)
    assert [r["config"] for r in best] == ["esans-dns"]          # no esans-paper runs here


def test_code_version_marks_code_changes_but_not_appended_results(tmp_path, monkeypatch):
    import subprocess

    def git(*a):
        subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True)

    (tmp_path / "esans").mkdir()
    (tmp_path / "bench/results").mkdir(parents=True)
    (tmp_path / "esans/a.py").write_text("x = 1\n")
    (tmp_path / "bench/regime.py").write_text("y = 1\n")
    (tmp_path / "bench/results/runs.jsonl").write_text("{}\n")
    git("init", "-q")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    monkeypatch.setattr(regime, "ROOT", tmp_path)
    clean = regime.code_version()
    assert clean and "+dirty" not in clean and clean != "unknown"
    (tmp_path / "bench/results/runs.jsonl").write_text("{}\n{}\n")   # a finished run appended
    assert regime.code_version() == clean
    (tmp_path / "esans/a.py").write_text("x = 2\n")                  # the library changed
    assert regime.code_version() == clean + "+dirty"


def test_false_negative_pairs_hold_the_users_own_held_out_items():
    """bench/false_negatives.py pairs each drawn train positive with one of *its user's*
    held-out items, every held-out item of that user reachable, and a uniform item."""
    import false_negatives

    rng = np.random.default_rng(0)
    z = {"train_users": np.array([0, 0, 1, 1, 2]), "train_items": np.array([1, 2, 3, 4, 5]),
         "valid_users": np.array([1, 0]), "valid_items": np.array([7, 8]),
         "test_users": np.array([1, 0, 1]), "test_items": np.array([9, 6, 8]), "n_items": 10}
    pos, held, rand = false_negatives.pairs(z, 4000, rng)
    own = {0: {8, 6}, 1: {7, 9, 8}}
    user = {1: 0, 2: 0, 3: 1, 4: 1}                  # user 2 has no held-out item: never drawn
    assert set(pos.tolist()) == {1, 2, 3, 4}
    assert all(h in own[user[p]] for p, h in zip(pos.tolist(), held.tolist()))
    assert {(user[p], h) for p, h in zip(pos.tolist(), held.tolist())} == {
        (u, h) for u, hs in own.items() for h in hs}
    assert rand.min() >= 0 and rand.max() < 10 and len(set(rand.tolist())) == 10


def test_draw_cost_bench_times_every_arm_on_draws_that_follow_each_proposal(tmp_path):
    """bench/draw_cost.py: its arms draw what they claim (MSAC's hard slots in the positive's
    level-1 cluster outside its level-2 one, easy ones elsewhere; 32 slots for the project's),
    and one run writes a median for every arm."""
    import subprocess

    import torch

    import draw_cost

    cat = draw_cost.arms(4000, 500, 8000, np.random.default_rng(0))
    s = cat["arms"]["msac-project-32"]
    pos = torch.from_numpy(cat["items"][:256])
    neg = s.sample(torch.from_numpy(cat["users"][:256]), pos, torch.Generator().manual_seed(0))
    assert neg.ids.shape == (256, 32)
    c, l2 = s.l1[pos].unsqueeze(1), s.l2[pos].unsqueeze(1)
    hard, easy = neg.ids[:, :8], neg.ids[:, 8:]
    assert (s.l1[hard] == c).all() and (s.l2[hard] != l2).all() and (s.l1[easy] != c).all()
    out = tmp_path / "dc.json"
    subprocess.run([sys.executable, str(ROOT / "bench/draw_cost.py"), "--sizes", "20k",
                    "--reps", "3", "--out", str(out)], check=True, cwd=tmp_path)
    row = json.loads(out.read_text())["rows"][0]
    assert row["size"] == "20k" and all(row[f"{n}_ms"] > 0 for n in (
        "uniform-8", "uniform-32", "msac-paper-8", "msac-project-32", "edis-6-sources"))


def test_seen_lookup_bench_answers_agree_and_the_shared_pool_gets_a_shared_row_arm(tmp_path):
    """bench/seen_lookup.py: every arm's answer equals the plain binary search (the script
    asserts it, also for the mixed pool's expanded view), and each query size gets its row."""
    import subprocess

    out = tmp_path / "sl.json"
    subprocess.run([sys.executable, str(ROOT / "bench/seen_lookup.py"), "--sizes", "20k",
                    "--reps", "2", "--out", str(out)], check=True, cwd=tmp_path)
    rows = {r["m"]: r for r in json.loads(out.read_text())["rows"]}
    assert sorted(rows) == [8, 32, 1536]
    assert rows[8]["shared_row_ms"] is None and rows[1536]["shared_row_ms"] > 0
