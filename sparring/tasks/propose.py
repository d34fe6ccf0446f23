"""The proposer's reward, part by part (R-Zero, Absolute Zero; ../shared/METHODS.md, "The model proposes
its own problems"). Each part is a pure function of what the round measured about one proposal: whether
the evaluator admitted it, the share of the solver's k answers that were right (p̂), whether the
solver's greedy answer was right, whether its canonical form is already in the run's archive, how many
proposals of the batch share its shape, and whether its answer can be guessed without solving.
`score_proposals` puts them together for a round's batch; `ProposeConfig` is the `[propose]` section of
a run (task 'propose', sparring/tasks/propose_solve.py).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import AbstractSet, Literal, Sequence

from pydantic import Field, model_validator

from sparring.sections import Section

Learnability = Literal["r-zero", "azr"]


class ProposerReward(Section):
    """How a proposal is rewarded. r = learnability(p̂) × (1 − guessable_discount if guessable)
    × (1 − known_discount if the solver's greedy answer is right) − cluster_weight × (others of its
    shape in the batch) / batch − archive_penalty if not novel; `invalid` if the evaluator rejected it."""

    shapes = "build"

    learnability: Learnability = Field("r-zero", description="'r-zero': 1 − 2|p̂ − 0.5|; 'azr': 1 − p̂; both 0 "
                                       "for a proposal always or never solved")
    invalid: float = Field(-1.0, le=0, description="reward of a proposal the evaluator rejected (AZR: −1)")
    archive_penalty: float = Field(0.5, ge=0, description="subtracted when the canonical form was proposed before "
                                   "in this run")
    cluster_weight: float = Field(1.0, ge=0, description="times the share of the batch that shares the proposal's "
                                  "shape (R-Zero's repetition penalty, λ)")
    guessable_discount: float = Field(0.5, ge=0, le=1, description="share of the learnability taken from a proposal "
                                      "whose answer is 0, 1 or one of its own numbers")
    known_discount: float = Field(0.0, ge=0, le=1, description="share of the learnability taken from a proposal "
                                  "the solver answers right greedily (it is judged greedily: sampled answers miss "
                                  "problems it already knows); above 0, each proposal is also answered once "
                                  "greedily. 0: R-Zero's reward, no greedy answer")


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
                    others: int = 0, batch: int = 1, is_guessable: bool = False, known: bool = False) -> float:
    if not valid:
        return settings.invalid
    r = learnability(p_hat, settings.learnability)
    if is_guessable:
        r *= 1.0 - settings.guessable_discount
    if known:
        r *= 1.0 - settings.known_discount
    r -= settings.cluster_weight * others / max(batch, 1)
    if not novel:
        r -= settings.archive_penalty
    return r



@dataclass(frozen=True)
class Proposal:
    """What a round measured about one proposal: the evaluator's facts (when it admitted it) and the
    solver's answers to it (`solved`: how many of its k answers were right; `greedy_right`: whether its
    greedy answer was, None where it gave none)."""

    valid: bool
    canonical: str = ""
    shape: str = ""
    answer: int = 0
    literals: tuple[int, ...] = ()
    copied: bool = False  # one of the problems its prompt showed
    solved: int = 0
    k: int = 0
    greedy_right: bool | None = None

    @property
    def p_hat(self) -> float | None:
        return self.solved / self.k if self.k else None


def score_proposals(batch: Sequence[Proposal], archive: AbstractSet[str], settings: ProposerReward) -> list[float]:
    """Each proposal's reward given the rest of its batch (near-duplicate clusters by shape, among the
    admitted ones) and the canonical forms proposed in the run's earlier rounds (`archive`) or shown
    in its prompt (`copied`): neither is new. An
    admitted proposal the solver never played (its answers failed) has no p̂ and scores as never solved."""
    admitted = [p for p in batch if p.valid]
    others = iter(others_in_cluster([p.shape for p in admitted]))
    rewards = []
    for p in batch:
        if not p.valid:
            rewards.append(proposer_reward(settings, valid=False))
            continue
        rewards.append(proposer_reward(settings, valid=True, p_hat=p.p_hat or 0.0, novel=not p.copied and p.canonical not in archive,
                                       others=next(others), batch=len(admitted),
                                       is_guessable=guessable(p.answer, set(p.literals)),
                                       known=bool(p.greedy_right)))
    return rewards


class ProposeConfig(Section):
    """Task 'propose': the trained model writes problems (`env`, a proposer env) and answers them (the
    run's `env`, given each admitted proposal as its problem)."""

    shapes = "rollout"
    shapes_by_key = {"reward": "build", "solver_band": "build", "proposer_every": "build", "policies": "all"}

    env: str = Field("propose-arithmetic-v0", description="the proposer's env: it reads a reply into a problem "
                     "with an exact answer")
    proposer: str = Field("policy", description="who proposes: 'policy' (the trained model), 'base' (the base "
                          "model: an untrained proposer), or a registered scripted proposer")
    prompts: int = Field(64, ge=1, description="proposer prompts per round")
    proposals_per_prompt: int = Field(2, ge=1, description="proposals sampled from each prompt")
    solver_samples: int = Field(4, ge=2, description="k: the solver's answers to each admitted proposal (p̂ "
                                "needs at least 2)")
    examples: int = Field(2, ge=0, description="problems of the previous round at the edge (a positive reward), "
                          "and as many it never solved, shown to each proposer prompt")
    seed_examples: int = Field(3, ge=1, description="the env's own problems shown as seeds (one per level drawn)")
    seed_levels: list[int] | None = Field(None, description="the env's levels the seeds are drawn from (default: "
                                          "all); the proposer writes problems like its seeds, so start them where "
                                          "the solver can learn")
    solver_band: list[float] = Field(default_factory=lambda: [0.25, 0.75], min_length=2, max_length=2,
                                     description="the solver trains on its answers to proposals whose p̂ lies "
                                                 "in [low, high]")
    proposer_every: int = Field(1, ge=0, description="train on the proposals every n rounds (0: never); only "
                                "when the proposer is the trained policy")
    policies: Literal["shared", "per-role"] = Field(
        "shared", description="shared: one model proposes and solves; per-role: each role has its own checkpoint "
        "(`proposer/`, `solver/`), trained on its own rows, and the solver's is the one judged")
    reward: ProposerReward = Field(default_factory=ProposerReward)

    @model_validator(mode="after")
    def _band_ordered(self):
        lo, hi = self.solver_band
        if not 0 <= lo <= hi <= 1:
            raise ValueError(f"solver_band must satisfy 0 <= low <= high <= 1, got {list(self.solver_band)}")
        return self
