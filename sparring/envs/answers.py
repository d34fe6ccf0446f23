"""Reading one final numeric answer from free model text, by a rule a researcher can predict.

The rule (table-tested in tests/envs/test_answers.py):

1. **An explicit final answer wins.** `\\boxed{X}` and "answer is X" / "Answer: X" / "answer = X" (any case,
   markdown `**` and `$` allowed around X) are answer statements. A statement's clause runs to the end
   of its sentence (a newline, or `.`, `!`, `?`, `;` before a space), or to the next statement. Its
   value is the number it starts with — "Answer: - 5" is -5 — and the clause may hold no other number
   ("Answer: 12, no wait, 13" and "Answer: 5 6 7" are unreadable); an equation "3 + 4 = 7" counts as
   its result. A marker whose clause holds no digit ("The answer is: let me see") is not a statement;
   one whose clause does not start with a well-formed number ("The answer is not 7", "Answer: 0x10",
   "Answer: 12,5") is unreadable.
2. **Without a statement**, the reply's value is its only distinct number, or else, when exactly one
   number follows its last '=', that number: a worked derivation ends in its result ("12 + 3 = 15").
   Any other reply that names several numbers ("5 or 6", "first 3 then 9") states no single answer.
3. Parenthesised asides ("12 (check: 12 - 5 = 7)") and percentages ("Confidence: 90%") are never
   candidates. Statements that disagree, or any unreadable statement, make the reply unreadable.

Numbers are plain decimals: an optional sign (`-` or `−`), digits with optional `,` thousands groups
(`1,234`) and an optional decimal part (`12.0` == 12). A number glued to letters or other digits is
not a number ("0x10", "1e1", "v1.2"). Unreadable replies give None, which envs treat as illegal.

Every pattern here is linear in the text's length (no nested or adjacent unbounded quantifiers that
can backtrack), so a 64 KB output is read in milliseconds whatever it holds.
"""

from __future__ import annotations

import bisect
import re

_NUMBER = re.compile(r"(?<![\w.,])[-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w]|[.,]\d)")
_ASIDE = re.compile(r"\([^()]*\)")
_PERCENT = re.compile(r"(?<![\w.,])[-−]?\d[\d,]*(?:\.\d+)?\s?%")
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_MARKER = re.compile(r"\banswer\b[ \t*]{0,8}(?:is\b|[:=])", re.IGNORECASE)
_CLAUSE_END = re.compile(r"\n|[.!?;](?=\s|$)")
_DIGIT = re.compile(r"\d")
_LEADING_SIGN = re.compile(r"^[\s*$]*([-−])\s(?=\d)")


def parse_number(text: str) -> float | None:
    try:
        return float(text.replace(",", "").replace("−", "-"))
    except ValueError:
        return None


def _plain(text: str) -> str:
    """`text` without the parts that never hold the answer: parenthesised asides and percentages."""
    return _PERCENT.sub(" ", _ASIDE.sub(" ", text))


def _value(text: str) -> float | None:
    """The single answer `text` states: its only distinct number, or the one number after its last '='."""
    plain = _plain(text)
    distinct = {parse_number(n) for n in _NUMBER.findall(plain)}
    if len(distinct) == 1:
        return distinct.pop()
    head, eq, tail = plain.rpartition("=")
    after = _NUMBER.findall(tail)
    return parse_number(after[0]) if distinct and eq and len(after) == 1 else None


_UNREADABLE = object()


def _statement(clause: str) -> float | None | object:
    """A marked clause's value; None when it holds no digit (then it is not a statement at all)."""
    if not _DIGIT.search(clause):
        return None
    plain = _plain(_LEADING_SIGN.sub(r"\1", clause))
    first = _NUMBER.search(plain)
    if first is None or plain[: first.start()].strip(" \t*$") != "":
        return _UNREADABLE  # digits, but not a clause that starts with a well-formed number
    value = _value(plain)
    return _UNREADABLE if value is None else value


def _statements(text: str) -> list[float | object]:
    boxed = list(_BOXED.finditer(text))
    boxed_starts = [m.start() for m in boxed]

    def inside_boxed(pos: int) -> bool:
        i = bisect.bisect_right(boxed_starts, pos) - 1
        return i >= 0 and pos < boxed[i].end()

    markers = [m for m in _MARKER.finditer(text) if not inside_boxed(m.start())]
    starts = sorted(boxed_starts + [m.start() for m in markers]) + [len(text)]
    clauses = [m.group(1) for m in boxed]
    for m in markers:
        limit = starts[bisect.bisect_right(starts, m.start())]  # the next statement starts a new clause
        end = _CLAUSE_END.search(text, m.end(), limit)
        clauses.append(text[m.end(): end.start() if end else limit])
    return [v for v in map(_statement, clauses) if v is not None]


def extract_answer(text: str) -> float | None:
    """The one final numeric answer `text` states (see the module docstring), or None."""
    statements = _statements(text)
    if not statements:
        return _value(text)
    if any(v is _UNREADABLE for v in statements) or len(set(statements)) > 1:
        return None
    return statements[0]
