"""games: the trained policy plays a game with several seats, against itself, its past and anchors.

Each round plays `problems_per_round × samples_per_problem` games, each from its own seed (league
matchmaking): a `matches.self_play_share` of them with the trained policy in every seat, a
`matches.past_share` against its last `matches.past_k` checkpoints in turn (self-play while it has
none), the rest against the fixed anchors `matches.opponents` in turn (scripted players, or the base
model); the trained policy's seat alternates. A checkpoint is judged greedily by `matches.eval_games`
games against each of `matches.eval_opponents` (by default random-legal and the game's strong scripted
player; `base`, the base model played greedily, may be one), half in each seat: win, draw and loss rates
overall and per seat, mean
reward and the rate of illegal moves of the trained policy's turns, and its league rating over every
match so far (sparring/league.py). The score is the mean reward against the first eval opponent.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any, Sequence

from sparring.config import RunConfig
from sparring.engine import EpisodeSpec, run_missing
from sparring.envs import ENVS
from sparring.errors import SparringError, UnknownIdError
from sparring.heldout import HELDOUT_SEED_BASE
from sparring.ratings import BASE, past_players, player_name, rate, served_name
from sparring.models.precision import resolve_dtype
from sparring.policies import POLICIES, TRAINED, Policy, strong_players
from sparring.policies.checkpoints import Model, load_run_model, served_model
from sparring.search.player import searched_player
from sparring.seeds import derive_seed
from sparring.store import EpisodeStore
from sparring.tasks import as_played, one_model
from sparring.types import Episode, SamplingParams


class GameTask:
    def __init__(self, cfg: RunConfig):
        self.cfg = cfg
        self.seats = ENVS.load(cfg.env).num_seats
        self.eval_opponents = cfg.matches.eval_opponents or ["random-legal", *strong_players(cfg.env)]

    def check(self) -> None:
        if self.seats < 2:
            raise SparringError(f"task 'games' plays envs with several seats; {self.cfg.env} has one (use task 'solo')")
        for name in ("curriculum", "eval"):
            if getattr(self.cfg, name).levels is not None:
                raise SparringError(f"{name}.levels: {self.cfg.env} has no difficulty levels; leave {name}.levels out")
        searching = [p for p in [*self.cfg.matches.opponents, *self.eval_opponents]
                     if p == "mcts" or searched_player(p) is not None]
        if searching and not hasattr(ENVS.load(self.cfg.env), "clone"):
            raise SparringError(f"{searching[0]} searches copies of the game, and {self.cfg.env} cannot be copied "
                                "(it has no clone())")
        for name, players, searched in (("opponents", self.cfg.matches.opponents, True),
                                        ("eval_opponents", self.eval_opponents, False)):
            for policy in players:
                server = served_name(searched_player(policy) or policy)
                if server is not None:
                    if server not in self.cfg.servers:
                        have = sorted(self.cfg.servers) or "no [servers.<name>] sections"
                        raise SparringError(f"matches.{name}: {policy!r} is served by [servers.{server}], and the "
                                            f"config has {have}")
                    continue
                if policy == BASE or (searched and searched_player(policy) == BASE):
                    continue
                try:
                    POLICIES.entry(policy)  # an unknown player fails with the closest names
                except UnknownIdError as e:
                    search = ", or mcts(base), the base model with search" if searched else ""
                    raise SparringError(f"matches.{name}: {e.args[0]} (or 'base', the base model{search})") from None

    def prepare(self, run_dir) -> str:
        return ""

    def _seating(self, game: int, opponent: str, player: str) -> tuple[tuple[str, ...], list[str]]:
        """(policy id per seat, player name per seat): the trained policy, pool member `player`, in seat
        `game % seats`; `opponent` in the others (the trained policy too, for self-play)."""
        seat = game % self.seats
        policies = tuple(TRAINED if s == seat or opponent == TRAINED else opponent for s in range(self.seats))
        return policies, [player if p == TRAINED else p for p in policies]

    def plan(self, r: int, history: list[dict[str, Any]], played: Sequence[Episode] = ()
             ) -> tuple[list[EpisodeSpec], dict[str, Any]]:
        rollout, matches = self.cfg.rollout, self.cfg.matches
        games = rollout.problems_per_round * rollout.samples_per_problem
        past = past_players(r, matches.past_k)
        self_play = round(matches.self_play_share * games)
        against_past = round(matches.past_share * games) if past else 0
        if not past:  # its past games are self-play until it has a past
            self_play = min(games, self_play + round(matches.past_share * games))
        rng = random.Random(f"{self.cfg.seed}/round{r}")
        specs = []
        for g in range(games):
            if g < self_play:
                opponent = TRAINED
            elif g < self_play + against_past:
                opponent = past[(g - self_play) % len(past)]
            else:
                opponent = matches.opponents[g % len(matches.opponents)]
            policies, players = self._seating(g, opponent, player_name(r - 1))
            specs.append(EpisodeSpec(id=f"r{r}/train/{g}", env_id=self.cfg.env, seed=rng.randrange(HELDOUT_SEED_BASE),
                                     policies=policies, tags={"stage": "train", "game": g, "opponent": opponent,
                                                              "players": players}))
        return specs, {"self_play_games": self_play, "past_games": against_past,
                       "anchor_games": games - self_play - against_past}

    score = staticmethod(as_played)
    training_roles = staticmethod(one_model)

    def evaluation_texts(self) -> list[str]:
        return []  # judged by playing fresh games, not by a fixed set of texts

    def rollout_metrics(self, episodes: Sequence[Episode]) -> dict[str, Any]:
        return {"illegal_rate": illegal_rate(episodes), **self._measures(episodes)}

    def _measures(self, episodes: Sequence[Episode]) -> dict[str, Any]:
        """The game's own measures of the trained policy's play, where it has them (matrix games, bargaining, taboo)."""
        measure = getattr(ENVS.load(self.cfg.env), "measures", None)
        return {} if measure is None else {"measures": measure(episodes, TRAINED)}

    def evaluate(self, model: Model, store: EpisodeStore, provenance: dict[str, Any],
                 progress=None) -> dict[str, Any]:
        r, matches = provenance["round"], self.cfg.matches
        specs = []
        for opponent in self.eval_opponents:
            for g in range(matches.eval_games):
                policies, players = self._seating(g, opponent, player_name(r))
                specs.append(EpisodeSpec(id=f"r{r}/eval/{opponent}/{g}", env_id=self.cfg.env,
                                         seed=HELDOUT_SEED_BASE + g, policies=policies, stream=f"eval/{opponent}/{g}",
                                         tags={"stage": "eval", "opponent": opponent, "players": players}))
        if progress is not None:
            progress.start(len(specs))
        greedy = model.policy(SamplingParams(temperature=0.0, max_new_tokens=self.cfg.eval.max_new_tokens))
        policies = {TRAINED: greedy, **{name: self._eval_player(name, greedy if r == 0 else None)
                                        for name in self.eval_opponents}}
        episodes = run_missing(specs, policies, provenance, store, "eval", progress,
                               seed=derive_seed(self.cfg.seed, "eval"),
                               max_failures=int(self.cfg.rollout.max_failed_fraction * len(specs)))
        by_opponent = results_by_opponent(episodes)
        first = by_opponent.get(self.eval_opponents[0], {})
        columns: dict[str, Any] = {f"vs {name} w/d/l %": "/".join(f"{100 * v[k]:.0f}" for k in ("win", "draw", "loss"))
                                   for name, v in by_opponent.items()}
        columns["illegal %"] = illegal_rate(episodes)
        measured = self._measures(episodes)
        columns.update({f"{name.replace('_', ' ')} %": v for name, v in measured.get("measures", {}).items()})
        rating = rate(store.matches()).get(player_name(r))
        return {"vs": by_opponent, "columns": columns, "failed": sum(bool(e.error) for e in episodes),
                "rating": rating, **measured,
                "score": first.get("mean_reward", 0.0), "score_name": f"mean reward vs {self.eval_opponents[0]}"}


    def _eval_player(self, name: str, base: Policy | None):
        """An evaluation opponent: the base model or a served model (greedy, as the judged policy; `base`
        where the judged policy is the base model itself) or a scripted player."""
        greedy = SamplingParams(temperature=0.0, max_new_tokens=self.cfg.eval.max_new_tokens)
        if name == BASE:
            return base or load_run_model(self.cfg, self.cfg.model, resolve_dtype(self.cfg.backend.dtype)[0]).policy(greedy)
        server = served_name(name)
        if server is None:
            return POLICIES.make(name)
        return served_model(self.cfg.servers, server).policy(greedy)


def illegal_rate(episodes: Sequence[Episode]) -> float:
    """The share of the trained policy's turns that were illegal."""
    turns = [t for e in episodes for t in e.turns if e.policies[t.seat] == TRAINED]
    return sum(not t.legal for t in turns) / len(turns) if turns else 0.0


