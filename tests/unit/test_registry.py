"""Promotion gate decisions and the atomic models/current switch."""

import json
import os

import pytest

from esans import paths, registry
from esans.errors import EsansError


def _metrics(v):
    return {"valid": {"recall@50": v}, "test": {"recall@50": v}}


def test_gate_decisions():
    assert registry.decide(_metrics(0.3), None, "recall@50", 0.01).promote
    assert registry.decide(_metrics(0.295), _metrics(0.30), "recall@50", 0.01).promote
    d = registry.decide(_metrics(0.28), _metrics(0.30), "recall@50", 0.01)
    assert not d.promote and "below the promoted model's 0.3000" in d.reason


def _candidate(root, recall, weights=b"w1"):
    (root / paths.MODELS).mkdir(parents=True, exist_ok=True)
    (root / paths.MODELS / "model.pt").write_bytes(weights)
    (root / paths.INDEX).mkdir(parents=True, exist_ok=True)
    (root / paths.INDEX / "items.faiss").write_bytes(b"idx")
    (root / "metrics.json").write_text(json.dumps(_metrics(recall)))
    (root / "params.yaml").write_text("seed: 1\n")


def test_promote_switches_current_and_records_lineage(tmp_path):
    _candidate(tmp_path, 0.3)
    first = registry.promote(tmp_path)
    assert os.path.islink(tmp_path / paths.CURRENT)
    assert (tmp_path / paths.CURRENT / "model/model.pt").read_bytes() == b"w1"
    assert registry.current_metrics(tmp_path)["valid"]["recall@50"] == 0.3
    _candidate(tmp_path, 0.31, b"w2")
    second = registry.promote(tmp_path)
    assert second["id"] != first["id"]
    assert (tmp_path / paths.CURRENT / "model/model.pt").read_bytes() == b"w2"
    log = [json.loads(x) for x in (tmp_path / "models/registry.jsonl").read_text().splitlines()]
    assert [r["id"] for r in log] == [first["id"], second["id"]]
    for key in ("data_hashes", "dvc_lock_sha256", "git_commit", "params", "metrics"):
        assert key in log[-1]
    assert (tmp_path / paths.REGISTRY / first["id"] / "model/model.pt").read_bytes() == b"w1"


def test_promote_without_candidate_is_an_error(tmp_path):
    with pytest.raises(EsansError, match="no evaluated candidate"):
        registry.promote(tmp_path)
