"""What every turn-based game shares: strict move reading and one rule for illegal moves.

**Reading a move.** A reply must name exactly one move of the game's vocabulary (its words, with
their inflections where a game lists them, and numbers, matched whole and case-blind): "I play 5" is 5; "5 or 7", or echoing the list of legal
moves, names several and is illegal, not its first move (a policy must not learn to game the
reader); a named move that is not legal now is illegal too.

**Illegal moves.** The seat is told why and asked again, up to `illegal_retries` times per turn
(default 1); one more illegal reply forfeits the game: the offender gets the game's forfeit
penalty, every other seat the win. Every illegal reply is recorded on its turn (`legal=False`, with
the reason) and counted per seat in the episode's info.

A game subclasses `Game` and says what is its own: the start position, whose turn it is, the legal
moves, applying a move, the view of one seat, and the outcome; a game whose moves are not a word
list (an offer in a negotiation) also says how a reply is read (`read`) and what the prompt offers
(`options`).
"""

from __future__ import annotations

import copy
import random
import re
from typing import Any, Mapping

from sparring.types import Message, StepResult, TurnRequest

_WORD = re.compile(r"\w+")


def read_move(text: str, vocabulary: Mapping[str, str]) -> tuple[str | None, str]:
    """(the one move `text` names, "") or (None, why it names no single move). `vocabulary` maps each
    word that names a move (lower case) to the move: "folding" and "fold" both name "fold"."""
    named = sorted({vocabulary[token] for token in _WORD.findall(text.lower()) if token in vocabulary})
    if len(named) == 1:
        return named[0], ""
    if not named:
        return None, "the reply names no move"
    return None, f"the reply names several moves ({', '.join(named)}); name exactly one"


class Game:
    """Base of the turn-based games: subclasses fill in the methods that raise NotImplementedError."""

    num_seats = 2
    reward_range = (-1.0, 1.0)
    vocabulary: Mapping[str, str] = {}  # word -> the move it names
    rules = ""  # what every seat is told first, each turn
    legal_label = "Legal moves"
    ask = "Which move do you make? Answer with one move only."

    def __init__(self, illegal_retries: int = 1):
        if illegal_retries < 0:
            raise ValueError("illegal_retries must be at least 0")
        self.illegal_retries = illegal_retries
        self._done = True

    # --- what each game defines -------------------------------------------------------------
    def start(self, rng: random.Random) -> None:
        raise NotImplementedError

    def to_act(self) -> int:
        raise NotImplementedError

    def legal_moves(self) -> list[str]:
        raise NotImplementedError

    def apply(self, move: str) -> None:
        raise NotImplementedError

    def view(self, seat: int) -> str:
        """What `seat` sees of the game now (its private information only)."""
        raise NotImplementedError

    def outcome(self) -> tuple[float, ...] | None:
        """Rewards per seat once the game is over, else None."""
        raise NotImplementedError

    def read(self, text: str) -> tuple[str | None, str]:
        """(the move a reply makes, "") or (None, why it is illegal): by default the reply names exactly
        one word of `vocabulary`, and that move is legal now."""
        move, why = read_move(text, self.vocabulary)
        if move is not None and move not in self.legal_moves():
            return None, f"{move} is not a legal move now"
        return move, why

    def options(self) -> str:
        """What the seat to act is told it may do: by default the list of its legal moves."""
        return f"{self.legal_label}: {', '.join(self.legal_moves())}."

    def state(self, seat: int) -> Any:
        """The structured view scripted players read (hashable); by default the text view."""
        return self.view(seat)

    def determinize(self, seat: int, rng: random.Random) -> Game:
        """A copy of the game in which what `seat` cannot see is drawn afresh from `rng`, consistent
        with what it has seen (tree search over a hidden-information game); by default a plain copy."""
        return self.clone()

    def heldout_index(self) -> int | None:
        """k where this episode's seed is the k-th evaluation seed (HELDOUT_SEED_BASE + k): a game that
        holds content out (matrix game types, taboo words) plays its k-th held-out item; None in training."""
        from sparring.heldout import HELDOUT_SEED_BASE  # evaluate imports the envs

        k = self.seed - HELDOUT_SEED_BASE
        return k if k >= 0 else None

    def forfeit(self, offender: int) -> tuple[float, ...]:
        lo, hi = self.reward_range
        return tuple(lo if seat == offender else hi for seat in range(self.num_seats))

    # --- the shared turn loop -----------------------------------------------------------------
    def clone(self) -> Game:
        """An independent copy of the game as it stands: positions and the moves made are immutable
        tuples, the illegal counts are copied."""
        twin = copy.copy(self)
        if not self._done:
            twin._illegal = list(self._illegal)
        return twin

    def reset(self, seed: int) -> TurnRequest:
        self.seed = seed  # see heldout_index
        self.moves: tuple[str, ...] = ()  # every legal move made, in order (a game's talk history)
        self.start(random.Random(seed))
        self._done = False
        self._retries = self.illegal_retries
        self._illegal = [0] * self.num_seats
        return self._request()

    def _request(self, why: str = "") -> TurnRequest:
        seat = self.to_act()
        retry = f"Your last reply was illegal: {why}.\n" if why else ""
        # One user message, no system message: the 135M default model answered far more often with a
        # legal move so (benchmarks/prompts.py measured the wordings).
        text = f"{retry}{self.rules} {self.view(seat)}\n{self.options()}\n{self.ask}"
        return TurnRequest(seat, (Message("user", text),), tuple(self.legal_moves()), self.state(seat),
                           position=self.clone())

    def _info(self) -> dict[str, Any]:
        return {"moves": list(self.moves), "illegal_by_seat": list(self._illegal)}

    def step(self, action_text: str) -> StepResult:
        if self._done:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        seat = self.to_act()
        move, why = self.read(action_text)
        zeros = (0.0,) * self.num_seats
        if move is None:
            self._illegal[seat] += 1
            if self._retries > 0:
                self._retries -= 1
                return StepResult(self._request(why), zeros, legal=False, reason=why, info=self._info())
            self._done = True
            return StepResult(None, self.forfeit(seat), terminated=True, legal=False,
                              reason=f"seat {seat} forfeits: {why}", info=self._info())
        self.apply(move)
        self.moves += (move,)
        self._retries = self.illegal_retries
        rewards = self.outcome()
        if rewards is not None:
            self._done = True
            return StepResult(None, rewards, terminated=True, reason="game over", info=self._info())
        return StepResult(self._request(), zeros, info=self._info())
