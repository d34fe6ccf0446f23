"""matrix-2x2-v1: one 2×2 game an episode, both seats choosing at once (TMGBench's game types).

**The games.** Each player ranks the four outcomes 1 (worst) to 4 (best), with no ties: 4!·4! = 576
payoff arrangements. Relabelling the row player's moves or the column player's gives the same game,
so the arrangements fall into the 144 ordinal game types of Robinson and Goforth (`GAME_TYPES`,
numbered 0–143; each presented in one of its four labellings). Their pure Nash equilibria are
computed exactly: 108 types have one, 18 none, 18 two.

**An episode.** Player 1 (seat 0) chooses up or down, player 2 (seat 1) left or right. Seat 0 is
asked first and seat 1 second, and neither sees the other's choice (the request of seat 1 says
nothing of seat 0's), so the moves are simultaneous. The payoffs are shown as a table or in words
(`phrasing`: "table", "words", or by default drawn per episode), so the consistency of a player
across phrasings can be measured. Moves are read strictly, with the one rule for illegal moves
(sparring/envs/games.py). Rewards: a payoff of rank 1–4 is −1, −1/3, +1/3, +1; a forfeit costs the
offender −1.5 (below any payoff) and gives the other +1.

**Held-out types.** Every fourth type of each equilibrium count is held out (35: 4 with no pure
equilibrium, 27 with one, 4 with two): episodes with seeds below `HELDOUT_SEED_BASE`
(sparring.heldout: training) draw one of the other 109 types, a labelling and a phrasing at random; from `HELDOUT_SEED_BASE` on (evaluation), the k-th seed past it plays held-out
type k // 4 (in turn), phrased as a table for k % 4 in {0, 1} and in words for {2, 3}, in one fixed
labelling per type, so the games task's evaluation, which seats the judged policy in seat g % 2 of
its g-th game, meets each held-out type in both phrasings from both seats.

**Measures** (`measures`, per round and at evaluation): the share of the judged policy's choices
that are a best response to the other seat's actual choice, the share of outcomes that are a pure
Nash equilibrium (among games that have one), and the share of (type, seat, opponent) pairs played
in both phrasings in which it chose the same move.
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from typing import Any, Sequence

from sparring.envs.games import Game
from sparring.stats import mean

ROWS, COLUMNS = ("up", "down"), ("left", "right")
PHRASINGS = ("table", "words")
Payoffs = tuple[tuple[int, int], ...]  # (row player's rank, column player's rank) per cell, cells row by row


def relabelled(payoffs: Payoffs, swap_rows: bool, swap_columns: bool) -> Payoffs:
    return tuple(payoffs[(r ^ swap_rows) * 2 + (c ^ swap_columns)] for r in (0, 1) for c in (0, 1))


def _labellings(payoffs: Payoffs) -> list[Payoffs]:
    return [relabelled(payoffs, a, b) for a in (False, True) for b in (False, True)]


def _game_types() -> tuple[Payoffs, ...]:
    ranks = list(itertools.permutations((1, 2, 3, 4)))
    canonical = {min(_labellings(tuple(zip(p, q)))) for p in ranks for q in ranks}
    return tuple(sorted(canonical))


def _held_out() -> tuple[int, ...]:
    """Every fourth type of each equilibrium count (none, one, two), so the held-out types mix them as
    all the types do: 4 + 27 + 4 = 35."""
    by_count = defaultdict(list)
    for t, payoffs in enumerate(GAME_TYPES):
        by_count[len(pure_nash(payoffs))].append(t)
    return tuple(sorted(t for types in by_count.values() for t in types[3::4]))


def pure_nash(payoffs: Payoffs) -> list[tuple[int, int]]:
    """The (row, column) cells where neither player gains by changing its move alone."""
    return [(r, c) for r in (0, 1) for c in (0, 1)
            if payoffs[r * 2 + c][0] > payoffs[(1 - r) * 2 + c][0] and payoffs[r * 2 + c][1] > payoffs[r * 2 + 1 - c][1]]


def best_responses(payoffs: Payoffs, seat: int, other_move: int) -> list[int]:
    """The moves of `seat` that earn it the most against the other seat's move `other_move`."""
    def mine(move: int) -> int:
        cell = move * 2 + other_move if seat == 0 else other_move * 2 + move
        return payoffs[cell][seat]
    best = max(mine(0), mine(1))
    return [m for m in (0, 1) if mine(m) == best]


