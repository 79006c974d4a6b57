"""Training under `torchrun --nproc_per_node 2` (gloo) matches the single-process run."""

import json
import socket

import pytest

from tests.conftest import BIN, copy_project, run

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train_and_evaluate(p, launcher: list[str]) -> dict:
    proc = run([*launcher, str(BIN / "esans"), "train", "-q"], p, timeout=600)
    run([str(BIN / "esans"), "index", "-q"], p)
    run([str(BIN / "esans"), "evaluate", "-q"], p)
    return {"train": json.loads((p / "reports/train.json").read_text()),
            "metrics": json.loads((p / "metrics.json").read_text()), "log": proc.stderr}


@pytest.mark.parametrize("sampler", ["esans", "inbatch"])
def test_two_gloo_ranks_reach_the_single_process_metrics(built_project, tmp_path, sampler):
    # the shared build's stages up to cluster, another train section
    p = copy_project(built_project, tmp_path / "ws", {"train": {
        "sampler": sampler, "epochs": 4, "patience": 4, "threads": 1}})
    single = _train_and_evaluate(p, [])
    ddp = _train_and_evaluate(p, [str(BIN / "torchrun"), "--nnodes", "1",
                                  "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
                                  "--master_port", str(_free_port())])
    assert single["train"]["world_size"] == 1 and ddp["train"]["world_size"] == 2
    assert ddp["train"]["epochs_run"] == single["train"]["epochs_run"]
    for split in ("valid", "test"):
        a, b = single["metrics"][split]["recall@50"], ddp["metrics"][split]["recall@50"]
        print(f"{sampler} {split} recall@50: single {a:.4f}, 2 ranks {b:.4f}")
        assert b > 0
        # same global batch and step count; only the negatives' RNG streams differ
        assert abs(a - b) <= max(0.03, 0.15 * a), (split, a, b)
