"""The league: every round's checkpoint joins a pool beside the base model and the scripted players.

Players are named by what they are: `base` (the run's starting model), `round-<r>` (the checkpoint
round r trained), or a registered scripted policy (`random-legal`, `tictactoe-minimax`, ...). Each
round's matchmaking (sparring/tasks/games.py) draws opponents from the pool; every game that names
its players is a match. The match log is the `matches` view of the run's episodes.sqlite, so it is
written with its episode, in the same transaction, and ratings can always be recomputed from it.

Ratings are openskill's Plackett-Luce, fitted over the log in a fixed order (round, rollout before
evaluation, game id), so a resumed run rates exactly as an uninterrupted one. A checkpoint enters
with its parent's mean and a wider uncertainty; games of a player against itself carry no
information about its rating and are not rated.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable

from sparring.types import id_order

BASE = "base"
_CHECKPOINT = re.compile(r"^round-([1-9][0-9]*)$")
_STAGE_ORDER = {"train": 0, "eval": 1}
# A new checkpoint's uncertainty: its parent's plus a third of a fresh player's (capped at a fresh
# player's), since one round of training may have moved it anywhere near its parent.
_WIDEN = 1 / 3


SERVED = "served:"


def served_name(name: str) -> str | None:
    """The server a player `served:<name>` is answered by ([servers.<name>]), or None for any other player."""
    return name.removeprefix(SERVED) if name.startswith(SERVED) else None


def player_name(r: int) -> str:
    """The pool name of the model after round r (round 0: the base model)."""
    return BASE if r == 0 else f"round-{r}"


def checkpoint_round(name: str) -> int | None:
    """The round whose checkpoint `name` is (0 for the base model), or None for a scripted player."""
    if name == BASE:
        return 0
    found = _CHECKPOINT.match(name)
    return int(found.group(1)) if found else None


def past_players(r: int, k: int) -> list[str]:
    """The checkpoints before the one that plays round r (which is round r-1's), newest first, at most k."""
    return [player_name(p) for p in range(r - 2, max(-1, r - 2 - k), -1)]


@dataclass(frozen=True)
class Match:
    id: str
    round: int
    stage: str
    players: tuple[str, ...]  # per seat
    rewards: tuple[float, ...]  # per seat
    illegal: tuple[int, ...]  # illegal replies per seat
    replies: tuple[int, ...]  # replies per seat

    def order(self) -> tuple:
        return self.round, _STAGE_ORDER.get(self.stage, 2), id_order(self.id)


def rate(matches: Iterable[Match]) -> dict[str, dict[str, float]]:
    """{player: {"mu", "sigma", "ordinal", "games"}} after every rated match, in log order."""
    from openskill.models import PlackettLuce

    model = PlackettLuce()
    ratings: dict[str, Any] = {}
    games: dict[str, int] = defaultdict(int)

    def rating(name: str):
        if name not in ratings:
            r = checkpoint_round(name)
            parent = ratings.get(player_name(r - 1)) if r else None
            ratings[name] = (model.rating(mu=parent.mu, sigma=min(model.sigma, parent.sigma + model.sigma * _WIDEN))
                             if parent is not None else model.rating())
        return ratings[name]

    for m in sorted(matches, key=Match.order):
        if len(set(m.players)) < 2:
            continue  # a player against itself
        teams = model.rate([[rating(p)] for p in m.players], scores=list(m.rewards))
        for name, [new] in zip(m.players, teams):
            ratings[name] = new
            games[name] += 1
    return {name: {"mu": r.mu, "sigma": r.sigma, "ordinal": r.ordinal(), "games": games[name]}
            for name, r in ratings.items()}


def standings(matches: list[Match]) -> list[dict[str, Any]]:
    """One row per player, best rated first: its rating, and per opponent its wins, draws and losses
    (a game counts as a win when the player's reward beats the opponent's); its illegal-reply rate."""
    ratings = rate(matches)
    results: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))
    illegal: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for m in matches:
        for seat, player in enumerate(m.players):
            illegal[player][0] += m.illegal[seat]
            illegal[player][1] += m.replies[seat]
            for other, opponent in enumerate(m.players):
                if opponent != player:
                    mine, theirs = m.rewards[seat], m.rewards[other]
                    results[player][opponent][0 if mine > theirs else 1 if mine == theirs else 2] += 1
    rows = []
    for player in set(ratings) | set(illegal):
        r = ratings.get(player, {"mu": None, "sigma": None, "ordinal": None, "games": 0})
        bad, replies = illegal[player]
        rows.append({"player": player, **r, "vs": {o: tuple(wdl) for o, wdl in sorted(results[player].items())},
                     "illegal_rate": bad / replies if replies else None})
    return sorted(rows, key=lambda row: (row["ordinal"] is None, -(row["ordinal"] or 0), row["player"]))
