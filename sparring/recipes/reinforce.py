"""reinforce: a policy gradient that keeps losses (SPIRAL's learner; ../shared/METHODS.md, "Policy
gradient with negative advantages").

Every reply of a trained seat is a training row with the advantage of its seat in its episode:
- in a game, the role-conditioned advantage (RAE): the seat's reward minus its role's moving-average
  baseline (decay 0.95), as the selfplay recipe computes it;
- on a solo env, the reward minus the mean reward of the problem's k samples (GRPO / Dr. GRPO), so a
  problem needs at least two samples.
An illegal reply is credited with `illegal_reward` (SPIRAL: -1.5 to the offender) in place of its
seat's reward, whatever the game's outcome; rows whose advantage is zero are dropped. On a solo env
the penalty enters the problem's mean too, so its samples' advantages sum to zero: with the raw
rewards' mean, an illegal reply was −1.5 below every baseline, the rows' advantages were mostly
negative (−0.83 on average in a round of arithmetic) and six rounds pushed the model down (33.0% →
23.5% held-out by round 2).

The loss is PPO-clip per token, −min(r·A, clip(r, 1−ε, 1+ε)·A) with r = π_θ/π_old, summed over the
tokens of the reply (the acting seat's own tokens only: the prompt and the other seats' replies are
context, not loss) and divided by a constant (`token_divisor`, 4096 as in Dr. GRPO), not by each
reply's length, which favours short winners and long losers. π_old is the round's starting model,
the one that sampled the rollout: its per-token log-probabilities are computed at build time
(`Backend.logprobs`, untempered) and stored with the rows. With one optimizer step per batch the
first step has r = 1 and the loss is plain REINFORCE −A·Σ log π. An optional KL term to the same
reference (k3 estimator, `kl_weight`, default 0). AdamW (0.9, 0.95), gradient norm clipped to 1.0.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from pydantic import Field

from sparring.errors import SparringError
from sparring.envs import ENVS
from sparring.policies import TRAINED
from sparring.recipes.base import BuildContext, Recipe, TrainResult, episode_provenance
from sparring.recipes.selfplay import advantages as role_advantages
from sparring.recipes.training import TrainingSettings, train_loop
from sparring.stats import mean
from sparring.types import Episode, Message, id_order

SECTION = "reinforce"


class ReinforceConfig(TrainingSettings):
    shapes_by_key = {"baseline_decay": "build", "illegal_reward": "build"}

    learning_rate: float = Field(1e-4, gt=0)
    epochs: float = Field(2.0, gt=0, description="passes over a round's rows (SPIRAL: 2 per fresh batch)")
    clip: float = Field(0.2, gt=0, lt=1, description="PPO's ratio clip epsilon")
    token_divisor: float = Field(4096.0, gt=0, description="the loss is the sum over tokens divided by this (Dr. GRPO)")
    kl_weight: float = Field(0.0, ge=0, description="weight of a KL term to the round's starting model (k3)")
    baseline_decay: float = Field(0.95, ge=0, lt=1, description="decay of each role's moving-average baseline (games)")
    illegal_reward: float = Field(-1.5, description="the reward an illegal reply is credited with (SPIRAL: -1.5)")


# --- the loss (pure) -----------------------------------------------------------------------------
def ppo_clip_loss(logp, old_logp, advantage: float, clip: float):
    """Σ_tokens −min(r·A, clip(r, 1−ε, 1+ε)·A), r = exp(logp − old_logp): one reply's tokens."""
    import torch

    ratio = torch.exp(logp - old_logp)
    return -torch.minimum(ratio * advantage, ratio.clamp(1 - clip, 1 + clip) * advantage).sum()


def kl_k3(logp, ref_logp):
    """Σ_tokens exp(ref − logp) − (ref − logp) − 1: an unbiased, non-negative estimate of KL(π‖π_ref)."""
    import torch

    delta = ref_logp - logp
    return (torch.exp(delta) - delta - 1).sum()


# --- build ---------------------------------------------------------------------------------------
def credited(e: Episode, seat: int, illegal_reward: float) -> float:
    """A seat's reward in an episode as training credits it: `illegal_reward` if any of its replies was
    illegal, else its reward."""
    return illegal_reward if any(t.seat == seat and not t.legal for t in e.turns) else e.rewards[seat]


def group_baselines(episodes: Sequence[Episode], illegal_reward: float) -> dict[tuple[str, int], float]:
    """{(episode id, 0): the mean credited reward of its problem's samples} on a one-seat env (GRPO's
    baseline): the penalty of an illegal reply enters the mean, so a problem's advantages sum to zero
    and a legal wrong answer beside an illegal one is the better of the two."""
    groups: dict[tuple, list[Episode]] = defaultdict(list)
    for e in episodes:
        if e.has_outcome:
            groups[(e.env_id, e.seed, e.info.get("level"))].append(e)
    result = {}
    for members in groups.values():
        baseline = mean([credited(e, 0, illegal_reward) for e in members])
        for e in members:
            result[(e.id, 0)] = baseline
    return result


