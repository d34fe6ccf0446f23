"""Priors over legal moves from an LLM: how likely the model finds each move after the position's prompt.

A move's score is its summed token log-probability as the assistant's reply to the request's
messages (`Backend.logprobs`, the end-of-turn tokens included, as the model is trained on it); the
prior is the softmax of the scores over the legal moves. All moves of all pending positions go to
the backend in one call.
"""

from __future__ import annotations

from typing import Sequence

from sparring.models.base import Backend
from sparring.search.mcts import Priors, softmax
from sparring.types import TurnRequest


def move_scores(backend: Backend, requests: Sequence[TurnRequest]) -> list[list[float]]:
    """Summed log-probability of every legal move of every request, one `logprobs` call for all."""
    pairs = [(r.messages, move) for r in requests for move in r.legal_actions]
    scored = backend.logprobs([p for p, _ in pairs], [m for _, m in pairs]) if pairs else []
    out, at = [], 0
    for r in requests:
        out.append([s.total for s in scored[at:at + len(r.legal_actions)]])
        at += len(r.legal_actions)
    return out


class PolicyPriors:
    """Priors from `backend`, each position scored once: trees searched together, and one tree's
    simulations, reach the same positions again and again. `scores` gives the moves' summed
    log-probabilities themselves (how much of the reply's probability the legal moves hold, which
    the softmax hides)."""

    def __init__(self, backend: Backend):
        self.backend = backend
        self.known: dict[tuple, list[float]] = {}

    def scores(self, requests: Sequence[TurnRequest]) -> list[list[float]]:
        keys = [(r.messages, r.legal_actions) for r in requests]
        new = list({k: r for k, r in zip(keys, requests) if k not in self.known}.items())
        for (key, _), scores in zip(new, move_scores(self.backend, [r for _, r in new])):
            self.known[key] = scores
        return [self.known[k] for k in keys]

    def __call__(self, requests: Sequence[TurnRequest]) -> list[list[float]]:
        return [softmax(s) for s in self.scores(requests)]
