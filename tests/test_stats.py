from sparring.stats import mean


def test_mean_of_numbers_and_of_flags():
    assert mean([1.0, 2.0, 6.0]) == 3.0
    assert mean([True, False, False, True]) == 0.5
    assert mean(x for x in (4, 5)) == 4.5  # any iterable, read once


def test_mean_of_nothing_is_unknown_not_zero():
    assert mean([]) is None
