"""Lenient extraction of a final numeric answer from free model text."""

from __future__ import annotations

import re

_NUMBER = r"[-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_BOXED = re.compile(r"\\boxed\{\s*(" + _NUMBER + r")\s*\}")
_ANSWER = re.compile(r"answer\s*(?:is|:|=)?\s*[:=]?\s*\**\s*(" + _NUMBER + ")", re.IGNORECASE)
_ANY = re.compile(_NUMBER)


def parse_number(text: str) -> float | None:
    try:
        return float(text.replace(",", "").replace("−", "-"))
    except ValueError:
        return None


def extract_answer(text: str) -> float | None:
    """The final numeric answer in `text`, or None when it holds no number.

    Rules, in order; within a rule the last match wins:
      1. `\\boxed{42}`
      2. "Answer: 42", "answer is 42", "answer = 42" (any case, optional `**` bold)
      3. the last number anywhere in the text
    Numbers may carry a sign (`-` or `−`), thousands separators (`1,234`) and decimals (`12.0` == 12).
    """
    for pattern in (_BOXED, _ANSWER, _ANY):
        matches = pattern.findall(text)
        if matches:
            return parse_number(matches[-1])
    return None
