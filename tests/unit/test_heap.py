"""esans.heap: the free heap goes back to the OS, what is in use stays."""

import numpy as np
import pytest

from esans.heap import release_free_heap, resident_bytes


def test_release_free_heap_returns_freed_pages_and_keeps_live_data():
    if resident_bytes() == 0 or not release_free_heap():
        pytest.skip("needs Linux /proc and glibc")
    # ~300 MB in 96 KB blocks (under glibc's mmap threshold: on the heap), a live block after
    # them so that freeing them leaves a hole, not a free top that free() trims by itself
    blocks = [np.full(12_000, float(k)) for k in range(3_200)]
    live = np.full(12_000, 7.0)
    del blocks
    before = resident_bytes()
    assert release_free_heap()
    after = resident_bytes()
    assert before - after > 200e6            # the hole's pages went back
    assert live.sum() == 7.0 * 12_000        # what is in use is untouched


def test_training_hands_the_free_heap_back_every_n_steps_and_after_validation(monkeypatch):
    import esans.trainer as tr
    from tests.unit.test_training import tiny_data

    calls = []
    monkeypatch.setattr(tr, "release_free_heap", lambda: calls.append(1) or True)
    monkeypatch.setattr(tr, "HEAP_TRIM_EVERY", 2)
    data = tiny_data()                                       # 440 train rows: 7 steps of 64
    p = tr.TrainParams(sampler="uniform", epochs=2, batch_size=64, dim=16, history_len=5,
                       n_negatives=4, threads=1, patience=5)
    tr.fit(p, data, seed=0, log=lambda s: None)
    steps = 2 * -(-len(data.train_users) // 64)
    assert len(calls) == steps // 2 + 2                      # every 2nd step + each epoch's end
