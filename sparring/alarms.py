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
    proposals_valid: float = Field(0.5, ge=0, le=1, description=(
        "task 'propose': warn when a smaller share of the round's proposals is admitted by the evaluator"))
    proposals_novel: float = Field(0.5, ge=0, le=1, description=(
        "task 'propose': warn when a smaller share of the admitted proposals is new to the run (it repeats itself)"))
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
    found += proposal_alarms(r, current.get("rollout", {}).get("proposals"), cfg)
    if previous is not None:
        old, new = previous["eval"]["score"], current["eval"]["score"]
        if old is not None and new is not None and old - new > cfg.heldout_drop:
            found.append(f"round {r}: the {current['eval']['score_name']} fell: {100 * old:.1f} -> {100 * new:.1f}")
    return found


def proposal_alarms(r: int, proposals: dict[str, Any] | None, cfg: AlarmsConfig) -> list[str]:
    """A proposer that writes few admissible problems, repeats itself, or drifts to problems its solver
    always solves (task 'propose')."""
    if not proposals or not proposals.get("count"):
        return []
    found = []
    valid, novel, p_hat = proposals["valid"], proposals["novel"], proposals["p_hat"]
    if valid < cfg.proposals_valid:
        reasons = "; ".join(f"{reason} ({n})" for reason, n in proposals["rejected"].items())
        found.append(f"round {r}: only {100 * valid:.0f}% of the proposals were admitted (alarm below "
                     f"{100 * cfg.proposals_valid:.0f}%); most often rejected: {reasons}")
    if novel is not None and novel < cfg.proposals_novel:
        found.append(f"round {r}: the proposer repeats itself: {100 * novel:.0f}% of its admitted proposals are new to "
                     f"the run (alarm below {100 * cfg.proposals_novel:.0f}%)")
    if p_hat is not None and p_hat >= cfg.saturated_pass_rate:
        found.append(f"round {r}: the proposals drifted to trivial: the solver answers {100 * p_hat:.0f}% of them right")
    return found
