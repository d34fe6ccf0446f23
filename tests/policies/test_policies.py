"""Policies answer batches of turn requests: an LLM policy through its backend, scripted ones without a model."""

import pytest

from sparring.engine import EpisodeSpec, run_episodes
from sparring.policies import POLICIES, LLMPolicy
from sparring.types import Message, SamplingParams, TurnRequest

BOARD = TurnRequest(0, (Message("user", "your move"),), legal_actions=("1", "5", "9"))


def test_random_legal_plays_only_legal_actions_reproducibly():
    policy = POLICIES.make("random-legal")
    moves = [c.text for c in policy.act([BOARD] * 60, list(range(60)))]
    assert set(moves) == {"1", "5", "9"}
    assert moves == [c.text for c in policy.act([BOARD] * 60, list(range(60)))]  # same seeds, same moves
    assert policy.provenance() == {"kind": "scripted", "name": "random-legal"}


def test_random_legal_in_an_env_without_legal_actions_fails_those_episodes_only():
    specs = [EpisodeSpec(id=f"e{i}", env_id="arithmetic-v0", seed=i, policies=("r",), tags={"stage": "train"})
             for i in range(3)]
    episodes = run_episodes(specs, {"r": POLICIES.make("random-legal")}, {"round": 1}, seed=0)
    assert all(e.error.startswith("error in policy r: ValueError: random-legal needs") for e in episodes)


def test_an_llm_policy_samples_with_its_own_parameters(tiny_backend):
    short, long = (LLMPolicy(tiny_backend, SamplingParams(temperature=1.0, max_new_tokens=n)) for n in (2, 7))
    assert [len(c.token_ids) for c in short.act([BOARD] * 3, [1, 2, 3])] == [2, 2, 2]
    assert [len(c.token_ids) for c in long.act([BOARD] * 3, [1, 2, 3])] == [7, 7, 7]
    assert long.provenance()["sampling"]["max_new_tokens"] == 7 and long.provenance()["kind"] == "llm"


def test_unknown_policy_suggests_known_ones():
    with pytest.raises(KeyError, match="random-legal"):
        POLICIES.make("random_legal")


def _results(me, opponent, games=100):
    specs = [EpisodeSpec(id=f"g{i}", env_id="tictactoe-v1", seed=i, policies=(me, opponent) if i % 2 else (opponent, me),
                         tags={"stage": "eval"}) for i in range(games)]
    episodes = run_episodes(specs, {p: POLICIES.make(p) for p in {me, opponent}}, {"round": 0}, seed=0)
    return [e.rewards[e.seats_of(me)[0]] for e in episodes]


def test_minimax_never_loses_and_beats_random_play():
    against_random = _results("tictactoe-minimax", "random-legal")
    assert min(against_random) >= 0 and sum(r > 0 for r in against_random) >= 75
    assert set(_results("tictactoe-minimax", "tictactoe-minimax")) == {0.0}  # perfect play draws


def test_kuhn_equilibrium_holds_the_first_seat_to_minus_one_eighteenth():
    hands = 6000
    specs = [EpisodeSpec(id=f"h{i}", env_id="kuhn-poker-v1", seed=i, policies=("eq", "eq"), tags={"stage": "eval"})
             for i in range(hands)]
    episodes = run_episodes(specs, {"eq": POLICIES.make("kuhn-equilibrium")}, {"round": 0}, seed=0, max_in_flight=1024)
    assert sum(e.rewards[0] for e in episodes) / hands == pytest.approx(-1 / 18, abs=0.04)
    assert all(e.has_outcome and all(t.legal for t in e.turns) for e in episodes)


def test_exact_value_against_the_equilibrium_by_hand():
    eq = POLICIES.make("kuhn-equilibrium")
    # Never bluff, fold a J to a bet, call with Q and K, bet a K: a best response to the equilibrium,
    # worth the game's value in each seat (worked by hand over the six deals: -2/6 and +2/6, over 6).
    def best_response(card, history):
        if history and history[-1] == "bet":
            return "fold" if card == "J" else "call"
        return "bet" if card == "K" else "check"

    assert eq.value_against(best_response) == pytest.approx((-1 / 18, 1 / 18))
    # Always bet or call: -4/6 over the six deals in either seat, -1/9 a hand.
    assert eq.value_against(lambda card, history: "call" if history and history[-1] == "bet" else "bet") == \
        pytest.approx((-1 / 9, -1 / 9))
    # An illegal reply forfeits 2 chips wherever it is due: always, as first seat
    assert eq.value_against(lambda card, history: None)[0] == pytest.approx(-2.0)
