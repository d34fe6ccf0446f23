"""A recipe turns scored episodes into training rows and trains a checkpoint on them."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from pydantic import BaseModel

from sparring.policies.checkpoints import Model
from sparring.types import Episode, Turn


@dataclass(frozen=True)
class TrainResult:
    checkpoint: Path
    losses: list[float]  # training loss per logged step, in order
    seconds: float
    curves: dict[str, list[float]] = field(default_factory=dict)  # other per-step logs (DPO's reward margins, ...)

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
    # What became of the round's episodes beyond the rows kept (e.g. prompts with no pair, by reason):
    # a pure function of the episodes and the stored rows, so a resumed round reports the same; goes
    # into the round's metrics.
    counts: Callable[[Sequence[Episode], Sequence[dict[str, Any]], Any], dict[str, Any]] | None = None
    # Adds to the built rows what needs the round's starting model: reference log-probabilities (DPO,
    # SPIN), search targets (expert-iteration). Stored with the rows, so a resumed round does not
    # recompute them.
    with_model: Callable[[list[dict[str, Any]], Any, BuildContext], list[dict[str, Any]]] | None = None
    # Its rows are SFT rows (prompt, completion) that reference rows may join (curate.mix_fraction).
    takes_mixed_rows: bool = False
    # Its trainer spreads over `accelerate launch` processes (TRL's trainers do; `train_loop` is one process).
    data_parallel: bool = False


@dataclass(frozen=True)
class BuildContext:
    """What a recipe may use beyond the round's episodes when it builds its rows."""

    round: int
    model: Model  # the round's starting model (it played the rollout): the reference of DPO and SPIN
    previous_rows: list[dict[str, Any]] = field(default_factory=list)  # the previous round's training rows
    progress: Any = None  # the build stage's progress bar (reports/console.Tracker) where the recipe uses the model


def sft_row(e: Episode, seat: int, turn: Turn, answer: str) -> dict[str, Any]:
    """A training row of `answer` to `turn`'s prompt, saying where it came from (`episode_provenance`)."""
    return {
        "prompt": [{"role": m.role, "content": m.content} for m in turn.prompt],
        "completion": [{"role": "assistant", "content": answer}],
        **episode_provenance(e, seat),
    }


def episode_provenance(e: Episode, seat: int) -> dict[str, Any]:
    """What a training row from seat `seat` of `e` says of where it came from: its episode, seat, env
    and version, seed, level, the seat's reward, the run and round, and the policy that played it."""
    return {
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
