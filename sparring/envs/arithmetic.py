"""arithmetic-v0: procedural arithmetic problems at eight difficulty levels, checked exactly.

Levels (operands drawn uniformly from the private `random.Random(seed)`):
  1  a + b              one-digit operands
  2  a + b              two-digit operands
  3  a - b              two-digit operands (the result may be negative)
  4  a * b              one-digit times two-digit
  5  a + b or a - b     three-digit operands
  6  a * b              two-digit times two-digit
  7  a op b op c        two operations from +, -, * over one- and two-digit operands
  8  (a op b) op (c op d)   three operations, one- to three-digit operands

A `problem` (an expression another seat proposed, read by sparring.envs.expressions) replaces the
generator: every seed then asks that problem, and `level` is None.

Rules: the model's output is read with `extract_answer` (boxed, then "Answer: x", then the last
number). An output with no number is illegal. Reward 1 for the right answer, else 0. With
`max_attempts > 1` a wrong or illegal answer is answered with a request to try again, until the
attempts run out (reward 0, `terminated`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sparring.envs.answers import extract_answer
from sparring.types import Message, StepResult, TurnRequest

SYSTEM_PROMPT = "Be brief."  # short on purpose: SmolLM2's default system prompt is 26 tokens
TRY_AGAIN = "That is not right. Try again. End with 'Answer: <number>'."


@dataclass(frozen=True)
class Op:
    symbol: str
    left: "Expr"
    right: "Expr"


Expr = int | Op

_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "%": 2}
# "/" and "%" appear only in proposed expressions (sparring.envs.expressions), whose reader admits a
# division only where it is exact and a remainder only of a non-negative number by a positive one, so
# integer arithmetic gives the same value as school arithmetic.
_APPLY = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
          "/": lambda a, b: a // b, "%": lambda a, b: a % b}


def evaluate(e: Expr) -> int:
    if isinstance(e, int):
        return e
    return _APPLY[e.symbol](evaluate(e.left), evaluate(e.right))


def render(e: Expr, parent: str = "", right_side: bool = False) -> str:
    if isinstance(e, int):
        return str(e) if e >= 0 or not parent else f"({e})"
    p = _PRECEDENCE[e.symbol]
    text = f"{render(e.left, e.symbol)} {e.symbol} {render(e.right, e.symbol, True)}"
    # Parenthesise when a looser operation sits under a tighter one, on the right of - (a - (b + c)),
    # and on the right of or under / and % (a / (b * c), a * (b / c)): there the grouping changes the value.
    q = _PRECEDENCE.get(parent, 0)
    needs = p < q or (right_side and p == q and (q == 1 or "/" in parent + e.symbol or "%" in parent + e.symbol))
    return f"({text})" if needs else text


def worked_steps(e: Expr) -> list[str]:
    """One line per operation, innermost first: '7 * 3 = 21'."""
    if isinstance(e, int):
        return []
    steps = worked_steps(e.left) + worked_steps(e.right)
    steps.append(f"{evaluate(e.left)} {e.symbol} {evaluate(e.right)} = {evaluate(e)}")
    return steps


def _digits(rng: random.Random, lo: int, hi: int) -> int:
    return rng.randint(10 ** (lo - 1) if lo > 1 else 0, 10**hi - 1)


def generate_problem(level: int, rng: random.Random) -> Expr:
    ops = "+-*"
    if level == 1:
        return Op("+", _digits(rng, 1, 1), _digits(rng, 1, 1))
    if level == 2:
        return Op("+", _digits(rng, 2, 2), _digits(rng, 2, 2))
    if level == 3:
        return Op("-", _digits(rng, 2, 2), _digits(rng, 2, 2))
    if level == 4:
        return Op("*", rng.randint(2, 9), _digits(rng, 2, 2))
    if level == 5:
        return Op(rng.choice("+-"), _digits(rng, 3, 3), _digits(rng, 3, 3))
    if level == 6:
        return Op("*", _digits(rng, 2, 2), _digits(rng, 2, 2))
    if level == 7:
        a, b, c = (_digits(rng, 1, 2) for _ in range(3))
        inner, outer = rng.choice(ops), rng.choice(ops)
        return Op(outer, Op(inner, a, b), c) if rng.random() < 0.5 else Op(outer, a, Op(inner, b, c))
    if level == 8:
        a, b, c, d = (_digits(rng, 1, 3) for _ in range(4))
        return Op(rng.choice("+-"), Op(rng.choice(ops), a, b), Op(rng.choice(ops), c, d))
    raise ValueError(f"arithmetic level must be one of 1..8, got {level}")


class ArithmeticEnv:
    """One seat answers one procedural arithmetic problem (see the module docstring for rules)."""

    num_seats = 1
    reward_range = (0.0, 1.0)
    levels = tuple(range(1, 9))

    def __init__(self, level: int = 1, max_attempts: int = 1, problem: str | None = None):
        if level not in self.levels:
            raise ValueError(f"arithmetic level must be one of {self.levels[0]}..{self.levels[-1]}, got {level}")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        from sparring.envs.expressions import read_expression  # it builds on this module's Expr

        self.proposed = None if problem is None else read_expression(problem)  # Rejected (a ValueError) if not admitted
        self.level = None if problem is not None else level
        self.max_attempts = max_attempts
        self._problem: Expr | None = None
        self._messages: tuple[Message, ...] = ()
        self._attempts = 0
        self._done = True

    @property
    def problem(self) -> str:
        return render(self._problem)

    @property
    def answer(self) -> int:
        return evaluate(self._problem)

    def reset(self, seed: int) -> TurnRequest:
        self._problem = self.proposed if self.proposed is not None else generate_problem(self.level, random.Random(seed))
        self._messages = (
            Message("system", SYSTEM_PROMPT),
            Message("user", f"Compute {self.problem}. End with 'Answer: <number>'."),
        )
        self._attempts = 0
        self._done = False
        return TurnRequest(0, self._messages)

    def step(self, action_text: str) -> StepResult:
        if self._done:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        self._attempts += 1
        extracted = extract_answer(action_text)
        legal = extracted is not None
        correct = legal and extracted == self.answer
        info = {"level": self.level, "problem": self.problem, "answer": self.answer,
                "extracted": extracted, "attempt": self._attempts}
        if correct or self._attempts >= self.max_attempts:
            self._done = True
            reason = "correct" if correct else ("illegal: no number in the answer" if not legal else "wrong")
            return StepResult(None, (1.0 if correct else 0.0,), terminated=True, legal=legal, reason=reason, info=info)
        self._messages += (Message("assistant", action_text), Message("user", TRY_AGAIN))
        return StepResult(TurnRequest(0, self._messages), (0.0,), legal=legal, info=info)

    def reference_solution(self) -> str:
        return "\n".join([*worked_steps(self._problem), f"Answer: {self.answer}"])

    def clone(self) -> "ArithmeticEnv":
        twin = ArithmeticEnv(self.level or 1, self.max_attempts)
        twin.proposed, twin.level, twin._problem, twin._messages, twin._attempts, twin._done = (
            self.proposed, self.level, self._problem, self._messages, self._attempts, self._done)
        return twin
