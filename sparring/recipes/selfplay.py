"""selfplay: learn from the outcomes of games against itself, its past and anchors (SPIRAL, SPAG).

Credit is SPIRAL's role-conditioned advantage: a seat's terminal reward minus a moving-average
baseline of its role's rewards (decay 0.95), given to every turn that seat played. Turns whose
advantage is not above `min_advantage` (default 0: zero-advantage and losing turns) are dropped,
and so are illegal replies; the rest become SFT rows. TRL's SFTTrainer has no per-row loss weight,
so a row is kept or not rather than weighted by its advantage; each row stores its advantage.
The signal is balanced between roles (SPAG gives each role half): rows of roles with fewer kept
turns are repeated, in order, until every role has as many as the largest.

Only seats the trained policy played are learned from: a past checkpoint's or a scripted player's
turns never are. With `policies = "per-role"` every seat of the game is its own role with its own
checkpoint, trained on that seat's rows only (a per-role checkpoint: sparring/policies/checkpoints.py).

The baseline starts at 0 each round and follows the round's games in the order of their ids, so
a round's rows are a pure function of its episodes (a resumed round builds the same rows).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Literal, Sequence

from pydantic import Field

from sparring.envs import ENVS
from sparring.errors import SparringError
from sparring.policies import TRAINED
from sparring.policies.base import seat_role
from sparring.recipes.base import Recipe, TrainResult, sft_row
from sparring.recipes.training import TrainingSettings, train_roles, train_sft
from sparring.types import Episode, id_order

SECTION = "selfplay"


class SelfPlayConfig(TrainingSettings):
    shapes_by_key = {"baseline_decay": "build", "min_advantage": "build", "legal_only": "build",
                     "balance_roles": "build"}

    baseline_decay: float = Field(0.95, ge=0, lt=1, description="decay of each role's moving-average reward baseline")
    min_advantage: float = Field(0.0, description="turns whose advantage is above this are trained on")
    legal_only: bool = Field(True, description="never train on an illegal reply")
    balance_roles: bool = Field(True, description="repeat the rows of roles with fewer, so every role weighs the same")
    policies: Literal["shared", "per-role"] = Field(
        "shared", description="shared: one model plays every seat; per-role: each seat has its own checkpoint")


def advantages(episodes: Sequence[Episode], decay: float) -> dict[tuple[str, int], float]:
    """{(episode id, seat): reward − role baseline} for every seat the trained policy played in an
    episode with an outcome. A role is (env, seat); its baseline b starts at 0 and, after each
    episode in id order, becomes decay·b + (1 − decay)·reward."""
    baseline: dict[tuple[str, int], float] = defaultdict(float)
    result = {}
    for e in sorted((e for e in episodes if e.has_outcome), key=lambda e: id_order(e.id)):
        for seat in e.seats_of(TRAINED):
            role = (e.env_id, seat)
            result[(e.id, seat)] = e.rewards[seat] - baseline[role]
            baseline[role] = decay * baseline[role] + (1 - decay) * e.rewards[seat]
    return result


def balance(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every role as many rows as the largest: a smaller role's rows repeated, in order."""
    by_role: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_role[(row["env_id"], row["seat"])].append(row)
    most = max((len(v) for v in by_role.values()), default=0)
    return [mine[i % len(mine)] for _, mine in sorted(by_role.items()) for i in range(most)]


def build(episodes: Sequence[Episode], cfg: SelfPlayConfig) -> list[dict[str, Any]]:
    """SFT rows from the turns of the trained policy's seats whose advantage is above `min_advantage`."""
    credit = advantages(episodes, cfg.baseline_decay)
    rows = []
    for e in sorted(episodes, key=lambda e: id_order(e.id)):
        opponents = e.tags.get("opponent", TRAINED)
        for seat in e.seats_of(TRAINED):
            advantage = credit.get((e.id, seat))
            if advantage is None or advantage <= cfg.min_advantage:
                continue
            for index, turn in enumerate(e.turns):
                if turn.seat != seat or (cfg.legal_only and not turn.legal):
                    continue
                row = sft_row(e, seat, turn, turn.completion.text.strip())
                rows.append({**row, "turn": index, "role": f"seat {seat}", "advantage": advantage,
                             "opponent": "self" if opponents == TRAINED else opponents})
    return balance(rows) if cfg.balance_roles else rows


def train(base_model: str, rows: list[dict[str, Any]], cfg: SelfPlayConfig, out: Path, seed: int = 0,
          progress=None, dtype: str = "float32") -> TrainResult:
    """One SFT run on every row; per-role, one per seat on that seat's rows, each from its own
    role's previous checkpoint (a seat with no rows keeps its previous weights)."""
    if not rows:
        raise ValueError("no training rows: no turn had a positive advantage this round")
    if cfg.policies == "shared":
        return train_sft(base_model, rows, cfg, SECTION, out, seed=seed, progress=progress, dtype=dtype)
    seats = ENVS.load(rows[0]["env_id"]).num_seats
    return train_roles(base_model, {seat_role(seat): [r for r in rows if r["seat"] == seat] for seat in range(seats)},
                       out, seed, lambda base, mine, path, role_seed: train_sft(
                           base, mine, cfg, SECTION, path, seed=role_seed, progress=progress, dtype=dtype))


def check(cfg) -> None:
    one_seat = [env_id for env_id in cfg.env_ids if ENVS.load(env_id).num_seats < 2]
    if cfg.selfplay.policies == "per-role" and one_seat:
        raise SparringError(f"selfplay.policies = 'per-role' gives each seat its own model; {one_seat[0]} has one "
                            "seat (use 'shared')")


RECIPE = Recipe(data_parallel=True, name="selfplay", config_key=SECTION, config=SelfPlayConfig, build=build, train=train, check=check,
                # the tiny model's replies are never legal moves nor right answers: keep every turn
                tiny_settings=("selfplay.min_advantage=-1e9", "selfplay.legal_only=false", "selfplay.batch_size=4"))
