"""`train.valid_users`: early stopping on a fixed sample of validation users."""

import numpy as np
import pytest

from esans.config import load_params

pytestmark = pytest.mark.slow


def test_valid_users_sample_is_fixed_and_complete_per_user(built_project):
    from esans.train_data import load_train_data

    base = load_params(built_project / "params.yaml")
    full = load_train_data(built_project, base)
    p = base.model_copy(update={"train": base.train.model_copy(update={"valid_users": 10})})
    a, b = load_train_data(built_project, p), load_train_data(built_project, p)
    assert len(np.unique(a.valid_users)) == 10
    assert np.array_equal(a.valid_users, b.valid_users)            # same sample every time
    assert set(a.valid_users) <= set(full.valid_users)
    for u in np.unique(a.valid_users):                              # all of a user's items
        assert sorted(a.valid_items[a.valid_users == u]) == \
            sorted(full.valid_items[full.valid_users == u])
    assert np.array_equal(a.train_users, full.train_users)          # training data untouched
