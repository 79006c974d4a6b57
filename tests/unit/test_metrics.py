import math

import numpy as np
import pytest

from esans.metrics import recall_ndcg


def test_recall_and_ndcg_hand_computed():
    # user 0: test items {1, 5}; ranking hits 1 at rank 1 and 5 at rank 3
    # user 1: test item {9}, ranked 2nd
    # user 2: no test items -> skipped
    top = np.array([[1, 7, 5, 8], [3, 9, 4, 2], [0, 1, 2, 3]])
    truth = [np.array([1, 5]), np.array([9]), np.array([], int)]
    m = recall_ndcg(top, truth, [2, 4])
    assert m["n_users"] == 2
    assert m["recall@2"] == pytest.approx((1 / 2 + 1) / 2)
    assert m["recall@4"] == pytest.approx((2 / 2 + 1) / 2)
    ndcg0_2 = 1.0 / (1 + 1 / math.log2(3))                 # 1 hit at rank 1 / ideal 2 hits
    ndcg1_2 = (1 / math.log2(3)) / 1.0                     # hit at rank 2 / ideal 1 hit
    assert m["ndcg@2"] == pytest.approx((ndcg0_2 + ndcg1_2) / 2)
    ndcg0_4 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert m["ndcg@4"] == pytest.approx((ndcg0_4 + ndcg1_2) / 2)


def test_ideal_dcg_is_capped_at_k():
    # 5 test items, K=2, both top slots hit -> NDCG 1 but recall 2/5
    m = recall_ndcg(np.array([[0, 1, 9]]), [np.arange(5)], [2])
    assert m["ndcg@2"] == pytest.approx(1.0)
    assert m["recall@2"] == pytest.approx(0.4)


def test_short_lists_count_as_misses_past_their_end():
    # a 3-item catalogue ranked at K=20: the hit at rank 2 counts, nothing else can
    m = recall_ndcg(np.array([[4, 1, 7]]), [np.array([1, 9])], [20])
    assert m["recall@20"] == pytest.approx(0.5)
    assert m["ndcg@20"] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
