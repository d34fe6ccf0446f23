"""A recipe turns scored episodes into training rows and trains a checkpoint on them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from pydantic import BaseModel

from sparring.types import Episode


@dataclass(frozen=True)
class TrainResult:
    checkpoint: Path
    losses: list[float]  # training loss per logged step, in order
    seconds: float


@dataclass(frozen=True)
class Recipe:
    name: str
    config_key: str  # the RunConfig section holding this recipe's config
    config: type[BaseModel]
    build: Callable[[Sequence[Episode], Any], list[dict[str, Any]]]
    train: Callable[..., TrainResult]
