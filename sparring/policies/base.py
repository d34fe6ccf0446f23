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
        return {"kind": "llm", **self.backend.provenance(), "sampling": {**sampling, "stop": list(self.sampling.stop)}}


def seat_role(seat: int) -> str:
    """The role of a game's seat, where the episode names no other: `seat0`, `seat1`, ..."""
    return f"seat{seat}"


def request_role(request: TurnRequest) -> str:
    """The role a request is played in: the one its episode names, else its seat's."""
    return request.role or seat_role(request.seat)


class RoleRouted:
    """One policy per role behind one policy id: each request goes to its role's policy (a "per-role"
    checkpoint, where every role has its own trained model)."""

    def __init__(self, by_role: dict[str, Policy]):
        self.by_role = by_role

    def act(self, requests: Sequence[TurnRequest], seeds: Sequence[int] | None) -> list[Completion]:
        missing = sorted({request_role(r) for r in requests} - set(self.by_role))
        if missing:
            raise ValueError(f"no policy for role(s) {missing}; this checkpoint has roles {sorted(self.by_role)}")
        answers: list[Completion | None] = [None] * len(requests)
        for role, policy in self.by_role.items():
            mine = [i for i, r in enumerate(requests) if request_role(r) == role]
            if mine:
                done = policy.act([requests[i] for i in mine], None if seeds is None else [seeds[i] for i in mine])
                for i, completion in zip(mine, done):
                    answers[i] = completion
        return answers  # type: ignore[return-value]

    def provenance(self) -> dict[str, Any]:
        return {"kind": "per-role", "roles": {role: p.provenance() for role, p in self.by_role.items()}}
