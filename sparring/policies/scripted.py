"""Scripted policies: players that need no model (opponents, anchors of a league, baselines)."""

from __future__ import annotations

import random
from typing import Any, Sequence

from sparring.types import Completion, TurnRequest


def scripted_completion(text: str) -> Completion:
    return Completion(text=text, token_ids=(), finish_reason="stop")


class RandomLegal:
    """Plays a uniformly random legal action: works in every env whose requests list `legal_actions`."""

    def act(self, requests: Sequence[TurnRequest], seeds: Sequence[int] | None) -> list[Completion]:
        answers = []
        for i, request in enumerate(requests):
            if not request.legal_actions:
                raise ValueError("random-legal needs requests that list legal_actions; this env does not")
            rng = random.Random(None if seeds is None else seeds[i])
            answers.append(scripted_completion(rng.choice(request.legal_actions)))
        return answers

    def provenance(self) -> dict[str, Any]:
        return {"kind": "scripted", "name": "random-legal"}
