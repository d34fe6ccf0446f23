"""Alarms: what a round's metrics say has gone wrong with the run's data or model, in words.

Raised after each round, printed in the console, stored in the round's metrics and shown in the
report. They warn and never stop the run; `promote = "if-better"` (sparring/loop.py) is what acts on
a worse checkpoint.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from sparring.sections import Section

WATCHED_DIVERSITY = ("distinct_2", "vendi")


class AlarmsConfig(Section):
    shapes = None

    diversity_drop: float = Field(0.25, gt=0, le=1, description=(
        "warn when distinct-2 or the Vendi score of the answers falls by more than this share from the last round"))
    saturated_pass_rate: float = Field(0.95, gt=0, le=1, description=(
        "warn when this share of the round's samples pass: little learning signal is left"))
    heldout_drop: float = Field(0.0, ge=0, description="warn when the held-out score falls by more than this "
                                                       "(0.02: two points)")


def alarms(previous: dict[str, Any] | None, current: dict[str, Any], cfg: AlarmsConfig) -> list[str]:
    """The alarms of round `current` given the round before it (None for round 0)."""
    found = []
    r = current["round"]
    for env_id, measures in current.get("qdc", {}).items():
        before = (previous or {}).get("qdc", {}).get(env_id, {}).get("diversity", {})
        for name in WATCHED_DIVERSITY:
            old, new = before.get(name), measures["diversity"].get(name)
            if old and new is not None and (old - new) / old > cfg.diversity_drop:
                found.append(f"round {r}: diversity fell on {env_id}: {name} {old:.3g} -> {new:.3g} "
                             f"(-{100 * (old - new) / old:.0f}%, alarm at -{100 * cfg.diversity_drop:.0f}%)")
        passed = measures["quality"].get("pass_rate")
        if passed is not None and passed >= cfg.saturated_pass_rate:
            found.append(f"round {r}: {100 * passed:.0f}% of the samples on {env_id} passed: little is left to learn "
                         "from; harder levels or problems give it a signal")
    if previous is not None:
        old, new = previous["eval"]["score"], current["eval"]["score"]
        if old is not None and new is not None and old - new > cfg.heldout_drop:
            found.append(f"round {r}: the {current['eval']['score_name']} fell: {100 * old:.1f} -> {100 * new:.1f}")
    return found
