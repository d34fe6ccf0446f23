"""Small numeric helpers shared by metrics and measures."""

from __future__ import annotations

from typing import Iterable


def mean(values: Iterable[float]) -> float | None:
    """The mean of `values` (booleans count as 0/1), or None where there are none: a rate over
    nothing is unknown, not zero."""
    values = list(values)
    return sum(values) / len(values) if values else None
