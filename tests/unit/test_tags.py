"""The tags modality: TF-IDF over an item's tags, reduced by a truncated SVD."""

from __future__ import annotations

import numpy as np

from esans.encode.tags import tags_svd, vocabulary


def _catalogue(n_per: int = 40, seed: int = 0):
    """Items of 6 categories in 2 departments; each has its department, its category and a
    brand shared by a few items; a few items have no tags."""
    rng = np.random.default_rng(seed)
    tags, cat = [], []
    for c in range(6):
        for j in range(n_per):
            tags.append([f"dept{c // 3}", f"cat{c}", f"brand{rng.integers(30)}"])
            cat.append(c)
    tags[0] = None
    tags[1] = []
    return tags, np.array(cat)


def test_items_of_one_category_are_closer_than_items_of_another():
    tags, cat = _catalogue()
    v, has = tags_svd(tags, dim=16, min_items=2)
    assert v.shape == (len(tags), 16) and not has[:2].any() and has[2:].all()
    assert np.allclose(np.linalg.norm(v[has], axis=1), 1, atol=1e-5)
    assert (v[~has] == 0).all()
    sim = v @ v.T
    same = cat[:, None] == cat[None, :]
    dept = (cat[:, None] // 3) == (cat[None, :] // 3)
    live = np.outer(has, has) & ~np.eye(len(cat), dtype=bool)
    assert sim[live & same].mean() > sim[live & dept & ~same].mean() + 0.2
    assert sim[live & dept & ~same].mean() > sim[live & ~dept].mean()


def test_rare_tags_are_dropped_and_reruns_are_identical():
    tags = [["a", "only-here"], ["a", "b"], ["b"], ["c"], ["c", "a"]]
    assert vocabulary(tags, min_items=2) == ["a", "b", "c"]
    v1, has = tags_svd(tags, dim=8, min_items=2)
    v2, _ = tags_svd(tags, dim=8, min_items=2)
    assert v1.shape == (5, 3) and has.all()       # k = min(dim, tags kept)
    assert np.array_equal(v1, v2)
    # an item whose only tag is rare has none left
    v, has = tags_svd([["x"], ["a"], ["a"]], dim=4, min_items=2)
    assert has.tolist() == [False, True, True]


def test_a_catalogue_without_tags_has_no_tags_modality():
    v, has = tags_svd([None, [], None], dim=8)
    assert v.shape == (3, 0) and not has.any()


def test_a_large_sparse_catalogue_uses_the_truncated_svd():
    tags, _ = _catalogue(n_per=400)
    v, has = tags_svd(tags, dim=8, min_items=2)
    assert v.shape == (2400, 8) and np.isfinite(v).all() and has.sum() == 2398
