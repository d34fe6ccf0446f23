"""The policy protocol: who answers a seat's turns.

A policy answers a batch of turn requests with one completion each. An LLM policy is a backend plus
its own sampling parameters, so two seats served by one model can sample differently; a scripted
policy needs no model. The engine gathers the pending requests of every seat a policy plays, across
all episodes in flight, into one `act` call.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Protocol, Sequence

from sparring.models.base import Backend
from sparring.types import Completion, SamplingParams, TurnRequest


class Policy(Protocol):
    def act(self, requests: Sequence[TurnRequest], seeds: Sequence[int] | None) -> list[Completion]:
        """One completion per request, in order. `seeds` (one per request, or None for fresh
        randomness) make each answer reproducible on its own, whatever else shares the call."""
        ...

    def provenance(self) -> dict[str, Any]:
        """What this policy is, for every episode it plays in: model and checkpoint, sampling, or script."""
        ...


class LLMPolicy:
    """A backend with its own sampling parameters."""

    def __init__(self, backend: Backend, sampling: SamplingParams):
        self.backend, self.sampling = backend, sampling

    def act(self, requests: Sequence[TurnRequest], seeds: Sequence[int] | None) -> list[Completion]:
        completions = self.backend.generate([r.messages for r in requests], self.sampling, seeds)
        return [first for first, *_ in completions]

    def provenance(self) -> dict[str, Any]:
        sampling = {k: v for k, v in asdict(self.sampling).items() if k not in ("n", "seed")}
        return {"kind": "llm", "model_id": self.backend.model_id, "checkpoint_hash": self.backend.checkpoint_hash,
                "sampling": {**sampling, "stop": list(self.sampling.stop)}}


class SeatRouted:
    """One policy per seat behind one policy id: each request goes to its seat's policy (a
    "per-role" checkpoint, where every role has its own trained model)."""

    def __init__(self, by_seat: dict[int, Policy]):
        self.by_seat = by_seat

    def act(self, requests: Sequence[TurnRequest], seeds: Sequence[int] | None) -> list[Completion]:
        answers: list[Completion | None] = [None] * len(requests)
        for seat, policy in self.by_seat.items():
            mine = [i for i, r in enumerate(requests) if r.seat == seat]
            if mine:
                done = policy.act([requests[i] for i in mine], None if seeds is None else [seeds[i] for i in mine])
                for i, completion in zip(mine, done):
                    answers[i] = completion
        missing = sorted({requests[i].seat for i, a in enumerate(answers) if a is None})
        if missing:
            raise ValueError(f"no policy for seat(s) {missing}; this checkpoint has roles for seats {sorted(self.by_seat)}")
        return answers  # type: ignore[return-value]

    def provenance(self) -> dict[str, Any]:
        return {"kind": "per-role", "seats": {str(seat): p.provenance() for seat, p in self.by_seat.items()}}
