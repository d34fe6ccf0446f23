"""Curriculum: each round, the difficulty mix that keeps the training pass rate inside a band.

A level is *mastered* when its latest measured pass rate is above the band, *too hard* when below,
*in band* otherwise, and *unknown* until a round has sampled it. Each round trains on every in-band
level plus `probes` probe levels: the easiest levels above them that are not mastered, so the mix
moves up as the model improves. With no in-band level, the probes start at the easiest non-mastered
level. With every level mastered, the hardest level is kept.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Mapping, Sequence

from sparring.policies import TRAINED
from sparring.types import Episode


def choose_levels(pass_rates: Mapping[int, float], levels: Sequence[int], band: tuple[float, float],
                  probes: int = 1) -> list[int]:
    lo, hi = band
    ordered = sorted(levels)
    in_band = [lv for lv in ordered if lv in pass_rates and lo <= pass_rates[lv] <= hi]
    floor = max(in_band) if in_band else float("-inf")
    above = [lv for lv in ordered if lv > floor and not pass_rates.get(lv, 0.0) > hi]
    return (in_band + above[:probes]) or [ordered[-1]]


def pass_rates_by_level(episodes: Iterable[Episode], policy_id: str = TRAINED) -> dict[int, float]:
    """Mean reward of the seats `policy_id` played, per difficulty level, over the episodes that have an
    outcome (failures and episodes cut by a cap are left out, as are episodes without a level)."""
    totals: dict[int, list[float]] = defaultdict(list)
    for e in episodes:
        if "level" in e.tags and e.has_outcome:
            totals[e.tags["level"]] += [e.rewards[seat] for seat in e.seats_of(policy_id)]
    return {lv: sum(rs) / len(rs) for lv, rs in sorted(totals.items()) if rs}


def latest_pass_rates(history: Iterable[Mapping[int, float]]) -> dict[int, float]:
    """Merge rounds' measurements, later rounds overriding earlier ones level by level."""
    merged: dict[int, float] = {}
    for rates in history:
        merged.update(rates)
    return merged
