"""propose-arithmetic-v0: one seat writes a new arithmetic problem for a solver.

The seat is shown, as its own earlier turns of a conversation, three problems of arithmetic-v0 at
distinct levels (of `seed_levels`, default all eight) drawn with the episode's seed, and problems the
solver recently failed and solved only sometimes (`failed`, `edge`: filled in by the task from the
previous round), each followed by what the student did and a request for another; it replies
'Problem: <expression>'. The expression is read by the bounded evaluator (sparring.envs.expressions):
the first admitted one that is not a problem the prompt shows (else the first admitted, marked
`copied`) ends the episode legally with reward 0 and its answer, canonical form, shape and size in `info`; the proposer's real reward needs the solver's
answers and the rest of the batch, so the task sets it after the solver has played (R-Zero's
learnability, sparring.tasks.propose). A reply with no admissible expression is an illegal action
that ends the episode with reward −1 (AZR's reward for an invalid proposal) and the reason recorded.
"""

from __future__ import annotations

import random
import re
from dataclasses import asdict
from typing import Sequence

from sparring.envs.arithmetic import ArithmeticEnv, evaluate, generate_problem, render
from sparring.envs.expressions import ExpressionLimits, Rejected, canonical, difficulty, literals, read_expression, shape
from sparring.types import Message, StepResult, TurnRequest

INVALID_REWARD = -1.0

PROPOSER_SYSTEM = "Be brief."
_LABELLED = re.compile(r"problem\s*:\s*(.+)", re.IGNORECASE)


ASK = "Write one arithmetic problem for a student: integers with + - * / % and parentheses. Reply with 'Problem: <expression>'."
AFTER_SEED = "Write another, different."
AFTER_FAILED = "The student failed it. Write another, different and easier."
AFTER_EDGE = "The student solved it only sometimes. Write another, different and as hard."


def proposer_messages(edge: Sequence[str], failed: Sequence[str], seeds: Sequence[str]) -> tuple[Message, ...]:
    """What the proposer is shown, as a conversation in which it already wrote each example: the env's
    own problems as seeds (always some, so the first round has examples), then problems the solver
    recently failed and solved only sometimes, each answered with what the student did and a request
    for another. Listed in one message, the 135M model copied a shown problem in 22-24% of its replies;
    as its own earlier turns, in 1-2% (benchmarks/prompts.py). The last problems shown are the ones it
    imitates most, so they are the edge problems."""
    if not seeds:
        raise ValueError("the proposer needs seed examples")
    turns = [*((p, AFTER_SEED) for p in seeds), *((p, AFTER_FAILED) for p in failed),
             *((p, AFTER_EDGE) for p in edge)]
    messages = [Message("system", PROPOSER_SYSTEM), Message("user", ASK)]
    for problem, follow_up in turns:
        messages += [Message("assistant", f"Problem: {problem}"), Message("user", follow_up)]
    return tuple(messages)


_SPAN = re.compile(r"[-(0-9][-+*/%() 0-9]*")
_OPERATOR = re.compile(r"\d\s*[-+*/%]")


def proposed_expressions(reply: str) -> list[str]:
    """The expressions a proposer's reply may mean, likeliest first: those on the line after its last
    'Problem:', then every other in the reply in order. An expression is a run of digits, operators
    and parentheses with an operator in it (so words, '=' and a full stop end it)."""
    labelled = _LABELLED.findall(reply)
    found = []
    for text in [*labelled[-1:], reply]:
        for span in _SPAN.findall(text):
            span = span.strip()
            if _OPERATOR.search(span) and span not in found:
                found.append(span)
    return found


class ProposeArithmetic:
    num_seats = 1
    solver_env = "arithmetic-v0"  # it poses an admitted proposal as `arithmetic-v0(problem=...)`
    reward_range = (INVALID_REWARD, 1.0)

    def __init__(self, edge: Sequence[str] = (), failed: Sequence[str] = (), seed_examples: int = 3,
                 seed_levels: Sequence[int] | None = None, limits: dict | None = None):
        self.seed_levels = ArithmeticEnv.levels if seed_levels is None else tuple(seed_levels)
        if (not self.seed_levels or not set(self.seed_levels) <= set(ArithmeticEnv.levels)
                or len(set(self.seed_levels)) < len(self.seed_levels)):
            raise ValueError(f"seed_levels must be distinct levels of arithmetic-v0 ({ArithmeticEnv.levels[0]}.."
                             f"{ArithmeticEnv.levels[-1]}), got {list(self.seed_levels)}")
        if not 1 <= seed_examples <= len(self.seed_levels):
            raise ValueError(f"seed_examples must be 1..{len(self.seed_levels)} (one problem per seed level), "
                             f"got {seed_examples}")
        self.edge, self.failed = list(edge), list(failed)
        self.seed_examples, self.limits = seed_examples, ExpressionLimits(**(limits or {}))
        self._request: TurnRequest | None = None
        self._shown: set[str] = set()  # canonical forms of the problems the prompt shows: copying one is not new

    def reset(self, seed: int) -> TurnRequest:
        rng = random.Random(seed)
        levels = sorted(rng.sample(self.seed_levels, self.seed_examples))
        problems = [generate_problem(level, rng) for level in levels]
        seeds = [render(e) for e in problems]
        self._shown = {canonical(e) for e in problems} | {canonical(e) for e in self._readable(self.edge + self.failed)}
        self._request = TurnRequest(0, proposer_messages(self.edge, self.failed, seeds), state=tuple(seeds))
        return self._request

    def _readable(self, problems: Sequence[str]) -> list:
        read = []
        for text in problems:
            try:
                read.append(read_expression(text, self.limits))
            except Rejected:  # a shown problem of another run's limits: shown, but not compared with
                pass
        return read

    def step(self, action_text: str) -> StepResult:
        if self._request is None:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        self._request = None
        candidates = proposed_expressions(action_text)
        admitted, rejected = [], None
        for text in candidates:
            try:
                admitted.append(read_expression(text, self.limits))
            except Rejected as r:
                rejected = rejected or r  # the likeliest candidate's reason is the one reported
        if not admitted:
            reason = rejected.reason if rejected else "no arithmetic expression in the reply"
            return StepResult(None, (INVALID_REWARD,), terminated=True, legal=False, reason=f"illegal: {reason}",
                              info={"proposal": candidates[0] if candidates else "", "rejected": reason})
        # A reply that restates the prompt's problems before writing its own ("The student solved: 3 + 4
        # ... Problem: 12 * 7") proposes the first one it did not copy; only a reply of copies is a copy.
        new = [e for e in admitted if canonical(e) not in self._shown]
        e = (new or admitted)[0]
        form = canonical(e)
        info = {"proposal": render(e), "answer": evaluate(e), "canonical": form, "shape": shape(e),
                "copied": not new,
                "literals": sorted(literals(e)), **asdict(difficulty(e))}
        return StepResult(None, (0.0,), terminated=True, legal=True, reason="proposed", info=info)
