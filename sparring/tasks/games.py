"""games: the trained policy plays a game with several seats, against itself and scripted players.

Each round plays `problems_per_round × samples_per_problem` games, each from its own seed: a
`matches.self_play_share` of them with the trained policy in every seat, the rest against the
`matches.opponents` in turn, the trained policy's seat alternating. A checkpoint is judged greedily
by `matches.eval_games` games against each of `matches.eval_opponents`, half in each seat: win, draw
and loss rates, mean reward and the rate of illegal moves of the trained policy's turns. The score is
the mean reward against the first eval opponent.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any, Sequence

from sparring.config import RunConfig
from sparring.engine import EpisodeSpec, run_missing
from sparring.envs import ENVS
from sparring.errors import SparringError
from sparring.evaluate import HELDOUT_SEED_BASE
from sparring.models.base import Backend
from sparring.policies import POLICIES, TRAINED, LLMPolicy
from sparring.seeds import derive_seed
from sparring.store import EpisodeStore
from sparring.types import Episode, SamplingParams


class GameTask:
    def __init__(self, cfg: RunConfig):
        self.cfg = cfg
        self.seats = ENVS.load(cfg.env).num_seats

    def check(self) -> None:
        if self.seats < 2:
            raise SparringError(f"task 'games' plays envs with several seats; {self.cfg.env} has one (use task 'solo')")
        for name in ("curriculum", "eval"):
            if getattr(self.cfg, name).levels is not None:
                raise SparringError(f"{name}.levels: {self.cfg.env} has no difficulty levels; leave {name}.levels out")
        for name in ("opponents", "eval_opponents"):
            for policy in getattr(self.cfg.matches, name):
                POLICIES.entry(policy)  # an unknown player fails with the closest names

    def prepare(self, run_dir) -> str:
        return ""

    def _seating(self, game: int, opponent: str) -> tuple[str, ...]:
        """The trained policy in seat `game % seats`, `opponent` in the others."""
        return tuple(TRAINED if seat == game % self.seats else opponent for seat in range(self.seats))

    def plan(self, r: int, history: list[dict[str, Any]]) -> tuple[list[EpisodeSpec], dict[str, Any]]:
        rollout, matches = self.cfg.rollout, self.cfg.matches
        games = rollout.problems_per_round * rollout.samples_per_problem
        self_play = round(matches.self_play_share * games)
        rng = random.Random(f"{self.cfg.seed}/round{r}")
        specs = []
        for g in range(games):
            opponent = TRAINED if g < self_play else matches.opponents[g % len(matches.opponents)]
            specs.append(EpisodeSpec(id=f"r{r}/train/{g}", env_id=self.cfg.env, seed=rng.randrange(HELDOUT_SEED_BASE),
                                     policies=self._seating(g, opponent), tags={"stage": "train", "game": g,
                                                                                 "opponent": opponent}))
        return specs, {"self_play_games": self_play, "opponent_games": games - self_play}

    def rollout_metrics(self, episodes: Sequence[Episode]) -> dict[str, Any]:
        return {"illegal_rate": illegal_rate(episodes)}

    def evaluate(self, backend: Backend, store: EpisodeStore, provenance: dict[str, Any],
                 progress=None) -> dict[str, Any]:
        r, matches = provenance["round"], self.cfg.matches
        specs = [EpisodeSpec(id=f"r{r}/eval/{opponent}/{g}", env_id=self.cfg.env, seed=HELDOUT_SEED_BASE + g,
                             policies=self._seating(g, opponent), tags={"stage": "eval", "opponent": opponent})
                 for opponent in matches.eval_opponents for g in range(matches.eval_games)]
        if progress is not None:
            progress.start(len(specs))
        greedy = LLMPolicy(backend, SamplingParams(temperature=0.0, max_new_tokens=self.cfg.eval.max_new_tokens))
        policies = {TRAINED: greedy, **{name: POLICIES.make(name) for name in matches.eval_opponents}}
        episodes = run_missing(specs, policies, provenance, store, "eval", progress,
                               seed=derive_seed(self.cfg.seed, "eval", r),
                               max_failures=int(self.cfg.rollout.max_failed_fraction * len(specs)))
        by_opponent = results_by_opponent(episodes)
        first = by_opponent.get(matches.eval_opponents[0], {})
        columns = {f"{k} vs {name}": v[k] for name, v in by_opponent.items() for k in ("win", "loss")}
        return {"vs": by_opponent, "columns": columns, "failed": sum(bool(e.error) for e in episodes),
                "score": first.get("mean_reward", 0.0), "score_name": f"mean reward vs {matches.eval_opponents[0]}"}


def illegal_rate(episodes: Sequence[Episode]) -> float:
    """The share of the trained policy's turns that were illegal."""
    turns = [t for e in episodes for t in e.turns if e.policies[t.seat] == TRAINED]
    return sum(not t.legal for t in turns) / len(turns) if turns else 0.0


def results_by_opponent(episodes: Sequence[Episode]) -> dict[str, dict[str, float]]:
    """Win, draw and loss rates, mean reward and illegal-move rate of the trained policy per opponent."""
    groups: dict[str, list[Episode]] = defaultdict(list)
    for e in episodes:
        if e.has_outcome:
            groups[e.tags["opponent"]].append(e)
    results = {}
    for opponent, games in sorted(groups.items()):
        rewards = [e.rewards[e.seats_of(TRAINED)[0]] for e in games]
        results[opponent] = {"games": len(games), "win": sum(x > 0 for x in rewards) / len(games),
                             "draw": sum(x == 0 for x in rewards) / len(games),
                             "loss": sum(x < 0 for x in rewards) / len(games),
                             "mean_reward": sum(rewards) / len(games), "illegal_rate": illegal_rate(games)}
    return results
