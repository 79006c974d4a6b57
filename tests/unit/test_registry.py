"""Bundle manifests and the registry's bookkeeping (promote, identical, rollback, prune) on
small hand-made bundles; the gate's re-scoring runs on real models in
tests/pipeline/test_promotion.py."""

import json
import os
from pathlib import Path

import pytest

from esans import paths, registry
from esans.bundle import Bundle, verify, write_manifest
from esans.errors import EsansError


def _bundle(root: Path, weights: bytes, recall: float = 0.3) -> None:
    """A workspace bundle with the given 'weights' (the registry never loads the model when
    there is no champion to re-score)."""
    b = root / paths.BUNDLE
    b.mkdir(parents=True, exist_ok=True)
    (b / "model.pt").write_bytes(weights)
    (b / "meta.json").write_text("{}")
    (b / "metrics.json").write_text(json.dumps({"valid": {"recall@50": recall}}))
    (b / "dvc.lock").write_text(f"schema: '2.0'\n# {recall}\n")
    write_manifest(b)


def test_manifest_hash_covers_the_model_not_its_provenance(tmp_path):
    _bundle(tmp_path, b"w1", 0.3)
    h1 = Bundle(tmp_path / paths.BUNDLE).model_hash
    _bundle(tmp_path, b"w1", 0.4)                 # other metrics and dvc.lock, same model
    assert Bundle(tmp_path / paths.BUNDLE).model_hash == h1
    _bundle(tmp_path, b"w2", 0.3)
    assert Bundle(tmp_path / paths.BUNDLE).model_hash != h1


@pytest.mark.parametrize("damage, message", [
    (lambda b: (b / "model.pt").write_bytes(b"w9"), "model.pt [bundle]: content does not match"),
    (lambda b: (b / "model.pt").write_bytes(b"w1 "), "model.pt [bundle]: content does not match"),
    (lambda b: (b / "meta.json").unlink(), "meta.json [bundle]: part of the model bundle is "
                                           "missing"),
    (lambda b: (b / "manifest.json").write_text("{"), "manifest.json [bundle]: not a model "
                                                      "bundle"),
    (lambda b: (b / "manifest.json").write_text('{"format": 7, "files": {}}'),
     "bundle format 7"),
])
def test_verify_names_the_damaged_part(tmp_path, damage, message):
    _bundle(tmp_path, b"w1")
    b = tmp_path / paths.BUNDLE
    verify(b)
    damage(b)
    with pytest.raises(EsansError, match=message.replace("[", r"\[").replace("]", r"\]")):
        verify(b)


def test_promote_identical_rollback_and_prune(tmp_path, monkeypatch):
    root = tmp_path
    with pytest.raises(EsansError, match="no model bundle here"):
        registry.promote(root)
    _bundle(root, b"w1")
    d1 = registry.promote(root, keep=2, compare_last=1)
    assert d1.promote and "no champion yet" in d1.reason
    assert os.readlink(root / paths.CURRENT) == f"registry/{d1.model_id}"
    assert (root / paths.CURRENT / "model.pt").read_bytes() == b"w1"
    again = registry.promote(root, keep=2, compare_last=1)
    assert not again.promote and "identical to the champion" in again.reason
    assert len(list((root / paths.REGISTRY).iterdir())) == 1

    # with a champion the gate re-scores real models; these fake ones pass it by decree
    monkeypatch.setattr(registry, "gate", lambda *a: registry.Decision(True, "ok", "recall@50"))
    ids = [d1.model_id]
    for w in (b"w2", b"w3"):
        _bundle(root, w)
        ids.append(registry.promote(root, keep=2, compare_last=1).model_id)
    assert registry.current_id(root) == ids[2]
    # keep=2: the least recently served bundle is pruned
    assert sorted(d.name for d in (root / paths.REGISTRY).iterdir()) == sorted(ids[1:])
    assert registry.rollback(root) == ids[1]
    assert (root / paths.CURRENT / "model.pt").read_bytes() == b"w2"
    assert registry.rollback(root) == ids[2]          # back and forth
    with pytest.raises(EsansError, match=f"no model '{ids[0]}'"):
        registry.rollback(root, ids[0])
    events = [e["event"] for e in registry.events(root)]
    assert events == ["promote", "promote", "promote", "rollback", "rollback"]
    rows = registry.listing(root)
    assert [r["id"] for r in rows] == [ids[2], ids[1], ids[0]]
    assert rows[0]["current"] == "*" and rows[2]["local"].startswith("no")


def test_a_bundle_says_what_built_it_and_how_to_load_it_and_another_format_is_refused(
        tmp_path):
    from esans.bundle import FORMAT, LOAD, built_with

    b = tmp_path / "b"
    b.mkdir()
    (b / "model.pt").write_bytes(b"w")
    m = write_manifest(b, {"built_with": built_with(), "load": LOAD})
    assert m["format"] == FORMAT and m["built_with"]["torch"] and m["built_with"]["faiss"]
    assert m["built_with"]["python"].startswith("3.") and "Server(Bundle(" in m["load"]["python"]
    m["format"] = FORMAT + 1
    m["built_with"]["esans"] = "9.9"
    (b / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(EsansError, match=rf"bundle format {FORMAT + 1} \(built by esans 9.9\); "
                                         rf"this esans .* reads format {FORMAT}: serve it"):
        verify(b)
