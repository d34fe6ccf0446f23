"""A recipe turns scored episodes into training rows and trains a checkpoint on them."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from pydantic import BaseModel

from sparring.types import Episode, Turn


@dataclass(frozen=True)
class TrainResult:
    checkpoint: Path
    losses: list[float]  # training loss per logged step, in order
    seconds: float

    def write(self, checkpoint_dir: Path) -> None:
        """Saved inside the checkpoint directory before it is renamed into place, so a checkpoint
        found on resume still has its training metrics."""
        (checkpoint_dir / TRAINING_RECORD).write_text(json.dumps({**asdict(self), "checkpoint": None}))

    @classmethod
    def read(cls, checkpoint_dir: Path) -> TrainResult:
        record = json.loads((checkpoint_dir / TRAINING_RECORD).read_text())
        return cls(**{**record, "checkpoint": checkpoint_dir})


TRAINING_RECORD = "training.json"


@dataclass(frozen=True)
class Recipe:
    name: str
    config_key: str  # the RunConfig section holding this recipe's config
    config: type[BaseModel]
    build: Callable[[Sequence[Episode], Any], list[dict[str, Any]]]
    train: Callable[..., TrainResult]
    # `--set` values under which the recipe trains on the untrained tiny test model (whose samples are
    # never right): the safety harness runs, kills and resumes every registered recipe with them.
    tiny_settings: tuple[str, ...] = ()
    # Fails (SparringError) before any work where the run's config does not suit the recipe.
    check: Callable[[Any], None] | None = None


def sft_row(e: Episode, seat: int, turn: Turn, answer: str) -> dict[str, Any]:
    """A training row of `answer` to `turn`'s prompt, saying where it came from: its episode, seat,
    env and version, seed, level, the seat's reward, the run and round, and the policy that played it."""
    return {
        "prompt": [{"role": m.role, "content": m.content} for m in turn.prompt],
        "completion": [{"role": "assistant", "content": answer}],
        "episode_id": e.id,
        "seat": seat,
        "env_id": e.env_id,
        "env_version": e.env_version,
        "seed": e.seed,
        "level": e.info.get("level"),
        "reward": e.rewards[seat],
        "run_id": e.provenance.get("run_id"),
        "round": e.provenance.get("round"),
        "policy": json.dumps(e.provenance.get("policies", {}).get(e.policies[seat])),
    }
