import time

import pytest

from sparring.envs.answers import extract_answer


@pytest.mark.parametrize("text,expected", [
    # 1. an explicit final answer wins
    ("12 + 3 = 15\nAnswer: 15", 15),
    ("Answer: 15. Check: 15 - 3 = 12", 15),  # the statement's sentence ends at the period
    ("The answer is **-42**.", -42),
    ("**Answer:** 15", 15),
    ("**Answer**: $15$", 15),
    ("the final answer = 7", 7),
    ("Answer: - 5", -5),  # a sign may stand apart from its number right after the marker
    ("Answer: 15 (since 12 + 3 = 15)", 15),  # an aside inside the statement is not a candidate
    ("Answer: 3 + 4 = 7", 7),  # an equation states its result
    ("\\boxed{1,234}", 1234),
    ("We get \\boxed{7}. Answer: 7", 7),  # statements that agree
    ("Answer: 15\nI hope this helps with your 2 questions", 15),  # text after the statement is ignored
    ("The answer is: let me see. 3 + 4 = 7", 7),  # a marker without a digit is no statement
    # ... and statements that cannot be read, or disagree, make the reply unreadable
    ("The answer is not 7", None),
    ("Answer: 12, no wait, 13", None),
    ("Answer: 5 6 7 8 9", None),
    ("Answer: 12,5", None),
    ("Answer: 0x10", None),
    ("Answer: 5\nAnswer: 6", None),
    ("so \\boxed{1,234} and Answer: 7", None),
    ("answer: answer: 7", 7),  # the first marker's clause ends where the next begins, and holds no digit
    # 2. without a statement: the only number, or the result of the last equation
    ("We get 1,234,567 apples", 1234567),
    ("I think it is 42.", 42),
    ("12.0", 12),
    ("−8", -8),  # unicode minus
    ("12 + 3 = 15", 15),
    ("7 * 3 = 21\n21 + 4 = 25", 25),
    ("5 - 8 = -3", -3),
    ("12 (check: 12 - 5 = 7)", 12),  # 3. asides and percentages are never candidates
    ("12\nConfidence: 90%", 12),
    ("5 or 6", None),  # several candidates state no single answer
    ("3, 4 and 5", None),
    ("first 3 then 9", None),
    ("2 + 2 = 4 or 5", None),
    ("1e1", None),  # numbers are plain decimals
    ("version v1.2", None),
    ("no digits here", None),
    ("", None),
])
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


ADVERSARIAL = {
    "whitespace after a marker": "answer" + " " * 65_536 + "x",
    "markers without end": "answer: " * 8_192,
    "boxes without end": "\\boxed{" * 9_362,
    "open parentheses": "(" * 65_536,
    "a digit run glued to a letter": "1" * 65_535 + "x",
    "thousands groups glued to a letter": "1" + ",000" * 16_383 + "x",
    "percent signs and digits": "1 %" * 21_845,
    "equals signs": "= 1 " * 16_384,
}


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_reading_is_linear_in_the_length(name):
    """A 64 KB output is read in well under a second, whatever it holds (it took minutes before)."""
    text = ADVERSARIAL[name]
    assert len(text) >= 65_000
    started = time.perf_counter()
    extract_answer(text)
    assert time.perf_counter() - started < 0.5
