import pytest

from sparring.curriculum import choose_levels, latest_pass_rates, pass_rates_by_level
from sparring.types import Episode

LEVELS = [1, 2, 3, 4, 5]
BAND = (0.2, 0.8)


@pytest.mark.parametrize("rates,expected", [
    ({}, [1]),                                   # nothing measured: start at the easiest level
    ({1: 0.5}, [1, 2]),                          # in band, plus the next level as a probe
    ({1: 0.9}, [2]),                             # mastered: move up
    ({1: 0.9, 2: 0.1}, [2]),                     # too hard but the easiest not mastered: keep probing it
    ({1: 0.9, 2: 0.5, 3: 0.3}, [2, 3, 4]),
    ({1: 0.5, 2: 0.05, 3: 0.6}, [1, 3, 4]),      # a too-hard level below an in-band one is skipped
    ({1: 0.9, 2: 0.95, 3: 0.85, 4: 0.9, 5: 0.99}, [5]),  # all mastered: keep the hardest
    ({1: 0.2, 2: 0.8}, [1, 2, 3]),               # the band is inclusive
])
def test_choose_levels(rates, expected):
    assert choose_levels(rates, LEVELS, BAND) == expected


@pytest.mark.parametrize("rates,expected", [
    ({}, [1, 2]),
    ({1: 0.5, 2: 0.1}, [1, 2, 3]),
    ({1: 0.9, 2: 0.5, 3: 0.95}, [2, 4, 5]),  # a mastered level is never a probe
])
def test_two_probes(rates, expected):
    assert choose_levels(rates, LEVELS, BAND, probes=2) == expected


def test_pass_rates_by_level_and_latest_measurement_wins():
    def ep(level, reward):
        return Episode(id="x", env_id="e-v0", env_version=0, seed=0, policies=("policy",), rewards=(reward,),
                       tags={"level": level})

    rates = pass_rates_by_level([ep(1, 1.0), ep(1, 0.0), ep(1, 1.0), ep(2, 0.0)])
    assert rates == {1: pytest.approx(2 / 3), 2: 0.0}
    two_seats = Episode(id="y", env_id="e-v0", env_version=0, seed=0, policies=("other", "policy"), rewards=(1.0, 0.5),
                        tags={"level": 3})
    assert pass_rates_by_level([two_seats]) == {3: 0.5}  # the trained policy's seat, not seat 0
    assert latest_pass_rates([{1: 0.1, 2: 0.2}, {2: 0.7}]) == {1: 0.1, 2: 0.7}
