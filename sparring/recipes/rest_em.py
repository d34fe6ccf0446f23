"""rest-em: rejection-sampling SFT (ReST-EM, STaR, RFT).

Sample k answers per problem (the rollout stage does this), keep the verified ones, at most m
distinct per problem, and fine-tune on them with TRL's SFTTrainer (loss on the answer only).
The next round samples from the fine-tuned model.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from pydantic import Field

from sparring.policies import TRAINED
from sparring.recipes.base import Recipe, TrainResult, sft_row
from sparring.recipes.training import TrainingSettings, train_sft
from sparring.types import Episode


class RestEMConfig(TrainingSettings):
    shapes_by_key = {"max_per_problem": "build", "min_reward": "build"}

    max_per_problem: int = Field(2, ge=1, description="m: distinct verified answers kept per problem")
    min_reward: float = Field(1.0, description="a seat's answer is verified when its reward reaches this")


def build(episodes: Sequence[Episode], cfg: RestEMConfig) -> list[dict[str, Any]]:
    """SFT rows from the verified answers of the trained policy: at most `max_per_problem` distinct
    answers per problem.

    A seat's answer is its last turn, verified when the seat's reward reaches `min_reward` in an
    episode that ended by the env's rules; only seats the trained policy played count. A problem is
    (env id, seed, seat); answers count as the same when they match after stripping whitespace.
    Every row keeps its episode id, seat and provenance.
    """
    kept: dict[tuple[str, int, int], dict[str, dict[str, Any]]] = defaultdict(dict)
    for e in episodes:
        if e.truncated or not e.has_outcome:
            continue
        for seat in e.seats_of(TRAINED):
            turns = [t for t in e.turns if t.seat == seat]
            if not turns or e.rewards[seat] < cfg.min_reward:
                continue
            problem = kept[(e.env_id, e.seed, seat)]
            answer = turns[-1].completion.text.strip()
            if answer not in problem and len(problem) < cfg.max_per_problem:
                problem[answer] = sft_row(e, seat, turns[-1], answer)
    return [row for problem in kept.values() for row in problem.values()]


def train(base_model: str, rows: list[dict[str, Any]], cfg: RestEMConfig, out: Path, seed: int = 0,
          progress=None, dtype: str = "float32") -> TrainResult:
    """Fine-tune `base_model` on `rows` with TRL's SFTTrainer (loss on the completion only)."""
    if not rows:
        raise ValueError("no training rows: no sample was verified this round")
    return train_sft(base_model, rows, cfg, "rest_em", out, seed=seed, progress=progress, dtype=dtype)


RECIPE = Recipe(data_parallel=True, name="rest-em", config_key="rest_em", config=RestEMConfig, build=build, train=train, takes_mixed_rows=True,
                tiny_settings=("rest_em.min_reward=-1e9", "rest_em.batch_size=4"))  # keep every answer
