import pytest

from sparring.tasks.solo import apportion, short_names


@pytest.mark.parametrize("total,weights,counts", [
    (6, {"a": 2, "b": 1}, {"a": 4, "b": 2}),
    (7, {"a": 2, "b": 1}, {"a": 5, "b": 2}),  # 4.67 / 2.33: the larger remainder gets the extra problem
    (10, {"a": 1, "b": 1, "c": 1}, {"a": 4, "b": 3, "c": 3}),  # equal remainders: the earlier env
    (2, {"a": 1, "b": 1, "c": 1}, {"a": 1, "b": 1, "c": 0}),
    (5, {"a": 0.5}, {"a": 5}),
])
def test_apportion_shares_problems_by_weight(total, weights, counts):
    assert apportion(total, weights) == counts


def test_short_names_keep_the_whole_id_where_two_tails_meet():
    assert short_names(["reasoning-gym/chain_sum", "arithmetic-v0"]) == ["chain_sum", "arithmetic-v0"]
    assert short_names(["a/x", "b/x", "c/y"]) == ["a/x", "b/x", "y"]
