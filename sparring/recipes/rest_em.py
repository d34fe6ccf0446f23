"""rest-em: rejection-sampling SFT (ReST-EM, STaR, RFT).

Sample k answers per problem (the rollout stage does this), keep the verified ones, at most m
distinct per problem, and fine-tune on them with TRL's SFTTrainer (loss on the answer only).
The next round samples from the fine-tuned model.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from pydantic import Field

from sparring.recipes.base import Recipe, TrainResult
from sparring.recipes.training import TrainingSettings, train_with
from sparring.types import Episode


class RestEMConfig(TrainingSettings):
    shapes_by_key = {"max_per_problem": "build", "min_reward": "build"}

    max_per_problem: int = Field(2, ge=1, description="m: distinct verified answers kept per problem")
    min_reward: float = Field(1.0, description="an episode is verified when seat 0's reward reaches this")


def build(episodes: Sequence[Episode], cfg: RestEMConfig) -> list[dict[str, Any]]:
    """SFT rows from the verified episodes: at most `max_per_problem` distinct answers per problem.

    A problem is (env id, seed); answers count as the same when they match after stripping
    whitespace. Every row keeps its episode id and provenance.
    """
    kept: dict[tuple[str, int], dict[str, dict[str, Any]]] = defaultdict(dict)
    for e in episodes:
        if e.truncated or not e.rewards or e.rewards[0] < cfg.min_reward:
            continue
        turn = e.turns[-1]
        answer = turn.completion.text.strip()
        problem = kept[(e.env_id, e.seed)]
        if answer in problem or len(problem) >= cfg.max_per_problem:
            continue
        problem[answer] = {
            "prompt": [{"role": m.role, "content": m.content} for m in turn.prompt],
            "completion": [{"role": "assistant", "content": answer}],
            "episode_id": e.id,
            "env_id": e.env_id,
            "env_version": e.env_version,
            "seed": e.seed,
            "level": e.info.get("level"),
            "reward": e.rewards[0],
            "run_id": e.provenance.get("run_id"),
            "round": e.provenance.get("round"),
            "policy": json.dumps(e.provenance.get("policies", {}).get(e.policies[turn.seat])),
        }
    return [row for problem in kept.values() for row in problem.values()]


def train(base_model: str, rows: list[dict[str, Any]], cfg: RestEMConfig, out: Path, seed: int = 0,
          progress=None, dtype: str = "float32") -> TrainResult:
    """Fine-tune `base_model` on `rows` with TRL's SFTTrainer (loss on the completion only)."""
    from trl import SFTConfig, SFTTrainer

    if not rows:
        raise ValueError("no training rows: no sample was verified this round")
    dataset = [{"prompt": r["prompt"], "completion": r["completion"]} for r in rows]
    return train_with(SFTTrainer, SFTConfig, base_model, dataset, cfg, "rest_em", out, seed=seed, progress=progress,
                      dtype=dtype)


RECIPE = Recipe(name="rest-em", config_key="rest_em", config=RestEMConfig, build=build, train=train,
                tiny_settings=("rest_em.min_reward=0.0", "rest_em.batch_size=4"))
