"""Scripted policies: players that need no model (opponents, anchors of a league, baselines)."""

from __future__ import annotations

import functools
import random
from typing import Any, Callable, Sequence

from sparring.types import Completion, TurnRequest


def scripted_completion(text: str) -> Completion:
    return Completion(text=text, token_ids=(), finish_reason="stop")


class RandomLegal:
    """Plays a uniformly random legal action: works in every env whose requests list `legal_actions`."""

    def act(self, requests: Sequence[TurnRequest], seeds: Sequence[int] | None) -> list[Completion]:
        answers = []
        for i, request in enumerate(requests):
            if not request.legal_actions:
                raise ValueError("random-legal needs requests that list legal_actions; this env does not")
            rng = random.Random(None if seeds is None else seeds[i])
            answers.append(scripted_completion(rng.choice(request.legal_actions)))
        return answers

    def provenance(self) -> dict[str, Any]:
        return {"kind": "scripted", "name": "random-legal"}


class SeedProposer:
    """A proposer that needs no model: it writes back one of the env's own seed problems that its
    prompt shows (`state`), drawn with the turn's seed: the fixed curriculum, played as proposals."""

    def act(self, requests: Sequence[TurnRequest], seeds: Sequence[int] | None) -> list[Completion]:
        answers = []
        for i, request in enumerate(requests):
            if not request.state:
                raise ValueError("seed-proposer needs a proposer env's request (its seed problems as state)")
            rng = random.Random(None if seeds is None else seeds[i])
            answers.append(scripted_completion(f"Problem: {rng.choice(request.state)}"))
        return answers

    def provenance(self) -> dict[str, Any]:
        return {"kind": "scripted", "name": "seed-proposer"}


class TicTacToeMinimax:
    """Perfect tic-tac-toe: among the moves with the best game-theoretic value, a seeded random one."""

    game = "tictactoe"  # the strong player of this game: a games run is judged against it by default

    def act(self, requests: Sequence[TurnRequest], seeds: Sequence[int] | None) -> list[Completion]:
        answers = []
        for i, request in enumerate(requests):
            board, mark = request.state
            best = max(_minimax_value(_play(board, move, mark), _other(mark), mark) for move in request.legal_actions)
            choices = [m for m in request.legal_actions if _minimax_value(_play(board, m, mark), _other(mark), mark) == best]
            answers.append(scripted_completion(random.Random(None if seeds is None else seeds[i]).choice(choices)))
        return answers

    def provenance(self) -> dict[str, Any]:
        return {"kind": "scripted", "name": "tictactoe-minimax"}


def _other(mark: str) -> str:
    return "O" if mark == "X" else "X"


def _play(board: tuple[str, ...], move: str, mark: str) -> tuple[str, ...]:
    i = int(move) - 1
    return board[:i] + (mark,) + board[i + 1:]


@functools.cache
def _minimax_value(board: tuple[str, ...], to_move: str, me: str) -> int:
    """+1 if `me` wins with perfect play from here, 0 for a draw, -1 for a loss."""
    from sparring.envs.tictactoe import winner

    won = winner(board)
    if won is not None:
        return 1 if won == me else -1
    free = [str(i + 1) for i, cell in enumerate(board) if cell == " "]
    if not free:
        return 0
    values = [_minimax_value(_play(board, move, to_move), _other(to_move), me) for move in free]
    return max(values) if to_move == me else min(values)


