"""spin: Self-Play fIne-tuNing (SPIN), DPO of the reference answer over the model's own.

For every problem the round played, chosen = the reference answer (the env's
`reference_solution()`, or the answer a user dataset gives for that prompt) and rejected = the
answer the round's starting model generated for it; the reference model of the DPO loss is that
same starting model (../shared/METHODS.md, "SPIN"). As in the authors' code, each round's pairs are
mixed with the previous round's (re-scored by the new reference), and the learning rate falls and
beta changes over rounds: their iterations 0-3 ran at 5e-7, 5e-7, 1e-7, 1e-7 with beta 0.1, 0.1,
0.1, 5.0 (scripts/finetune*.sh), so our rounds 1-4 scale `learning_rate` by 1, 1, 0.2, 0.2.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from pydantic import Field

from sparring.envs import ENVS
from sparring.errors import SparringError
from sparring.policies import TRAINED
from sparring.recipes import dpo
from sparring.recipes.base import BuildContext, Recipe, TrainResult, episode_provenance
from sparring.recipes.training import PreferenceSettings, train_dpo
from sparring.references import env_reference, load_references
from sparring.types import Episode, Message, id_order

SECTION = "spin"


class SPINSettings(PreferenceSettings):
    shapes_by_key = {"references": "build", "mix_previous": "build", "pairs_per_prompt": "build"}

    learning_rate: float = Field(5e-5, gt=0, description="round 1's; later rounds scale it by `learning_rate_factors`")
    learning_rate_factors: list[float] = Field(
        [1.0, 1.0, 0.2, 0.2], min_length=1, description="per round from round 1, the last repeated (SPIN's code)")
    betas: list[float] = Field([0.1, 0.1, 0.1, 5.0], min_length=1,
                               description="DPO beta per round from round 1, the last repeated (SPIN's code)")
    references: str | None = Field(
        None, description="JSONL or Parquet of prompt/answer: reference answers by prompt, instead of the env's")
    mix_previous: bool = Field(True, description="train on the previous round's pairs too, as SPIN's code does")
    pairs_per_prompt: int = Field(1, ge=1, description="distinct own answers paired with the reference per problem")


def schedule(values: list[float], r: int) -> float:
    """Round r's value (rounds count from 1); past the list's end, its last value."""
    return values[min(r, len(values)) - 1]


def reference_answer(e: Episode, prompt: tuple[Message, ...], cfg: SPINSettings) -> str | None:
    """The dataset's answer to the prompt's last user message, else the env's reference solution."""
    if cfg.references:
        asked = next((m.content for m in reversed(prompt) if m.role == "user"), "")
        return load_references(cfg.references, "spin.references").get(asked.strip())
    return env_reference(e)


def spin_pairs(episodes: Sequence[Episode], cfg: SPINSettings) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """(reference, own answer) rows per problem, the own answers distinct and in the order played,
    and the problems counted by what became of them."""
    own: dict[tuple, list[tuple[str, Episode]]] = defaultdict(list)
    for e in sorted((e for e in episodes if e.has_outcome), key=lambda e: id_order(e.id)):
        for seat in e.seats_of(TRAINED):
            first = next(t for t in e.turns if t.seat == seat)  # the answer to the problem as posed
            answers = own[(e.env_id, e.seed, seat, first.prompt)]
            if first.completion.text.strip() not in [a for a, _ in answers]:
                answers.append((first.completion.text.strip(), e))
    rows, counts = [], {"prompts": len(own), "pairs": 0, "no_reference": 0, "same_as_reference": 0}
    for (_, _, seat, prompt), answers in own.items():
        reference = reference_answer(answers[0][1], prompt, cfg)
        if reference is None:
            counts["no_reference"] += 1
            continue
        mine = [(a, e) for a, e in answers if a != reference.strip()][:cfg.pairs_per_prompt]
        counts["same_as_reference"] += not mine  # every answer was the reference's, word for word
        for answer, e in mine:
            rows.append({"prompt": [{"role": m.role, "content": m.content} for m in prompt],
                         "chosen": [{"role": "assistant", "content": reference}],
                         "rejected": [{"role": "assistant", "content": answer}],
                         "rejected_episode": e.id, **episode_provenance(e, seat)})
        counts["pairs"] += len(mine)
    return rows, counts


def build(episodes: Sequence[Episode], cfg: SPINSettings) -> list[dict[str, Any]]:
    return spin_pairs(episodes, cfg)[0]


def counts(episodes: Sequence[Episode], rows: Sequence[dict[str, Any]], cfg: SPINSettings) -> dict[str, int]:
    return spin_pairs(episodes, cfg)[1]


def with_reference(rows: list[dict[str, Any]], cfg: SPINSettings, context: BuildContext) -> list[dict[str, Any]]:
    """The round's pairs and (with `mix_previous`) the previous round's own pairs, all scored by the
    round's starting model, which is the DPO reference."""
    previous = [r for r in context.previous_rows if r["round"] == context.round - 1] if cfg.mix_previous else []
    return dpo.with_reference(rows + previous, cfg, context)


def train(base_model: str, rows: list[dict[str, Any]], cfg: SPINSettings, out: Path, seed: int = 0,
          progress=None, dtype: str = "float32") -> TrainResult:
    r = max(row["round"] for row in rows)  # the round being trained: its own pairs are the newest rows
    settings = cfg.model_copy(update={"learning_rate": cfg.learning_rate * schedule(cfg.learning_rate_factors, r)})
    return train_dpo(base_model, rows, settings, SECTION, out, beta=schedule(cfg.betas, r), seed=seed,
                     progress=progress, dtype=dtype)


def check(cfg) -> None:
    """Reference answers must exist before anything is generated."""
    if cfg.spin.references:
        load_references(cfg.spin.references, "spin.references")
    elif missing := [env_id for env_id in cfg.env_ids if not hasattr(ENVS.load(env_id), "reference_solution")]:
        raise SparringError(f"spin needs reference answers: {missing[0]} has no reference_solution(); give a JSONL or "
                            "Parquet file of prompt/answer rows as spin.references, or use an env that has one "
                            f"({', '.join(e for e in ENVS.ids() if hasattr(ENVS.load(e), 'reference_solution'))})")


RECIPE = Recipe(data_parallel=True, name="spin", config_key=SECTION, config=SPINSettings, build=build, train=train, counts=counts,
                with_model=with_reference, check=check, tiny_settings=("spin.batch_size=4",))
