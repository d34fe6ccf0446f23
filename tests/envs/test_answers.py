import pytest

from sparring.envs.answers import extract_answer


@pytest.mark.parametrize("text,expected", [
    ("12 + 3 = 15\nAnswer: 15", 15),
    ("Answer: 15. Check: 15 - 3 = 12", 15),  # the explicit answer wins over a later number
    ("The answer is **-42**.", -42),
    ("so \\boxed{1,234} and Answer: 7", 1234),  # boxed wins over "Answer:"
    ("We get 1,234,567 apples", 1234567),
    ("12.0", 12),
    ("−8", -8),  # unicode minus
    ("3, 4 and 5", 5),  # commas between numbers are not thousands separators
    ("first 3 then 9", 9),  # last number as a fallback
    ("no digits here", None),
    ("", None),
])
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected
