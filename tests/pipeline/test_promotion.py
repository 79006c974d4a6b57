"""Champion and candidate: `esans promote / rollback / checkout / models` and serving from
the promoted bundle only, on the tiny built pipeline (copied per test)."""

import json
import os
import sys
from pathlib import Path

import polars as pl
import pytest

from esans.bundle import Bundle
from tests.conftest import BIN, copy_project, run, set_params

pytestmark = pytest.mark.slow
ESANS = str(Path(sys.executable).parent / "esans")
DVC = str(BIN / "dvc")
GIT = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]


@pytest.fixture
def ws(built_project, tmp_path):
    return copy_project(built_project, tmp_path / "ws")


def _users(p: Path, n: int = 2) -> list[str]:
    return pl.read_parquet(p / "data/split/users.parquet")["user_id"].to_list()[:n]


def recommendations(p: Path, users: list[str], *extra: str) -> dict[str, list[str]]:
    return {u: [r["item_id"] for r in json.loads(run(
        [ESANS, "recommend", "--user", u, "-k", "10", "--json", *extra], p).stdout)]
        for u in users}


def _current(p: Path) -> str:
    return Path(os.readlink(p / "models/current")).name


def test_promote_gate_rollback_prune_and_identical_models(ws):
    p = ws
    set_params(p, {"promote": {"compare_last": 2, "keep": 2}})
    users = _users(p)
    first = _current(p)
    champion = recommendations(p, users)
    # nothing changed since `make pipeline` promoted: the same bundle is not promoted again
    same = run([ESANS, "promote"], p)
    assert "identical to the champion" in same.stdout and _current(p) == first
    assert len(list((p / "models/registry").iterdir())) == 1

    # a deliberately worse model is rejected and never served; --candidate shows it
    set_params(p, {"train": {"epochs": 1, "lr": 1e-6}})
    run([DVC, "repro"], p, timeout=900)
    assert recommendations(p, users) == champion
    worse = recommendations(p, users, "--candidate")
    assert worse != champion
    proc = run([ESANS, "promote"], p, check=False)
    assert proc.returncode == 1 and "rejected: below the best recent model" in proc.stderr
    assert _current(p) == first and recommendations(p, users) == champion
    # the gate re-scored the champion on the candidate's validation split: same data, same
    # protocol, so it reproduces the champion's own evaluation exactly
    stored = json.loads((p / "models/current/metrics.json").read_text())["valid"]["recall@50"]
    d = json.loads(run([ESANS, "promote", "--json"], p, check=False).stdout)
    assert not d["promote"] and [c["id"] for c in d["compared"]] == [first]
    assert d["compared"][0]["rescored"] == pytest.approx(stored, abs=1e-6)
    assert d["compared"][0]["at_promotion"] == pytest.approx(stored, abs=1e-6)

    # forced in, it serves; a next weak model is then judged against the best of the last
    # two served models (the earlier champion), not only against the weak one: no creep
    run([ESANS, "promote", "--force"], p)
    second = _current(p)
    assert second != first and recommendations(p, users) == worse
    set_params(p, {"train": {"lr": 2e-6}})
    run([DVC, "repro"], p, timeout=900)
    proc = run([ESANS, "promote"], p, check=False)
    assert proc.returncode == 1 and f"vs earlier champion {first}" in proc.stderr

    # rollback restores the champion's exact answers; by id, any kept bundle
    assert run([ESANS, "rollback"], p).stdout.strip() == f"now serving {first}"
    assert recommendations(p, users) == champion
    run([ESANS, "rollback", second], p)
    assert _current(p) == second
    listing = run([ESANS, "models"], p).stdout.splitlines()
    assert listing[1].split()[:2] == [second, "*"] and listing[2].split()[0] == first
    # keep: 2 -> promoting a third prunes the least recently served (the first)
    run([ESANS, "promote", "--force"], p)
    third = _current(p)
    assert sorted(d.name for d in (p / "models/registry").iterdir()) == sorted([second, third])
    bad = run([ESANS, "rollback", first], p, check=False)
    assert bad.returncode == 2 and f"no model {first!r}" in bad.stderr


