"""connect-four-v1: two seats drop discs into a 7-column, 6-row grid; seat 0 plays X and moves first.

Each turn shows the grid (top row first, `.` for empty) over the column numbers 1–7 and the list of
columns that are not full; a seat replies with one column number (read strictly, see
sparring/envs/games.py, which also holds the rule for illegal moves). Four in a row, column or
diagonal wins: +1, −1 for the other seat; a full grid is a draw (0 each).
"""

from __future__ import annotations

import random

from sparring.envs.games import Game

COLUMNS, ROWS = 7, 6
MARKS = "XO"


class ConnectFour(Game):
    vocabulary = {str(c): str(c) for c in range(1, COLUMNS + 1)}
    rules = "Let's play Connect Four: drop a disc into a column; four of your discs in a line win."
    ask = "Which column do you drop your disc into? Answer with one number only."

    def start(self, rng: random.Random) -> None:
        self.grid: tuple[tuple[str, ...], ...] = tuple(() for _ in range(COLUMNS))  # each column bottom-up

    def to_act(self) -> int:
        return sum(len(column) for column in self.grid) % 2

    def legal_moves(self) -> list[str]:
        return [str(c + 1) for c, column in enumerate(self.grid) if len(column) < ROWS]

    def apply(self, move: str) -> None:
        c = int(move) - 1
        self.grid = self.grid[:c] + (self.grid[c] + (MARKS[self.to_act()],),) + self.grid[c + 1:]

    def cell(self, c: int, r: int) -> str:
        return self.grid[c][r] if 0 <= c < COLUMNS and 0 <= r < len(self.grid[c]) else "."

    def view(self, seat: int) -> str:
        rows = [" ".join(self.cell(c, r) for c in range(COLUMNS)) for r in reversed(range(ROWS))]
        numbers = " ".join(str(c) for c in range(1, COLUMNS + 1))
        return f"You are {MARKS[seat]}. The grid:\n" + "\n".join(rows) + "\n" + numbers

    def state(self, seat: int) -> tuple:
        return (self.grid, MARKS[seat])

    def outcome(self) -> tuple[float, ...] | None:
        for c in range(COLUMNS):
            for r in range(len(self.grid[c])):
                mark = self.grid[c][r]
                for dc, dr in ((1, 0), (0, 1), (1, 1), (1, -1)):
                    if all(self.cell(c + i * dc, r + i * dr) == mark for i in range(4)):
                        return (1.0, -1.0) if mark == "X" else (-1.0, 1.0)
        return (0.0, 0.0) if not self.legal_moves() else None
