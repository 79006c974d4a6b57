import polars as pl

from esans.data.split import temporal_split


def _inter(rows):
    return pl.DataFrame(rows, schema=["user_id", "item_id", "timestamp"], orient="row"
                        ).with_row_index("seq").with_columns(pl.col("seq").cast(pl.Int64))


def _items(n):
    return pl.DataFrame({"item_id": [f"i{j}" for j in range(n)]})


def test_ten_interactions_give_8_1_1_in_time_order():
    # Timestamps shuffled on purpose: order must come from time, not from row order.
    ts = [50, 10, 90, 20, 80, 30, 70, 40, 60, 100]
    s = temporal_split(_inter([("u", f"i{j}", t) for j, t in enumerate(ts)]), _items(10))
    assert s.test["item_id"].to_list() == ["i9"]          # t=100
    assert s.valid["item_id"].to_list() == ["i2"]         # t=90
    assert sorted(s.train["timestamp"].to_list()) == [10, 20, 30, 40, 50, 60, 70, 80]


def test_counts_use_floor_of_ten_percent():
    rows = [("a", f"i{j}", j) for j in range(19)] + [("b", f"i{j}", j) for j in range(5)] + \
           [("c", f"i{j}", j) for j in range(20)]
    s = temporal_split(_inter(rows), _items(20))
    per = lambda df: dict(df.group_by("user_id").len().iter_rows())  # noqa: E731
    assert per(s.test) == {"a": 1, "c": 2}                # int(1.9)=1, int(0.5)=0, int(2.0)=2
    assert per(s.valid) == {"a": 1, "c": 2}
    assert per(s.train) == {"a": 17, "b": 5, "c": 16}


def test_equal_timestamps_keep_source_order():
    rows = [("u", f"i{j}", 7) for j in range(10)]
    s = temporal_split(_inter(rows), _items(10))
    assert s.test["item_id"].to_list() == ["i9"]
    assert s.valid["item_id"].to_list() == ["i8"]
    assert s.train["pos"].to_list() == list(range(8))


def test_indices_follow_catalogue_order():
    s = temporal_split(_inter([("u", "i3", 1), ("u", "i0", 2)]), _items(5))
    assert s.items["item_id"].to_list() == [f"i{j}" for j in range(5)]
    assert dict(zip(s.train["item_id"], s.train["item_idx"])) == {"i3": 3, "i0": 0}


def test_leave_last_holds_out_the_last_two_events_of_users_with_three_or_more():
    rows = ([("a", f"i{j}", 10 - j) for j in range(6)]        # time runs against row order
            + [("b", f"i{j}", j) for j in range(3)] + [("c", f"i{j}", j) for j in range(2)])
    s = temporal_split(_inter(rows), _items(6), method="leave_last")
    assert dict(s.test.select("user_id", "item_id").iter_rows()) == {"a": "i0", "b": "i2"}
    assert dict(s.valid.select("user_id", "item_id").iter_rows()) == {"a": "i1", "b": "i1"}
    per = dict(s.train.group_by("user_id").len().iter_rows())
    assert per == {"a": 4, "b": 1, "c": 2}               # c (2 events) only trains


def test_an_unknown_split_method_is_refused():
    import pytest

    with pytest.raises(ValueError, match="unknown split method"):
        temporal_split(_inter([("u", "i0", 1)]), _items(1), method="random")