def test_champion_is_rescored_on_the_new_split_and_creep_is_bounded(ws):
    p = ws
    first = _current(p)
    stored = Bundle(p / "models/current").metrics["valid"]["recall@50"]
    # new data: more events, so users' validation items differ from the champion's split
    set_params(p, {"data": {"synthetic": {"n_events": 4600}}})
    run([DVC, "repro"], p, timeout=900)
    cand = Bundle(p / "models/bundle")
    d = json.loads(run([ESANS, "promote", "--json"], p, check=False).stdout)
    rescored = d["compared"][0]["rescored"]
    assert rescored != pytest.approx(stored, abs=1e-6)       # a different split ...
    # ... and exactly the champion's score on the candidate's validation split
    champ = Bundle(p / "models/registry" / first)
    held, seen = cand.table("valid"), cand.table("train")
    users = sorted(set(held["user_id"]) & set(champ.users["user_id"]))
    assert rescored == pytest.approx(champ.score(held, seen, users, [50])["recall@50"],
                                     abs=1e-6)
    assert d["candidate"] == pytest.approx(
        cand.score(held, seen, users, [50])["recall@50"], abs=1e-6)


def test_corrupted_bundle_is_refused_with_the_file_named(ws):
    p = ws
    target = p / "models/current/item_vectors.npy"
    good = target.read_bytes()
    target.write_bytes(good[:-1] + bytes([good[-1] ^ 0xFF]))     # one byte changed
    proc = run([ESANS, "recommend", "--user", _users(p, 1)[0]], p, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "esans: error: models/current/item_vectors.npy [bundle]: content does not match the "
        "bundle's manifest (corrupted or edited); refusing to serve it"]
    target.write_bytes(good)
    (p / "models/current/meta.json").unlink()
    proc = run([ESANS, "similar", "--item", "i000003"], p, check=False)
    assert proc.returncode == 2 and "meta.json [bundle]: part of the model bundle is missing" \
        in proc.stderr
    # a damaged champion cannot be compared: promote says why; --force replaces it
    proc = run([ESANS, "promote"], p, check=False)
    assert proc.returncode == 2 and "cannot compare with the served models" in proc.stderr
    assert "promoted" in run([ESANS, "promote", "--force"], p).stdout
    assert run([ESANS, "similar", "--item", "i000003", "--json"], p).returncode == 0


def test_promoted_bundle_restores_in_a_fresh_clone_from_the_dvc_remote(ws, tmp_path):
    p = ws
    users = _users(p)
    remote = tmp_path / "remote"
    run([DVC, "remote", "add", "-d", "store", str(remote)], p)
    set_params(p, {"train": {"lr": 0.003}})
    run([DVC, "repro"], p, timeout=900)
    out = run([ESANS, "promote", "--force"], p).stdout
    model_id = _current(p)
    assert f"pushed to DVC remote 'store'; commit registry/{model_id}.dvc" in out
    served = recommendations(p, users)
    run([*GIT, "add", "-A"], p)
    run([*GIT, "commit", "-qm", "promote"], p)

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(p), str(clone)], tmp_path)
    assert not (clone / "models").exists()
    proc = run([ESANS, "recommend", "--user", users[0]], clone, check=False)
    assert proc.returncode == 2 and "no promoted model" in proc.stderr
    assert run([ESANS, "checkout", model_id], clone).stdout.strip() == f"now serving {model_id}"
    assert recommendations(clone, users) == served
    # the bundle says which data and code produced it
    manifest = json.loads((clone / "models/current/manifest.json").read_text())
    assert manifest["git"]["commit"] and (clone / "models/current/dvc.lock").exists()


def test_the_gate_leaves_out_an_earlier_model_of_another_user_base_and_says_so(ws):
    import shutil

    from esans import registry
    from esans.bundle import write_manifest

    champ = _current(ws)
    other = ws / "models/registry/other-users"
    shutil.copytree(ws / "models/registry" / champ, other)
    users = pl.read_parquet(other / "users.parquet")
    users.with_columns(("x" + pl.col("user_id")).alias("user_id")).write_parquet(
        other / "users.parquet")
    (other / "manifest.json").unlink()
    write_manifest(other)
    log = ws / "models/registry.jsonl"
    events = log.read_text().splitlines()
    log.write_text("\n".join([json.dumps({"event": "promote", "id": "other-users"}),
                              *events]) + "\n")          # served before the champion
    set_params(ws, {"train": {"lr": 0.004}})
    run([DVC, "repro"], ws, timeout=900)
    d = registry.gate(ws, Bundle(ws / "models/bundle"), "recall@50", 0.01, 3)
    assert [c["id"] for c in d.compared] == [champ]
    assert "left out, trained on another user base: other-users (knows 0 of them)" in d.reason
    assert "every compared model knows" in d.reason
    # with evaluate.users set (large catalogues), every model is scored on one fixed sample
    small = registry.gate(ws, Bundle(ws / "models/bundle"), "recall@50", 0.01, 3, max_users=5)
    assert small.users == 5 and "a fixed sample of 5 of the" in small.reason
    again = registry.gate(ws, Bundle(ws / "models/bundle"), "recall@50", 0.01, 3, max_users=5)
    assert again.compared == small.compared and d.users > 5
