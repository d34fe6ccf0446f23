"""Malformed input of every kind ends in a clear message naming the problem, never a traceback."""

import pytest

from sparring.harness.malformed import CASES, try_all


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_malformed_input_is_a_clear_error(case, tmp_path, finished_tiny_run):
    report = try_all(tmp_path, finished_tiny_run, [case])
    assert report.tried == 1 and not report.tracebacks, report.tracebacks
    assert not report.wrong, report.wrong
