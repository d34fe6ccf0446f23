"""tictactoe-v1: two seats on a 3×3 board; seat 0 plays X and moves first.

Each turn the seat to act sees the board with the free cells numbered 1–9 and the list of legal
moves, and replies with one cell number (read strictly, see sparring/envs/games.py, which also
holds the rule for illegal moves). Rewards: +1 for three in a row, −1 for the other seat, 0 each for
a full board; a forfeit gives the offender −1 and the other seat +1.
"""

from __future__ import annotations

import random

from sparring.envs.games import Game

LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))
MARKS = "XO"


def winner(board: tuple[str, ...]) -> str | None:
    for a, b, c in LINES:
        if board[a] != " " and board[a] == board[b] == board[c]:
            return board[a]
    return None


def render(board: tuple[str, ...]) -> str:
    cells = [mark if mark != " " else str(i + 1) for i, mark in enumerate(board)]
    rows = [" " + " | ".join(cells[r * 3:r * 3 + 3]) for r in range(3)]
    return "\n---+---+---\n".join(rows)


class TicTacToe(Game):
    vocabulary = {str(i): str(i) for i in range(1, 10)}
    rules = "Let's play tic-tac-toe."
    legal_label = "Free cells"
    ask = "Which cell do you take? Answer with one number only."

    def start(self, rng: random.Random) -> None:
        self.board = (" ",) * 9

    def to_act(self) -> int:
        return sum(mark != " " for mark in self.board) % 2

    def legal_moves(self) -> list[str]:
        return [str(i + 1) for i, mark in enumerate(self.board) if mark == " "]

    def apply(self, move: str) -> None:
        i = int(move) - 1
        self.board = self.board[:i] + (MARKS[self.to_act()],) + self.board[i + 1:]

    def view(self, seat: int) -> str:
        return f"You are {MARKS[seat]}. The board (free cells are numbered):\n{render(self.board)}"

    def state(self, seat: int) -> tuple:
        return (self.board, MARKS[seat])

    def outcome(self) -> tuple[float, ...] | None:
        won = winner(self.board)
        if won is not None:
            return (1.0, -1.0) if won == "X" else (-1.0, 1.0)
        return (0.0, 0.0) if " " not in self.board else None