GAME_TYPES = _game_types()
HELDOUT_TYPES = _held_out()
TRAIN_TYPES = tuple(t for t in range(len(GAME_TYPES)) if t not in HELDOUT_TYPES)


def reward(rank: int) -> float:
    return (rank - 2.5) / 1.5


def _table(payoffs: Payoffs, labels: tuple[tuple[str, str], tuple[str, str]]) -> str:
    cells = [f"{a}, {b}" for a, b in payoffs]
    (up, down), (left, right) = ([m.capitalize() for m in moves] for moves in labels)
    return ("Points (player 1, player 2), from 1 (worst) to 4 (best):\n"
            f"{'':<12}{left:<12}{right}\n{up:<12}{cells[0]:<12}{cells[1]}\n{down:<12}{cells[2]:<12}{cells[3]}")


def _points(n: int) -> str:
    return f"{n} point{'s' * (n != 1)}"


def _words(payoffs: Payoffs, labels: tuple[tuple[str, str], tuple[str, str]]) -> str:
    rows, columns = labels
    return " ".join(f"If player 1 plays {rows[r].capitalize()} and player 2 plays {columns[c].capitalize()}, player 1 "
                    f"gets {_points(payoffs[r * 2 + c][0])} and player 2 gets {_points(payoffs[r * 2 + c][1])}."
                    for r in (0, 1) for c in (0, 1)) + " Points go from 1 (worst) to 4 (best)."


def measures(episodes: Sequence, policy_id: str) -> dict[str, float | None]:
    """Best-response, Nash-outcome and cross-phrasing consistency shares of `policy_id`'s play over
    the finished, legal games of `episodes` (None where no game counts)."""
    best, nash, chosen = [], [], defaultdict(dict)
    for e in episodes:
        moves = e.info.get("moves", [])
        if not e.has_outcome or len(moves) != 2:
            continue  # failed, or forfeited: no outcome to judge
        payoffs = tuple(tuple(cell) for cell in e.info["payoffs"])
        choice = (ROWS.index(moves[0]), COLUMNS.index(moves[1]))
        if e.info["nash"]:
            nash.append([ROWS[choice[0]], COLUMNS[choice[1]]] in e.info["nash"])
        for seat in e.seats_of(policy_id):
            best.append(choice[seat] in best_responses(payoffs, seat, choice[1 - seat]))
            opponent = e.tags.get("opponent", "")
            chosen[(e.info["game_type"], str(payoffs), seat, opponent)][e.info["phrasing"]] = choice[seat]
    pairs = [by_phrasing for by_phrasing in chosen.values() if len(by_phrasing) == len(PHRASINGS)]

    return {"best_response": mean(best), "nash_outcome": mean(nash),
            "consistent": mean([len(set(by_phrasing.values())) == 1 for by_phrasing in pairs])}


