"""The thread count is how fast, not what: the stages upstream of training give the same bytes
at any count, which is why it is not a DVC param of theirs."""

from __future__ import annotations

import numpy as np
import torch

from esans.encode import text
from esans.encode.fuse import align


def _at(threads: int, fn):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return fn()
    finally:
        torch.set_num_threads(before)


def test_fuse_alignment_is_the_same_bytes_at_one_and_two_threads():
    rng = np.random.default_rng(0)
    feats = {"text": rng.normal(size=(600, 48)).astype(np.float32),
             "behaviour": rng.normal(size=(600, 32)).astype(np.float32)}
    masks = {m: np.ones(600, bool) for m in feats}
    one, _ = _at(1, lambda: align(feats, masks, 16, 20, 3e-3, 0.1, seed=0))
    two, _ = _at(2, lambda: align(feats, masks, 16, 20, 3e-3, 0.1, seed=0))
    assert all(np.array_equal(one[m], two[m]) for m in feats)


def test_text_encoding_is_the_same_bytes_at_one_and_two_threads():
    texts = [f"a film about {w}, part {i}" for i, w in enumerate(["love", "war", "space"] * 30)]
    enc = lambda: text.encode(texts, "builtin:all-MiniLM-L6-v2", "mean", 64, 32, False)  # noqa
    assert np.array_equal(_at(1, enc), _at(2, enc))


_ENCODE = """
import sys, numpy as np, esans
from esans.encode import text
texts = [f"a film about {w}, part {i}" for i, w in enumerate(["love", "war", "space"] * 10)]
np.save(sys.argv[1], text.encode(texts, "builtin:all-MiniLM-L6-v2", "mean", 64, 32, False))
"""


def test_the_vector_isa_is_pinned_so_bytes_do_not_depend_on_the_cpu(tmp_path):
    import os
    import subprocess
    import sys

    def encode(name: str, **env) -> np.ndarray:
        base = {k: v for k, v in os.environ.items() if k != "ONEDNN_MAX_CPU_ISA"}
        subprocess.run([sys.executable, "-c", _ENCODE, str(tmp_path / name)],
                       env={**base, **env}, check=True, capture_output=True)
        return np.load(tmp_path / f"{name}.npy")

    default = encode("default")                        # esans pins it when it is unset
    assert np.array_equal(default, encode("avx2", ONEDNN_MAX_CPU_ISA="AVX2"))
    if "avx512f" in open("/proc/cpuinfo").read():      # the kernels it rules out do differ
        assert not np.array_equal(default, encode("wide", ONEDNN_MAX_CPU_ISA="AVX512_CORE"))


def test_evaluation_ranks_the_same_items_at_one_and_two_threads():
    """The evaluate stage's ranking (user tower, faiss exact index, seen items masked) is the
    same at any torch thread count: train.threads is not a param of evaluate."""
    import faiss
    import polars as pl

    from esans.model.towers import TwoTower
    from esans.rank import evaluate_splits

    rng = np.random.default_rng(0)
    n_users, n_items, per_user = 300, 900, 12
    rows = [(u, int(i), pos) for u in range(n_users)
            for pos, i in enumerate(rng.choice(n_items, per_user, replace=False))]
    df = pl.DataFrame(rows, schema=["user_idx", "item_idx", "pos"], orient="row")
    split = {"train": df.filter(pl.col("pos") < 10), "valid": df.filter(pl.col("pos") == 10),
             "test": df.filter(pl.col("pos") == 11)}
    torch.manual_seed(0)
    model = TwoTower(torch.from_numpy(rng.normal(size=(n_items, 48)).astype(np.float32)),
                     n_users, 32, 8).eval()

    def ranked():
        with torch.no_grad():
            vecs = model.all_items().contiguous()
        index = faiss.IndexFlatIP(vecs.shape[1])
        index.add(vecs.numpy())
        return evaluate_splits(model, split, n_users, 8, [20, 50], item_vecs=vecs, index=index,
                               batch=128)

    (m1, tops1), (m2, tops2) = _at(1, ranked), _at(2, ranked)
    assert m1 == m2
    for part in ("valid", "test"):
        assert all(np.array_equal(a, b) for a, b in zip(tops1[part], tops2[part], strict=True))