class KuhnEquilibrium:
    """A Nash equilibrium of Kuhn poker (Kuhn, 1950), with bluffing parameter alpha = 1/6.

    First to act: J bets with probability alpha, else checks and folds to a bet; Q checks and calls
    a bet with probability alpha + 1/3; K bets with probability 3 alpha, else checks and calls.
    Second: facing a bet, K calls, Q calls with probability 1/3, J folds; facing a check, K bets,
    Q checks, J bets with probability 1/3. Against it the first seat's value is -1/18 chip a hand.
    """

    game = "kuhn-poker"

    alpha = 1 / 6

    def act(self, requests: Sequence[TurnRequest], seeds: Sequence[int] | None) -> list[Completion]:
        answers = []
        for i, request in enumerate(requests):
            card, history, seat = request.state
            rng = random.Random(None if seeds is None else seeds[i])
            p_aggressive = self._aggression(card, history)
            if history and history[-1] == "bet":
                move = "call" if rng.random() < p_aggressive else "fold"
            else:
                move = "bet" if rng.random() < p_aggressive else "check"
            answers.append(scripted_completion(move))
        return answers

    def _aggression(self, card: str, history: tuple[str, ...]) -> float:
        """The probability of betting (or, facing a bet, of calling) with `card` after `history`."""
        a = self.alpha
        table = {
            (): {"J": a, "Q": 0.0, "K": 3 * a},                       # first seat opens
            ("check", "bet"): {"J": 0.0, "Q": a + 1 / 3, "K": 1.0},   # first seat faces a bet
            ("bet",): {"J": 0.0, "Q": 1 / 3, "K": 1.0},               # second seat faces a bet
            ("check",): {"J": 1 / 3, "Q": 0.0, "K": 1.0},             # second seat after a check
        }
        return table[history][card]

    def value_against(self, strategy: Callable[[str, tuple[str, ...]], str | None]) -> tuple[float, float]:
        """The exact chips a hand that the pure `strategy` (card, history → move; None: an illegal
        reply, a forfeit of 2 chips) earns against this player, as first seat and as second: every
        deal and every branch of this player's mixing, weighted by its probability. 200 sampled hands
        measure it only to ±0.1 chip (the standard error), too coarse for a gap of 0.02 to the value."""
        from sparring.envs.kuhn_poker import CARDS, KuhnPoker

        def walk(game: KuhnPoker, seat: int) -> float:
            outcome = game.outcome()
            if outcome is not None:
                return outcome[seat]
            legal = game.legal_moves()
            if game.to_act() == seat:
                move = strategy(game.cards[seat], game.history)
                return walk(_after(game, move), seat) if move in legal else -2.0
            aggressive, passive = ("call", "fold") if "call" in legal else ("bet", "check")
            p = self._aggression(game.cards[1 - seat], game.history)
            return p * walk(_after(game, aggressive), seat) + (1 - p) * walk(_after(game, passive), seat)

        def dealt(cards: tuple[str, str]) -> KuhnPoker:
            game = KuhnPoker()
            game.cards, game.history = cards, ()
            return game

        deals = [(a, b) for a in CARDS for b in CARDS if a != b]
        first, second = (sum(walk(dealt(cards), seat) for cards in deals) / len(deals) for seat in (0, 1))
        return first, second

    def provenance(self) -> dict[str, Any]:
        return {"kind": "scripted", "name": "kuhn-equilibrium", "alpha": self.alpha}


class MatrixNash:
    """A 2×2 matrix game's equilibrium player: its move in a pure Nash equilibrium (of two, the one
    that pays it more), else its maximin move (the move whose worst payoff is best)."""

    game = "matrix-2x2"

    def act(self, requests: Sequence[TurnRequest], seeds: Sequence[int] | None) -> list[Completion]:
        from sparring.envs.matrix_games import pure_nash

        answers = []
        for request in requests:
            payoffs, seat, _ = request.state

            def mine(move: int, other: int) -> int:
                return payoffs[move * 2 + other if seat == 0 else other * 2 + move][seat]

            equilibria = pure_nash(payoffs)
            if equilibria:
                move = max(equilibria, key=lambda cell: payoffs[cell[0] * 2 + cell[1]][seat])[seat]
            else:
                move = max((0, 1), key=lambda m: min(mine(m, o) for o in (0, 1)))
            answers.append(scripted_completion(request.legal_actions[move]))  # the seat's moves, in order
        return answers

    def provenance(self) -> dict[str, Any]:
        return {"kind": "scripted", "name": "matrix-nash"}


