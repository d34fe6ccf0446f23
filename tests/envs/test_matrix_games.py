from collections import Counter

import pytest

from sparring.envs import make_env
from sparring.envs.matrix_games import (GAME_TYPES, HELDOUT_TYPES, TRAIN_TYPES, best_responses, measures, pure_nash,
                                        relabelled, reward)
from sparring.heldout import HELDOUT_SEED_BASE
from sparring.policies import POLICIES, TRAINED
from sparring.types import Episode

# ranks per cell (up-left, up-right, down-left, down-right) as (player 1, player 2)
PRISONERS = ((3, 3), (1, 4), (4, 1), (2, 2))  # up/left: cooperate, down/right: defect
NO_EQUILIBRIUM = ((4, 1), (1, 4), (2, 3), (3, 2))
COORDINATION = ((4, 4), (1, 1), (2, 2), (3, 3))


def test_the_576_arrangements_make_144_types_with_their_equilibrium_counts():
    assert len(GAME_TYPES) == 144
    arrangements = {relabelled(g, a, b) for g in GAME_TYPES for a in (False, True) for b in (False, True)}
    assert len(arrangements) == 576  # every type stands for four labellings, none shared
    assert Counter(len(pure_nash(g)) for g in GAME_TYPES) == {1: 108, 0: 18, 2: 18}
    assert Counter(len(pure_nash(GAME_TYPES[t])) for t in HELDOUT_TYPES) == {1: 27, 0: 4, 2: 4}
    assert not set(HELDOUT_TYPES) & set(TRAIN_TYPES) and len(TRAIN_TYPES) + len(HELDOUT_TYPES) == 144


def test_equilibria_and_best_responses_by_hand():
    assert pure_nash(PRISONERS) == [(1, 1)]
    assert pure_nash(NO_EQUILIBRIUM) == []
    assert pure_nash(COORDINATION) == [(0, 0), (1, 1)]
    assert best_responses(PRISONERS, 0, 0) == [1] and best_responses(PRISONERS, 1, 0) == [1]  # defect either way
    assert best_responses(COORDINATION, 1, 1) == [1]  # player 2 follows player 1 down
    assert [reward(rank) for rank in (1, 2, 3, 4)] == pytest.approx([-1, -1 / 3, 1 / 3, 1])


def _dealt(payoffs, phrasing="table"):
    env = make_env("matrix-2x2-v1", phrasing=phrasing)
    env.reset(5)
    env.payoffs = payoffs
    return env


def test_moves_are_simultaneous_and_rewarded_by_rank():
    asked = []
    for first in ("up", "down"):
        env = _dealt(PRISONERS)
        result = env.step(f"I choose {first.capitalize()}.")
        asked.append(result.next_request.messages[-1].content)
        assert result.next_request.seat == 1 and result.next_request.legal_actions == ("left", "right")
    assert asked[0] == asked[1]  # player 2 is told nothing of player 1's choice
    import random
    assert {env.determinize(1, random.Random(s)).choices for s in range(20)} == {(0,), (1,)}  # nor does search
    final = env.step("right")
    assert final.terminated and final.rewards == pytest.approx((reward(2), reward(2)))
    assert final.info["nash"] == [["down", "right"]] and final.info["moves"] == ["down", "right"]


@pytest.mark.parametrize("reply", ["left", "up or down", "I pass"])
def test_a_move_outside_the_matrix_is_illegal_and_a_second_forfeits(reply):
    env = _dealt(PRISONERS)
    retry = env.step(reply)
    assert not retry.legal and not retry.terminated and "illegal" in retry.next_request.messages[-1].content
    final = env.step(reply)
    assert final.terminated and not final.legal and final.rewards == (-1.5, 1.0)


def test_both_phrasings_show_the_same_payoffs():
    table = make_env("matrix-2x2-v1", phrasing="table").reset(7).messages[-1].content
    words = make_env("matrix-2x2-v1", phrasing="words").reset(7).messages[-1].content
    assert "Left        Right\nUp          " in table and "If player 1 plays" not in table
    assert "If player 1 plays Up and player 2 plays Left" in words and "Points (player 1" not in words
    with pytest.raises(ValueError, match="phrasing is one of table, words"):
        make_env("matrix-2x2-v1", phrasing="prose")


def test_training_seeds_never_meet_the_held_out_types_and_evaluation_meets_each_in_both_phrasings():
    env = make_env("matrix-2x2-v1")
    played = set()
    for seed in range(400):
        env.reset(seed)
        played.add(env.game_type)
    assert played <= set(TRAIN_TYPES) and len(played) > 90
    seen = []
    for k in range(4 * len(HELDOUT_TYPES)):
        env.reset(HELDOUT_SEED_BASE + k)
        seen.append((env.game_type, env.phrasing, env.payoffs))
    assert [s[:2] for s in seen[:4]] == [(HELDOUT_TYPES[0], "table")] * 2 + [(HELDOUT_TYPES[0], "words")] * 2
    assert len({s[2] for s in seen[:4]}) == 1  # one labelling per held-out type
    assert {s[0] for s in seen} == set(HELDOUT_TYPES)