def build(episodes: Sequence[Episode], cfg: ReinforceConfig) -> list[dict[str, Any]]:
    """A row per reply of a trained seat with a non-zero advantage (see the module docstring)."""
    if any(len(e.policies) == 1 for e in episodes):
        baselines = group_baselines(episodes, cfg.illegal_reward)
    else:
        by_id = {e.id: e for e in episodes}  # the role's moving average of game rewards, as selfplay's RAE
        baselines = {(e_id, seat): by_id[e_id].rewards[seat] - advantage
                     for (e_id, seat), advantage in role_advantages(episodes, cfg.baseline_decay).items()}
    rows = []
    for e in sorted(episodes, key=lambda e: id_order(e.id)):
        for seat in e.seats_of(TRAINED):
            baseline = baselines.get((e.id, seat))
            if baseline is None:
                continue
            for index, turn in enumerate(e.turns):
                mine = (e.rewards[seat] if turn.legal else cfg.illegal_reward) - baseline
                if turn.seat != seat or mine == 0:
                    continue
                rows.append({"prompt": [{"role": m.role, "content": m.content} for m in turn.prompt],
                             "completion": [{"role": "assistant", "content": turn.completion.text}],
                             "advantage": mine, "turn": index, "legal": turn.legal, **episode_provenance(e, seat)})
    return rows


def with_old_logprobs(rows: list[dict[str, Any]], cfg: ReinforceConfig, context: BuildContext) -> list[dict[str, Any]]:
    """Rows with `old_logps`: the per-token log-probabilities of each reply under the round's starting
    model (it sampled them), one batched call."""
    scored = context.model.backend.logprobs([tuple(Message(**m) for m in r["prompt"]) for r in rows],
                                            [r["completion"][0]["content"] for r in rows])
    return [{**row, "old_logps": list(s.per_token)} for row, s in zip(rows, scored)]


def counts(episodes: Sequence[Episode], rows: Sequence[dict[str, Any]], cfg: ReinforceConfig) -> dict[str, Any]:
    advantages = [r["advantage"] for r in rows]
    return {"positive": sum(a > 0 for a in advantages), "negative": sum(a < 0 for a in advantages),
            "illegal_rows": sum(not r["legal"] for r in rows),
            "mean_advantage": mean(advantages)}


# --- train ---------------------------------------------------------------------------------------
def batch_loss(cfg: ReinforceConfig):
    def loss_of(model, tokenizer, batch: list[dict[str, Any]]):
        import torch

        from sparring.models.transformers_backend import answers_token_logprobs

        scored = answers_token_logprobs(model, tokenizer, [(r["prompt"], [r["completion"][0]["content"]])
                                                           for r in batch])
        total, kl, clipped, tokens, surprise = 0.0, 0.0, 0, 0, 0.0
        for row, [logp] in zip(batch, scored):
            old = torch.tensor(row["old_logps"], dtype=logp.dtype, device=logp.device)
            if len(old) != len(logp):
                raise ValueError("a reply tokenizes differently than when its old log-probabilities were stored")
            total = total + ppo_clip_loss(logp, old, row["advantage"], cfg.clip)
            if cfg.kl_weight:
                kl = kl + kl_k3(logp, old)
            ratio = torch.exp(logp.detach() - old)
            clipped += int(((ratio - 1).abs() > cfg.clip).sum())
            tokens += len(logp)
            surprise += float(-logp.detach().sum())
        loss = (total + cfg.kl_weight * kl) / cfg.token_divisor
        return loss, {"advantage": sum(r["advantage"] for r in batch) / len(batch),
                      "clip_fraction": clipped / max(tokens, 1),
                      "entropy": surprise / max(tokens, 1)}  # −log π of the sampled tokens: an entropy estimate
    return loss_of


def train(base_model: str, rows: list[dict[str, Any]], cfg: ReinforceConfig, out: Path, seed: int = 0,
          progress=None, dtype: str = "float32") -> TrainResult:
    return train_loop(base_model, rows, cfg, SECTION, out, batch_loss(cfg), seed=seed, progress=progress, dtype=dtype,
                      betas=(0.9, 0.95))


def check(run_cfg) -> None:
    if any(ENVS.load(env_id).num_seats == 1 for env_id in run_cfg.env_ids) and run_cfg.rollout.samples_per_problem < 2:
        raise SparringError("rollout.samples_per_problem = 1: reinforce's baseline on a one-seat env is the mean "
                            "reward of a problem's samples, so it needs at least 2 (GRPO uses 4 to 64)")


RECIPE = Recipe(name="reinforce", config_key=SECTION, config=ReinforceConfig, build=build, train=train,
                counts=counts, with_model=with_old_logprobs, check=check,
                # the tiny model's replies all earn the same reward: credit the illegal ones anyway
                tiny_settings=("reinforce.batch_size=4",))