class MatrixGame(Game):
    reward_range = (-1.5, 1.0)
    labels = (ROWS, COLUMNS)  # each player's moves
    vocabulary = {move: move for move in ROWS + COLUMNS}
    repeats = 1  # the game is played this many times in a row; the reward is the mean
    rules = ("Let's play a game for points: two players each choose a move at the same time, without seeing the "
             "other's choice. Each wants as many points as possible.")
    ask = "Which move do you choose? Answer with one word."
    measures = staticmethod(measures)  # the games task reports them per round and at evaluation

    def __init__(self, illegal_retries: int = 1, phrasing: str | None = None):
        super().__init__(illegal_retries)
        if phrasing not in (None, *PHRASINGS):
            raise ValueError(f"phrasing is one of {', '.join(PHRASINGS)} (or None: drawn per episode); got {phrasing!r}")
        self.phrasing_asked = phrasing

    def start(self, rng: random.Random) -> None:
        k = self.heldout_index()
        if k is not None:
            self.game_type = HELDOUT_TYPES[(k // 4) % len(HELDOUT_TYPES)]
            swaps = random.Random(f"matrix-2x2/{self.game_type}").randrange(4)
            phrasing = PHRASINGS[(k // 2) % 2]
        else:
            self.game_type, swaps, phrasing = rng.choice(TRAIN_TYPES), rng.randrange(4), rng.choice(PHRASINGS)
        self.payoffs = relabelled(GAME_TYPES[self.game_type], bool(swaps & 2), bool(swaps & 1))
        self.phrasing = self.phrasing_asked or phrasing
        self.choices: tuple[int, ...] = ()

    def to_act(self) -> int:
        return len(self.choices) % 2

    def legal_moves(self) -> list[str]:
        return list(self.labels[self.to_act()])

    def apply(self, move: str) -> None:
        self.choices += (self.labels[self.to_act()].index(move),)

    def _played(self) -> list[tuple[int, int]]:
        """The (row, column) choices of the plays both players have made."""
        return [(self.choices[i], self.choices[i + 1]) for i in range(0, len(self.choices) - 1, 2)]

    def view(self, seat: int) -> str:
        mine, theirs = self.labels[seat], self.labels[1 - seat]
        shown = _table(self.payoffs, self.labels) if self.phrasing == "table" else _words(self.payoffs, self.labels)
        text = (f"You are player {seat + 1}: you play {' or '.join(m.capitalize() for m in mine)}, and player "
                f"{2 - seat} plays {' or '.join(m.capitalize() for m in theirs)}.\n{shown}")
        if self.repeats > 1:  # only plays both have made: player 2 never sees player 1's pending choice
            done = self._played()
            text += (f"\nThe game is played {self.repeats} times; your points are the average. This is play "
                     f"{len(done) + 1}.")
            text += "".join(f"\nPlay {i}: player 1 chose {self.labels[0][r]}, player 2 chose {self.labels[1][c]}."
                            for i, (r, c) in enumerate(done, 1))
        return text

    def determinize(self, seat: int, rng: random.Random) -> MatrixGame:
        """A copy in which player 1's pending choice, which player 2 cannot see, is drawn afresh."""
        twin = self.clone()
        if seat == 1 and len(self.choices) % 2:
            twin.choices = self.choices[:-1] + (rng.randrange(2),)
        return twin

    def state(self, seat: int) -> tuple:
        return self.payoffs, seat, tuple(self._played())

    def outcome(self) -> tuple[float, ...] | None:
        if len(self.choices) < 2 * self.repeats:
            return None
        plays = self._played()
        return tuple(sum(reward(self.payoffs[r * 2 + c][s]) for r, c in plays) / len(plays) for s in (0, 1))

    def _info(self) -> dict[str, Any]:
        return {**super()._info(), "game_type": self.game_type, "phrasing": self.phrasing,
                "payoffs": [list(cell) for cell in self.payoffs],
                "nash": [[self.labels[0][r], self.labels[1][c]] for r, c in pure_nash(self.payoffs)]}


PRISONERS_DILEMMA: Payoffs = ((3, 3), (1, 4), (4, 1), (2, 2))  # cooperate/defect, ranked for each player


def cooperation(episodes: Sequence, policy_id: str) -> dict[str, float | None]:
    """An iterated prisoner's dilemma's measures over its finished games: the share of `policy_id`'s
    choices that cooperate, and the share of plays in which both players cooperated."""
    mine, both = [], []
    for e in episodes:
        moves = e.info.get("moves", [])
        if not e.has_outcome or len(moves) != 2 * IteratedPrisonersDilemma.repeats:
            continue  # failed or forfeited
        plays = list(zip(moves[0::2], moves[1::2]))
        both += [play == ("cooperate", "cooperate") for play in plays]
        mine += [play[seat] == "cooperate" for play in plays for seat in e.seats_of(policy_id)]
    return {"cooperation": mean(mine), "mutual_cooperation": mean(both)}


class IteratedPrisonersDilemma(MatrixGame):
    """The prisoner's dilemma played `repeats` = 5 times in a row by the same two players, each play
    simultaneous, every earlier play shown to both; the reward is the mean of the plays' rewards."""

    labels = (("cooperate", "defect"), ("cooperate", "defect"))
    vocabulary = {form: move for move, forms in {"cooperate": "cooperates cooperated cooperating",
                                                 "defect": "defects defected defecting"}.items()
                  for form in (move, *forms.split())}
    repeats = 5
    measures = staticmethod(cooperation)

    def start(self, rng: random.Random) -> None:
        self.payoffs = PRISONERS_DILEMMA
        self.game_type = GAME_TYPES.index(min(_labellings(PRISONERS_DILEMMA)))
        self.phrasing = self.phrasing_asked or rng.choice(PHRASINGS)
        self.choices = ()