class TitForTat:
    """The iterated prisoner's dilemma's classic: cooperates first, then plays what the other player
    played last."""

    game = "iterated-prisoners-dilemma"

    def act(self, requests: Sequence[TurnRequest], seeds: Sequence[int] | None) -> list[Completion]:
        answers = []
        for request in requests:
            _, seat, played = request.state
            answers.append(scripted_completion(request.legal_actions[played[-1][1 - seat]] if played else "cooperate"))
        return answers

    def provenance(self) -> dict[str, Any]:
        return {"kind": "scripted", "name": "tit-for-tat"}


class NegotiationTrader:
    """negotiation-v1: accepts an offer that gains it value and that it can pay; otherwise offers 1
    unit of the resource it values less for 2 of the one it values more (where it can), else passes."""

    game = "negotiation"

    def act(self, requests: Sequence[TurnRequest], seeds: Sequence[int] | None) -> list[Completion]:
        from sparring.envs.negotiation import offer_text

        answers = []
        for request in requests:
            seat, values, holdings, offer = request.state
            mine = holdings[seat]
            if offer is not None and offer[0] != seat:
                _, comes_in, goes_out = offer
                gain = sum(n * v for n, v in zip(comes_in, values)) - sum(n * v for n, v in zip(goes_out, values))
                if gain > 0 and all(have >= n for have, n in zip(mine, goes_out)):
                    answers.append(scripted_completion("[Accept]"))
                    continue
            low = 0 if values[0] < values[1] else 1
            gives, asks = [0, 0], [0, 0]
            gives[low], asks[1 - low] = 1, 2
            answers.append(scripted_completion(offer_text(tuple(gives), tuple(asks)) if mine[low] >= 1 else "I pass."))
        return answers

    def provenance(self) -> dict[str, Any]:
        return {"kind": "scripted", "name": "negotiation-trader"}


class BargainingConcession:
    """bargaining-v1's fixed-concession bargainer: proposing in round r it keeps 9,000 − 500·(r − 1)
    coins (never under half); it accepts an offer worth at least what it would keep by proposing
    next round, discounted one round."""

    game = "bargaining"

    @staticmethod
    def demand(r: int) -> int:
        from sparring.envs.bargaining import TOTAL

        return max(TOTAL // 2, 9_000 - 500 * (r - 1))

    def act(self, requests: Sequence[TurnRequest], seeds: Sequence[int] | None) -> list[Completion]:
        from sparring.envs.bargaining import DISCOUNT, TOTAL

        answers = []
        for request in requests:
            seat, history = request.state
            if history and history[-1][2] is None:  # an offer to answer
                r, given = len(history), TOTAL - history[-1][1]
                answers.append(scripted_completion("[Accept]" if given >= DISCOUNT * self.demand(r + 1) else "[Reject]"))
            else:
                answers.append(scripted_completion(f"[Offer: {self.demand(len(history) + 1)}]"))
        return answers

    def provenance(self) -> dict[str, Any]:
        return {"kind": "scripted", "name": "bargaining-concession"}


class TabooDefiner:
    """taboo-v1 with the dictionary: as attacker it gives the word's definition (the word masked); as
    defender it guesses the candidate whose definition shares the most words with the attacker's
    clues (of four letters or more), asking for more while none shares any before its last turn."""

    game = "taboo"

    def act(self, requests: Sequence[TurnRequest], seeds: Sequence[int] | None) -> list[Completion]:
        import re

        from sparring.envs.taboo import Taboo, definition

        answers = []
        for request in requests:
            seat, word, shown, said = request.state  # said: the messages so far, the attacker's first
            if seat == 0:
                answers.append(scripted_completion(f"It is {definition(word)}."))
                continue
            clues = {w for text in said[0::2] for w in re.findall(r"[a-z]{4,}", text.lower())}
            overlap = {c: len(clues & set(re.findall(r"[a-z]{4,}", definition(c).lower()))) for c in shown}
            best = max(shown, key=lambda c: overlap[c])
            last = len(said) + 1 >= Taboo.max_turns - 1
            answers.append(scripted_completion(f"Is it {best}?" if overlap[best] or last else "Tell me more."))
        return answers

    def provenance(self) -> dict[str, Any]:
        return {"kind": "scripted", "name": "taboo-definer"}


def _after(game, move: str):
    twin = game.clone()
    twin.apply(move)
    return twin
