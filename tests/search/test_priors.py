"""Priors from an LLM: a move's score is its summed token log-probability (the very `Backend.logprobs`),
the priors their softmax over the legal moves, and each position is scored once."""

import math

import pytest

from sparring.envs import make_env
from sparring.search.priors import PolicyPriors


def _positions():
    env = make_env("tictactoe-v1")
    first = env.reset(0)
    return [first, env.step("5").next_request]


def test_scores_are_the_backends_logprobs_and_the_priors_their_softmax(tiny_backend):
    positions = _positions()
    own = PolicyPriors(tiny_backend)
    scores, priors = own.scores(positions), own(positions)
    for request, moves_scored, probs in zip(positions, scores, priors):
        direct = tiny_backend.logprobs([request.messages] * len(request.legal_actions), list(request.legal_actions))
        assert moves_scored == pytest.approx([s.total for s in direct], abs=1e-4)
        mass = sum(math.exp(s) for s in moves_scored)
        assert probs == pytest.approx([math.exp(s) / mass for s in moves_scored])
        assert mass < 1  # the tiny model's replies are mostly not a legal move: the softmax hides that


def test_each_position_is_scored_once(tiny_backend):
    calls = []

    class Counting:
        def logprobs(self, prompts, answers):
            calls.append(len(answers))
            return tiny_backend.logprobs(prompts, answers)

    own = PolicyPriors(Counting())
    first, second = _positions()
    own([first, first, second])
    own([second, first])
    assert calls == [9 + 8]  # the empty board's nine moves and the next position's eight, in one call
