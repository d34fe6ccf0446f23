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
