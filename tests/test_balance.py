"""B-STaR's exploration, exploitation and balance against hand-worked queries."""

import pytest

from sparring.balance import bstar_metrics, choose, probe_specs, samples_by_query
from sparring.engine import EpisodeSpec
from sparring.types import Completion, Episode, Message, Turn

PASS = {"arithmetic-v0": 0.5}


def test_bstar_metrics_by_hand():
    queries = {"a": [("5", True, True), ("5", True, True), ("6", False, True)],  # 1 distinct right of 3 selected
               "b": [("1", False, False), ("2", False, False)]}  # nothing selected
    m = bstar_metrics(queries, n_star=2)
    # a: min(1/2, 1) * 1/3 = 1/6; b: 0
    assert m == {"queries": 2, "pass_at_k": 0.5, "unique_correct": 0.5, "precision": pytest.approx(2 / 3),
                 "balance": pytest.approx(1 / 12)}
    assert bstar_metrics({}, 8)["balance"] is None


def _episode(id, seed, answer, reward):
    return Episode(id=id, env_id="arithmetic-v0", env_version=0, seed=seed, policies=("policy",),
                   turns=[Turn(0, (Message("user", "q"),), Completion(answer, (1,), "stop"), True)],
                   rewards=(reward,), terminated=True, info={"level": 1})


def test_samples_are_selected_by_row_by_threshold_or_by_passing():
    episodes = [_episode("e0", 1, "5", 1.0), _episode("e1", 1, "6", 0.3)]
    by_rows = samples_by_query(episodes, PASS, selected={"e1"})
    assert list(by_rows.values()) == [[("5", True, False), ("6", False, True)]]
    assert [s[2] for s in samples_by_query(episodes, PASS, threshold=0.2)[("arithmetic-v0", 1, "1", 0)]] == [True, True]
    assert [s[2] for s in samples_by_query(episodes, PASS)[("arithmetic-v0", 1, "1", 0)]] == [True, False]


def test_choose_takes_the_temperature_of_the_best_balance():
    cold = [_episode(f"c{k}", 1, "5", 1.0) for k in range(4)]  # one right answer four times
    hot = [_episode("h0", 1, "5", 1.0), _episode("h1", 1, "2+3=5, 5", 1.0), _episode("h2", 1, "7", 0.0),
           _episode("h3", 1, "9", 0.0)]
    choice = choose({0.5: cold, 1.1: hot}, [None], PASS, n_star=8)
    # cold: 4 selected, 1 distinct: 1/8 * 1/4; hot: 2 selected, 2 distinct: 2/8 * 2/2
    assert (choice["temperature"], choice["threshold"]) == (1.1, None)
    assert [g["balance"] for g in choice["grid"]] == [pytest.approx(1 / 32), pytest.approx(2 / 8)]


def test_probe_specs_are_a_fresh_slice_of_the_plan():
    plan = [EpisodeSpec(id=f"r2/train/{p}/{k}", env_id="arithmetic-v0", seed=100 + p, policies=("policy",),
                        tags={"stage": "train", "problem": p, "sample": k}) for p in range(3) for k in range(2)]
    dev = probe_specs(plan, 2, 1, problems=2, seed_of=lambda p: 7 + p)
    assert [s.id for s in dev] == ["r2/probe/t1/0/0", "r2/probe/t1/0/1", "r2/probe/t1/1/0", "r2/probe/t1/1/1"]
    assert [s.seed for s in dev] == [7, 7, 8, 8] and {s.tags["stage"] for s in dev} == {"probe"}
