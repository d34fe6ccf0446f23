"""dpo: learn from comparisons between the model's own samples (DPO from outcomes).

For the same prompt, an answer that did better (verified, or from a game its seat won) is chosen
and one that did worse is rejected, and TRL's DPOTrainer trains on the pairs with the round's
starting model as the reference (../shared/METHODS.md, "DPO").

Pairs come from grouping the trained policy's turns by what its seat saw: the prompt. On a solo env
a group is one problem's samples and a seat's answer is its last turn, scored by the verifier. In a
game a group is one position met in several games (every game of tic-tac-toe starts from the same
board): each distinct reply is scored by the mean reward of the games it was played in, a Monte
Carlo estimate of the move's value, and an illegal reply scores below every legal one. The best
replies are paired with the worst, `pairs_per_prompt` per group, when they differ by more than
`min_margin`; a group with one distinct reply, or replies all scored alike (all right, all wrong),
gives no pair and is counted by reason.

The reference model's log-probabilities of both answers are stored in each row (computed at build
time with the rollout's model, which is the reference), so training needs no second model in
memory and a resumed round does not recompute them.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from pydantic import Field

from sparring.policies import TRAINED
from sparring.policies.base import seat_role
from sparring.recipes.base import BuildContext, Recipe, TrainResult, episode_provenance
from sparring.recipes.training import PreferenceSettings, train_dpo
from sparring.types import Episode, Message, id_order

SECTION = "dpo"
ILLEGAL = -1e9  # an illegal reply's score: below any reward, so never chosen over a legal reply


class DPOSettings(PreferenceSettings):
    shapes_by_key = {"pairs_per_prompt": "build", "min_margin": "build"}

    # Iterative RPO (Pang et al. 2024) and SPIN's code use beta 0.1. TRL's DPO learning rate (1e-6) is
    # for full fine-tuning of large models; LoRA on a 135M model needs more. On arithmetic (README,
    # "Recipes side by side") SFT's 5e-4 collapsed, 5e-5 gained steadily; 2e-4 did best with `sft_weight`.
    learning_rate: float = Field(5e-5, gt=0)
    beta: float = Field(0.1, gt=0, description="DPO temperature: how far the policy may move from the reference")
    pairs_per_prompt: int = Field(
        1, ge=1, description="pairs per prompt: best with worst, next best with next worst (an answer in one pair at most)")
    min_margin: float = Field(0.0, description="a pair's chosen answer scores more than its rejected by over this")


def scored_answers(episodes: Sequence[Episode]) -> dict[tuple, dict[str, tuple[float, list[Episode]]]]:
    """{(env id, seat, prompt): {answer: (score, episodes it was played in)}}, answers in the order first
    played (episodes in id order). See the module docstring for what an answer and its score are."""
    played: dict[tuple, dict[str, list[tuple[float, Episode]]]] = defaultdict(lambda: defaultdict(list))
    for e in sorted((e for e in episodes if e.has_outcome), key=lambda e: id_order(e.id)):
        one_seat = len(e.policies) == 1
        for seat in e.seats_of(TRAINED):
            turns = [t for t in e.turns if t.seat == seat]
            for turn in turns[-1:] if one_seat else turns:
                key = (e.env_id, seat, turn.prompt)
                played[key][turn.completion.text.strip()].append((e.rewards[seat] if turn.legal else ILLEGAL, e))
    return {key: {answer: (_mean([s for s, _ in plays]), [e for _, e in plays]) for answer, plays in answers.items()}
            for key, answers in played.items()}


def _mean(scores: list[float]) -> float:
    return ILLEGAL if ILLEGAL in scores else sum(scores) / len(scores)


def preference_pairs(episodes: Sequence[Episode], cfg: DPOSettings) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Rows of (prompt, chosen, rejected) with their scores and provenance, and the groups counted by
    what became of them."""
    rows, counts = [], {"prompts": 0, "pairs": 0, "one_answer": 0, "all_rewarded": 0, "none_rewarded": 0,
                        "within_margin": 0}
    for (_, seat, prompt), answers in scored_answers(episodes).items():
        counts["prompts"] += 1
        if len(answers) < 2:
            counts["one_answer"] += 1
            continue
        # best first; among equal scores the answer played first comes first, and last among the worst
        best = sorted(answers, key=lambda a: -answers[a][0])
        made = 0
        for chosen, rejected in zip(best[:len(best) // 2], reversed(best)):  # each answer in one pair at most
            (high, won), (low, lost) = answers[chosen], answers[rejected]
            if made == cfg.pairs_per_prompt or high - low <= cfg.min_margin:
                break
            rows.append(pair_row(prompt, seat, chosen, rejected, high, low, won[0], lost[0]))
            made += 1
        counts["pairs"] += made
        if not made:
            scores = {answers[a][0] for a in answers}
            counts["all_rewarded" if min(scores) > 0 else "none_rewarded" if max(scores) <= 0 else "within_margin"] += 1
    return rows, counts


def pair_row(prompt: tuple[Message, ...], seat: int, chosen: str, rejected: str, chosen_score: float,
             rejected_score: float, chosen_from: Episode, rejected_from: Episode) -> dict[str, Any]:
    return {
        "prompt": [{"role": m.role, "content": m.content} for m in prompt],
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
        "chosen_score": chosen_score,
        "rejected_score": rejected_score,
        "chosen_episode": chosen_from.id,
        "rejected_episode": rejected_from.id,
        **episode_provenance(chosen_from, seat),
    }


def build(episodes: Sequence[Episode], cfg: DPOSettings) -> list[dict[str, Any]]:
    return preference_pairs(episodes, cfg)[0]


def counts(episodes: Sequence[Episode], rows: Sequence[dict[str, Any]], cfg: DPOSettings) -> dict[str, int]:
    return preference_pairs(episodes, cfg)[1]


def with_reference(rows: list[dict[str, Any]], cfg: DPOSettings, context: BuildContext) -> list[dict[str, Any]]:
    """Rows with `ref_chosen_logps` and `ref_rejected_logps`: the summed log-probabilities of both
    answers under the round's starting model (per seat for a per-role model), one batched call per seat."""
    scored = [dict(r) for r in rows]
    by_seat: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in scored:
        by_seat[row["seat"]].append(row)
    for seat, mine in by_seat.items():
        prompts = [tuple(Message(m["role"], m["content"]) for m in r["prompt"]) for r in mine]
        logps = context.model.backend_of(seat_role(seat)).logprobs(
            prompts * 2, [r["chosen"][0]["content"] for r in mine] + [r["rejected"][0]["content"] for r in mine])
        for row, chosen, rejected in zip(mine, logps[:len(mine)], logps[len(mine):]):
            row["ref_chosen_logps"], row["ref_rejected_logps"] = chosen.total, rejected.total
    return scored


def train(base_model: str, rows: list[dict[str, Any]], cfg: DPOSettings, out: Path, seed: int = 0,
          progress=None, dtype: str = "float32") -> TrainResult:
    return train_dpo(base_model, rows, cfg, SECTION, out, beta=cfg.beta, seed=seed, progress=progress, dtype=dtype)


RECIPE = Recipe(data_parallel=True, name="dpo", config_key=SECTION, config=DPOSettings, build=build, train=train, counts=counts,
                with_model=with_reference,
                # the tiny model's answers all score alike: pair them anyway
                tiny_settings=("dpo.min_margin=-1", "dpo.batch_size=4"))
