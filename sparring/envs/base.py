"""The environment protocol: turn-based, one or more seats, seeded, never raising on bad actions."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from sparring.types import StepResult, TurnRequest


@runtime_checkable
class Env(Protocol):
    """A text environment.

    - `reset(seed)` starts an episode from a private `random.Random(seed)` and returns the first request.
    - `step(action_text)` applies the acting seat's raw model output. Illegal or unparsable actions
      never raise: the env records them (`StepResult.legal = False`) and applies its documented rule.
    - `rewards` in every final StepResult has one entry per seat, inside `reward_range`.

    Optional: `levels` (difficulty levels accepted as the `level` constructor argument),
    `reference_solution()`, `legal_actions()`, `clone()`, and `measures(episodes, policy_id)`, a
    game's own shares of good play (best response, ...), which the games task reports.
    """

    num_seats: int
    reward_range: tuple[float, float]

    def reset(self, seed: int) -> TurnRequest: ...

    def step(self, action_text: str) -> StepResult: ...
