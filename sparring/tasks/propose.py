"""The proposer's reward, part by part (R-Zero, Absolute Zero; ../shared/METHODS.md, "The model proposes
its own problems"). Each part is a pure function of what the round measured about one proposal: whether
the evaluator admitted it, the share of the solver's k answers that were right (p̂), whether its
canonical form is already in the run's archive, how many proposals of the batch share its shape, and
whether its answer can be guessed without solving.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field

Learnability = Literal["r-zero", "azr"]


class ProposerReward(BaseModel):
    """How a proposal is rewarded. r = learnability(p̂) × (1 − guessable_discount if guessable)
    − cluster_weight × (others of its shape in the batch) / batch − archive_penalty if not novel;
    `invalid` if the evaluator rejected it."""

    model_config = ConfigDict(extra="forbid")
    learnability: Learnability = Field("r-zero", description="'r-zero': 1 − 2|p̂ − 0.5|; 'azr': 1 − p̂; both 0 "
                                       "for a proposal always or never solved")
    invalid: float = Field(-1.0, le=0, description="reward of a proposal the evaluator rejected (AZR: −1)")
    archive_penalty: float = Field(0.5, ge=0, description="subtracted when the canonical form was proposed before "
                                   "in this run")
    cluster_weight: float = Field(1.0, ge=0, description="times the share of the batch that shares the proposal's "
                                  "shape (R-Zero's repetition penalty, λ)")
    guessable_discount: float = Field(0.5, ge=0, le=1, description="share of the learnability taken from a proposal "
                                      "whose answer is 0, 1 or one of its own numbers")


def learnability(p_hat: float, kind: Learnability = "r-zero") -> float:
    """Reward for a proposal the solver answers right a share p̂ of the time: highest at the edge of
    what it can do. Zero for one always or never solved: nothing to learn from, or no label to trust."""
    if not 0.0 <= p_hat <= 1.0:
        raise ValueError(f"a solve rate lies in [0, 1], got {p_hat}")
    if p_hat in (0.0, 1.0):
        return 0.0
    return 1.0 - 2.0 * abs(p_hat - 0.5) if kind == "r-zero" else 1.0 - p_hat


def guessable(answer: int, numbers: set[int]) -> bool:
    """An answer a solver could give without solving: 0, 1, or a number written in the problem."""
    return answer in (0, 1) or answer in numbers


def others_in_cluster(keys: Sequence[str]) -> list[int]:
    """For each proposal of a batch, how many other proposals share its cluster key."""
    counts = Counter(keys)
    return [counts[k] - 1 for k in keys]


def proposer_reward(settings: ProposerReward, *, valid: bool, p_hat: float = 0.0, novel: bool = True,
                    others: int = 0, batch: int = 1, is_guessable: bool = False) -> float:
    if not valid:
        return settings.invalid
    r = learnability(p_hat, settings.learnability)
    if is_guessable:
        r *= 1.0 - settings.guessable_discount
    r -= settings.cluster_weight * others / max(batch, 1)
    if not novel:
        r -= settings.archive_penalty
    return r

