"""kuhn-poker-v1: the smallest poker, two seats, imperfect information (each seat sees only its card).

A deck of J < Q < K; each seat antes 1 chip and gets one card. Seat 0 acts first: check or bet 1.
After a check, seat 1 checks (showdown) or bets; facing a bet, a seat calls (showdown) or folds.
At a showdown the higher card takes the pot. Rewards are chips won or lost: ±1 (antes only) or ±2
(a called bet). Moves are words: check, bet, call, fold (read strictly, see sparring/envs/games.py,
which also holds the rule for illegal moves; a forfeit costs the offender 2 chips, the most a hand
can lose). The game value for seat 0 under equilibrium play is −1/18 chip per hand.
"""

from __future__ import annotations

import random

from sparring.envs.games import Game

CARDS = "JQK"


class KuhnPoker(Game):
    reward_range = (-2.0, 2.0)
    vocabulary = {form: move for move, forms in {"check": "checks checked checking", "bet": "bets betting",
                                                 "call": "calls called calling", "fold": "folds folded folding"}.items()
                  for form in (move, *forms.split())}
    ask = "Which do you choose? Answer with one word."
    rules = ("Let's play a card game: each player antes 1 chip and gets one card; J < Q < K. You may check or "
             "bet 1 chip; facing a bet, call or fold. The higher card wins.")

    def start(self, rng: random.Random) -> None:
        self.cards = tuple(rng.sample(CARDS, 2))
        self.history: tuple[str, ...] = ()

    def determinize(self, seat: int, rng: random.Random) -> KuhnPoker:
        """A copy in which the other seat holds a card drawn from the two that `seat` does not hold
        (every history is possible with every deal, so each is consistent with what `seat` saw)."""
        twin = self.clone()
        other = rng.choice([card for card in CARDS if card != self.cards[seat]])
        twin.cards = tuple(self.cards[seat] if s == seat else other for s in range(2))
        return twin

    def to_act(self) -> int:
        return len(self.history) % 2

    def legal_moves(self) -> list[str]:
        return ["call", "fold"] if self.history and self.history[-1] == "bet" else ["check", "bet"]

    def apply(self, move: str) -> None:
        self.history += (move,)

    def view(self, seat: int) -> str:
        said = "; ".join(f"player {i % 2 + 1} {move}s" for i, move in enumerate(self.history)) or "nothing yet"
        return f"You are player {seat + 1} and you hold the {self.cards[seat]}. So far: {said}."

    def state(self, seat: int) -> tuple:
        return (self.cards[seat], self.history, seat)

    def outcome(self) -> tuple[float, ...] | None:
        h = self.history
        if h in (("check", "check"), ("bet", "call"), ("check", "bet", "call")):
            stake = 1.0 if h == ("check", "check") else 2.0
            high = 0 if CARDS.index(self.cards[0]) > CARDS.index(self.cards[1]) else 1
            return (stake, -stake) if high == 0 else (-stake, stake)
        if h == ("bet", "fold"):
            return (1.0, -1.0)
        if h == ("check", "bet", "fold"):
            return (-1.0, 1.0)
        return None
