"""Encoding shards on Prefect's Dask task runner (2 LocalCluster workers) give the serial
run's embeddings."""

import json

import numpy as np
import pytest

from tests.conftest import BIN, copy_project, run

pytestmark = pytest.mark.slow


def test_two_dask_workers_encode_what_the_serial_run_encodes(built_project, tmp_path,
                                                             monkeypatch):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    p = copy_project(built_project, tmp_path / "ws")                  # encoded serially
    serial = {m: np.load(p / f"data/encode/{m}.npy") for m in ("text", "image")}
    for f in (p / ".cache/encode").glob("*.parquet"):
        f.unlink()

    from prefect.testing.utilities import prefect_test_harness

    from flows.encode import encode_sharded

    with prefect_test_harness():
        done = encode_sharded(str(p), shards=3, workers=2)
    assert done == {"text": 240, "image": 240}
    run([str(BIN / "esans"), "encode", "-q"], p)                       # assembles from cache
    report = json.loads((p / "reports/encode.json").read_text())
    assert report["text_encoded"] == 0 and report["image_encoded"] == 0
    for m, ref in serial.items():
        got = np.load(p / f"data/encode/{m}.npy")
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, atol=1e-5)