def _episode(payoffs, moves, phrasing="table", policies=(TRAINED, "random-legal"), game_type=1, rewards=(0.0, 0.0)):
    nash = [[("up", "down")[r], ("left", "right")[c]] for r, c in pure_nash(payoffs)]
    return Episode(id="e", env_id="matrix-2x2-v1", env_version=1, seed=0, policies=policies, rewards=rewards,
                   terminated=True, tags={"opponent": policies[1]},
                   info={"moves": moves, "game_type": game_type, "phrasing": phrasing,
                         "payoffs": [list(c) for c in payoffs], "nash": nash})


def test_measures_by_hand():
    episodes = [
        _episode(PRISONERS, ["down", "left"], "table"),   # best response (defect), not Nash
        _episode(PRISONERS, ["up", "right"], "words"),    # not a best response; changed across phrasings
        _episode(COORDINATION, ["down", "right"]),        # best response, Nash
        _episode(NO_EQUILIBRIUM, ["up", "left"], game_type=2),  # best response; no equilibrium: not counted as Nash
        _episode(PRISONERS, ["down"], rewards=(-1.5, 1.0)),  # forfeited: left out
    ]
    assert measures(episodes, TRAINED) == {"best_response": pytest.approx(3 / 4), "nash_outcome": pytest.approx(1 / 3),
                                           "consistent": 0.0}
    both = [_episode(PRISONERS, ["down", "left"], "table"), _episode(PRISONERS, ["down", "right"], "words")]
    assert measures(both, TRAINED)["consistent"] == 1.0
    assert measures([], TRAINED) == {"best_response": None, "nash_outcome": None, "consistent": None}


def _state_request(payoffs, seat):
    from sparring.types import Message, TurnRequest

    legal = ("up", "down") if seat == 0 else ("left", "right")
    return TurnRequest(seat, (Message("user", "?"),), legal, (payoffs, seat, ()))


@pytest.mark.parametrize("payoffs,seat,move", [
    (PRISONERS, 0, "down"), (PRISONERS, 1, "right"),
    (COORDINATION, 0, "up"), (COORDINATION, 1, "left"),  # of two equilibria, the one that pays it 4
    (NO_EQUILIBRIUM, 0, "down"),  # maximin: down's worst is 2, up's is 1
])
def test_the_nash_player(payoffs, seat, move):
    (answer,) = POLICIES.make("matrix-nash").act([_state_request(payoffs, seat)], [0])
    assert answer.text == move


def test_the_iterated_prisoners_dilemma_shows_only_finished_plays_and_averages():
    env = make_env("iterated-prisoners-dilemma-v1", phrasing="table")
    first = env.reset(3).messages[-1].content
    assert "Cooperate" in first and "played 5 times" in first and "Play 1:" not in first
    asked = env.step("I cooperate.").next_request.messages[-1].content
    assert "Play 1:" not in asked and asked.replace("player 2: you play", "player 1: you play") != first  # nothing of it
    result = env.step("defect")
    assert "Play 1: player 1 chose cooperate, player 2 chose defect." in result.next_request.messages[-1].content
    for move in ["defect", "defect"] * 4:
        result = env.step(move)
    assert result.terminated
    assert result.rewards == pytest.approx(((reward(1) + 4 * reward(2)) / 5, (reward(4) + 4 * reward(2)) / 5))
    assert result.info["nash"] == [["defect", "defect"]]


def test_tit_for_tat_and_the_cooperation_measures():
    from sparring.engine import EpisodeSpec, run_episodes
    from sparring.envs.matrix_games import cooperation

    players = {TRAINED: POLICIES.make("tit-for-tat"), "random-legal": POLICIES.make("random-legal")}
    specs = [EpisodeSpec(id=f"g{k}", env_id="iterated-prisoners-dilemma-v1", seed=k,
                         policies=(TRAINED, "random-legal") if k % 2 else ("random-legal", TRAINED),
                         tags={"opponent": "random-legal"}) for k in range(40)]
    episodes = run_episodes(specs, players, {"round": 0}, seed=0)  # random-legal's draws seeded
    for e in episodes:
        seat = e.seats_of(TRAINED)[0]
        mine, theirs = e.info["moves"][seat::2], e.info["moves"][1 - seat::2]
        assert mine == ["cooperate", *theirs[:-1]]  # it copies the other's last play
    measured = cooperation(episodes, TRAINED)
    assert 0.5 < measured["cooperation"] < 0.7 and 0.2 < measured["mutual_cooperation"] < 0.4