def result(rewards: Sequence[float], seat: int) -> str:
    """"win", "draw" or "loss" of `seat`: its reward above every other seat's, equal to the best of
    them, or below one. In a zero-sum game that is the reward's sign; in bargaining or a matrix game,
    where both can gain, an agreement that leaves a seat the smaller share is its loss."""
    best_other = max(r for s, r in enumerate(rewards) if s != seat)
    return "win" if rewards[seat] > best_other else "draw" if rewards[seat] == best_other else "loss"


def results_by_opponent(episodes: Sequence[Episode]) -> dict[str, dict[str, float]]:
    """Win, draw and loss rates (overall and per seat: in games of roles, each role's; see `result`),
    mean reward and illegal-move rate of the trained policy per opponent."""
    groups: dict[str, list[Episode]] = defaultdict(list)
    for e in episodes:
        if e.has_outcome:
            groups[e.tags["opponent"]].append(e)
    results = {}
    for opponent, games in sorted(groups.items()):
        by_seat, outcomes_by_seat = defaultdict(list), defaultdict(list)
        for e in games:
            seat = e.seats_of(TRAINED)[0]
            by_seat[seat].append(e.rewards[seat])
            outcomes_by_seat[seat].append(result(e.rewards, seat))
        rewards = [x for seat in by_seat for x in by_seat[seat]]
        outcomes = [o for seat in outcomes_by_seat for o in outcomes_by_seat[seat]]
        results[opponent] = {"games": len(games), **{k: outcomes.count(k) / len(games) for k in ("win", "draw", "loss")},
                             "mean_reward": sum(rewards) / len(games), "illegal_rate": illegal_rate(games),
                             "mean_reward_by_seat": {seat: sum(x) / len(x) for seat, x in sorted(by_seat.items())},
                             "win_by_seat": {seat: x.count("win") / len(x) for seat, x in sorted(outcomes_by_seat.items())}}
    return results
