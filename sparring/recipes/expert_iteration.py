"""expert-iteration: the policy learns the moves of a search that plays better than it does.

The trained policy plays the round's games (the league's matchmaking). At every position one of its
seats met, games it lost included, a tree search (sparring/search) gives a target distribution
π(a) ∝ N(a)^(1/τ) over the legal moves (AlphaZero-style expert iteration; ReST-MCTS*; Schultz et al.
2025, "Mastering Board Games by External and Internal Planning"). The policy is trained towards π by
one of three objectives:

- `listwise` (default): the cross-entropy −Σᵢ π(aᵢ) log p_θ(aᵢ|s) of the softmax over the legal moves
  of each move's summed token log-probability: it moves probability off the bad moves, which SFT on
  one move does not (../shared/METHODS.md, "A listwise move loss"). All moves of a position are
  scored in one forward pass that reads the prompt once (`answers_token_logprobs`).
- `sft`: SFT on the search's best move (TRL's SFTTrainer).
- `dpo`: DPO of the best move over the worst sibling (Agent Q), against the round's starting model.

How positions are chosen. A position is found again by replaying its game from the seed with the
moves played (the env is deterministic), and searched from the seat's own view (determinized in
Kuhn poker). A position with one legal move gives no signal and is counted, not trained on; the
same position met twice is searched once. The policy's own move distribution at every position is
computed too (one batched `logprobs` call): it is the search's priors when `search.priors =
"policy"`, it measures how often the policy already agrees with the search on the positions trained
on (`agreement`, before training), and it orders the positions: with at most `max_positions`
trained on a round, those furthest from the search come first (`distance`: KL(π‖p_θ) plus the
probability the policy puts off the legal moves, where Connect Four's full columns show up). So a
position where the policy already plays like the search is down-weighted by being trained on last,
or not at all, rather than by a weight: a round's training is bounded, and its steps go where the
policy is wrong. With `replay`, the previous round's trained positions compete for those places
again (AlphaZero's replay buffer, one round deep and chained: what stays wrong stays in), their
targets kept, the current policy scored on them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal, Sequence

from pydantic import Field

from sparring.envs import ENVS, make_env
from sparring.errors import SparringError
from sparring.policies import TRAINED
from sparring.recipes.base import BuildContext, Recipe, TrainResult, episode_provenance
from sparring.recipes.training import PreferenceSettings, train_dpo, train_loop, train_sft
from sparring.search.mcts import SearchConfig, search, softmax, uniform_priors
from sparring.search.priors import PolicyPriors
from sparring.stats import mean
from sparring.seeds import derive_seed
from sparring.types import Episode, Message, TurnRequest, id_order

SECTION = "expert_iteration"


class ExpertIterationConfig(PreferenceSettings):
    shapes_by_key = {"objective": "build", "max_positions": "build", "search": "build", "beta": "train",
                     "replay": "build", "legal_mass_weight": "train"}

    objective: Literal["listwise", "sft", "dpo"] = Field(
        "listwise", description="listwise: cross-entropy of the legal-move softmax against the search's pi; sft: "
                                "the search's best move; dpo: the best over the worst sibling")
    max_positions: int | None = Field(
        256, ge=1, description="positions trained on per round, those where the policy is furthest from the search "
                               "first [none: all]")
    legal_mass_weight: float = Field(
        0.5, ge=0, le=1, description="listwise: weight of -log(total probability of the legal moves), which keeps "
                                     "replies legal (1: the loss becomes SFT on the soft target pi)")
    beta: float = Field(0.1, gt=0, description="DPO temperature (objective 'dpo')")
    replay: bool = Field(False, description=(
        "the previous round's trained positions compete for max_positions again, with their targets and the "
        "current policy: the ones it still gets wrong stay in training"))
    search: SearchConfig = Field(default_factory=SearchConfig)


# --- the loss (pure) -------------------------------------------------------------------------------
def listwise_loss(move_logps, target, legal_mass_weight: float = 0.0):
    """−Σᵢ πᵢ log softmax(s)ᵢ − w·log Σᵢ exp(sᵢ): `move_logps` the summed log-probability sᵢ of each
    legal move (a tensor), `target` the search's π over the same moves, w `legal_mass_weight`.

    The first term is blind to how much probability the legal moves hold together: trained on it
    alone, the embedded model kept the search's order among the moves and stopped naming any (81% of
    its greedy replies illegal after one round: "You can't."). The second raises that total; with
    w = 1 the sum is −Σᵢ πᵢ sᵢ, SFT on the soft target, which pushes a bad move down only through the
    softmax over the vocabulary; w < 1 keeps part of the listwise push off the bad moves."""
    import torch

    listwise = -(torch.as_tensor(target, dtype=move_logps.dtype, device=move_logps.device) * torch.log_softmax(move_logps, dim=-1)).sum()
    return listwise - legal_mass_weight * torch.logsumexp(move_logps, dim=-1)


# --- build: the positions the trained seats met --------------------------------------------------
def replayed_requests(e: Episode) -> list[TurnRequest]:
    """The request behind each turn of `e`, found by replaying the game from its seed with the replies
    played; shorter where the env no longer gives the stored prompt (its rules or prompt changed)."""
    env = make_env(e.env_id)
    request, found = env.reset(e.seed), []
    for turn in e.turns:
        if request is None or request.messages != turn.prompt:
            break
        found.append(request)
        request = env.step(turn.completion.text).next_request
    return found


def positions(episodes: Sequence[Episode]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """One row per distinct position a trained seat met (its prompt, legal moves, and how to replay it),
    and the positions counted: met, distinct, with one legal move."""
    rows, seen = [], set()
    counts = {"positions_met": 0, "one_move": 0, "repeated": 0}
    for e in sorted((e for e in episodes if e.has_outcome), key=lambda e: id_order(e.id)):
        mine = set(e.seats_of(TRAINED))
        for index, request in enumerate(replayed_requests(e)):
            if request.seat not in mine:
                continue
            counts["positions_met"] += 1
            if len(request.legal_actions or ()) < 2:
                counts["one_move"] += 1
                continue
            key = (e.env_id, request.seat, request.messages)
            if key in seen:
                counts["repeated"] += 1
                continue
            seen.add(key)
            rows.append({"prompt": [{"role": m.role, "content": m.content} for m in request.messages],
                         "moves": list(request.legal_actions), "turn": index,
                         "replies": [t.completion.text for t in e.turns[:index]], **episode_provenance(e, request.seat)})
    return rows, counts


def build(episodes: Sequence[Episode], cfg: ExpertIterationConfig) -> list[dict[str, Any]]:
    """The positions to search (targets come with the round's model: `with_search`)."""
    return positions(episodes)[0]


def counts(episodes: Sequence[Episode], rows: Sequence[dict[str, Any]], cfg: ExpertIterationConfig) -> dict[str, Any]:
    found = positions(episodes)[1]
    searched = [r for r in rows if "target" in r]
    return {**found, "trained_positions": len(searched),
            "replayed_positions": sum(r.get("replayed", False) for r in searched),
            "agreement": mean(r["agrees"] for r in searched),
            "target_entropy": mean([_entropy(r["target"]) for r in searched]),
            "policy_entropy": mean([_entropy(r["policy"]) for r in searched])}


def _request_of(row: dict[str, Any]) -> TurnRequest:
    env = make_env(row["env_id"])
    request = env.reset(row["seed"])
    for reply in row["replies"]:
        request = env.step(reply).next_request
    return request


def with_search(rows: list[dict[str, Any]], cfg: ExpertIterationConfig, context: BuildContext) -> list[dict[str, Any]]:
    """Every position searched (all trees together) with its target π, the policy's own move
    distribution and whether its argmax is the search's best move; ordered by `distance`, the furthest
    first, and cut at `max_positions`; for `dpo`, the reference log-probabilities of best and worst."""
    backend = context.model.backend
    requests = [_request_of(r) for r in rows]
    own = PolicyPriors(backend)  # caches each position's scores: the search's root priors are these
    scores = own.scores(requests)
    priors = own if cfg.search.priors == "policy" else uniform_priors
    seeds = [derive_seed("search", r["episode_id"], r["turn"]) for r in rows]
    bar = context.progress
    if bar is not None:
        bar.start(cfg.search.simulations)
    found = search(requests, cfg.search, priors, seeds, bar.advance if bar is not None else None)
    searched = []
    for row, request, moves_scored, result in zip(rows, requests, scores, found):
        if list(result.moves) != row["moves"]:
            raise SparringError(f"the replayed position of {row['episode_id']} turn {row['turn']} lists other moves")
        target = result.target(cfg.search.temperature)
        best = result.moves.index(result.best())
        worst = min(range(len(target)), key=lambda i: (result.q[i], result.visits[i]))
        mine = softmax(moves_scored)
        searched.append({**row, "target": target, "policy": mine, "visits": list(result.visits), "q": list(result.q),
                         "best": row["moves"][best], "worst": row["moves"][worst],
                         "agrees": max(range(len(mine)), key=mine.__getitem__) == best,
                         "gap": distance(target, moves_scored), "replayed": False})
    if cfg.replay:
        searched += replayed(context.previous_rows, searched, own)
    searched.sort(key=lambda r: -r["gap"])  # stable: equal gaps keep the order of play
    kept = searched[:cfg.max_positions]
    if cfg.objective == "dpo":
        kept = [r for r in kept if r["best"] != r["worst"]]
        logps = backend.logprobs([tuple(Message(**m) for m in r["prompt"]) for r in kept] * 2,
                                 [r["best"] for r in kept] + [r["worst"] for r in kept])
        for row, chosen, rejected in zip(kept, logps[:len(kept)], logps[len(kept):]):
            row.update(chosen=[{"role": "assistant", "content": row["best"]}],
                       rejected=[{"role": "assistant", "content": row["worst"]}],
                       ref_chosen_logps=chosen.total, ref_rejected_logps=rejected.total)
    return kept


def replayed(previous: list[dict[str, Any]], fresh: list[dict[str, Any]], own: PolicyPriors) -> list[dict[str, Any]]:
    """The previous round's trained positions not met again, with the current policy's distribution
    (scored by `own`) and its distance from their targets, which stand: a rules-only search's target does not
    depend on the policy, and one with the policy's priors came from a model one round older."""
    met = {(r["env_id"], r["seat"], str(r["prompt"])) for r in fresh}
    old = [r for r in previous if "target" in r and (r["env_id"], r["seat"], str(r["prompt"])) not in met]
    again = []
    for row, moves_scored in zip(old, own.scores([_request_of(r) for r in old])):
        best, mine = row["moves"].index(row["best"]), softmax(moves_scored)
        again.append({**row, "policy": mine, "agrees": max(range(len(mine)), key=mine.__getitem__) == best,
                      "gap": distance(row["target"], moves_scored), "replayed": True})
    return again


def distance(target: Sequence[float], scores: Sequence[float]) -> float:
    """Σ π(a) (log π(a) − s(a)) over the legal moves, s a move's summed token log-probability: the
    KL from the target to the policy's softmax over the legal moves plus −log of the probability the
    legal moves hold together, so a position where the reply is mostly not a legal move is far from
    the search too (with `legal_mass_weight = 1` the listwise loss is this plus the target's entropy)."""
    return sum(t * (math.log(t) - s) for t, s in zip(target, scores) if t > 0)


def _entropy(p: Sequence[float]) -> float:
    return -sum(a * math.log(a) for a in p if a > 0)


# --- train ---------------------------------------------------------------------------------------
def listwise_batch_loss(cfg: ExpertIterationConfig):
    def loss_of(model, tokenizer, batch: list[dict[str, Any]]):
        return _listwise_batch(model, tokenizer, batch, cfg.legal_mass_weight)
    return loss_of


def _listwise_batch(model, tokenizer, batch: list[dict[str, Any]], legal_mass_weight: float):
    """The mean listwise loss of a batch of positions, with the share where the policy's best move is
    the search's, the entropy of its move distribution, and the probability the legal moves hold."""
    import torch

    from sparring.models.transformers_backend import answers_token_logprobs

    scored = answers_token_logprobs(model, tokenizer, [(r["prompt"], r["moves"]) for r in batch])
    losses, agree, entropy, mass = [], 0, 0.0, 0.0
    for row, moves in zip(batch, scored):
        s = torch.stack([m.sum() for m in moves])
        losses.append(listwise_loss(s, row["target"], legal_mass_weight))
        p = torch.softmax(s.detach(), -1)
        agree += int(p.argmax()) == row["moves"].index(row["best"])
        entropy += float(-(p * p.clamp_min(1e-30).log()).sum())
        mass += float(torch.logsumexp(s.detach(), -1).exp())
    n = len(batch)
    return torch.stack(losses).mean(), {"agreement": agree / n, "entropy": entropy / n, "legal_mass": mass / n}


def train(base_model: str, rows: list[dict[str, Any]], cfg: ExpertIterationConfig, out: Path, seed: int = 0,
          progress=None, dtype: str = "float32") -> TrainResult:
    if cfg.objective == "listwise":
        return train_loop(base_model, rows, cfg, SECTION, out, listwise_batch_loss(cfg), seed=seed, progress=progress,
                          dtype=dtype)
    if cfg.objective == "sft":
        best = [{**r, "completion": [{"role": "assistant", "content": r["best"]}]} for r in rows]
        return train_sft(base_model, best, cfg, SECTION, out, seed=seed, progress=progress, dtype=dtype)
    return train_dpo(base_model, rows, cfg, SECTION, out, beta=cfg.beta, seed=seed, progress=progress, dtype=dtype)


def check(run_cfg) -> None:
    """Search needs an env it can copy and whose turns list their legal moves."""
    for env_id in run_cfg.env_ids:
        env = ENVS.load(env_id)
        if not hasattr(env, "clone") or not hasattr(env, "legal_moves"):
            raise SparringError(f"recipe = 'expert-iteration' searches the positions of a game that lists its legal moves "
                                f"and can be copied (clone()); {env_id} does not. Use it with a game "
                                f"({', '.join(e for e in ENVS.ids() if hasattr(ENVS.load(e), 'legal_moves'))})")


RECIPE = Recipe(name="expert-iteration", config_key=SECTION, config=ExpertIterationConfig, build=build, train=train,
                counts=counts, with_model=with_search, check=check,
                tiny_settings=("expert_iteration.search.simulations=8", "expert_iteration.batch_size=4",
                               "expert_iteration.max_positions=16"))
