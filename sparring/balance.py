"""Exploration and exploitation of a round (B-STaR, ../shared/METHODS.md), and the `balance` mode.

Per query (a problem and the seat the trained policy played), over its k samples:
  exploration   pass@k (some sample passed) and the number of distinct passing answers;
  exploitation  precision: the share of the selected samples (those the recipe built a training
                row from) that passed;
  balance       mean over queries of min(n_i / n*, 1) · n_i / N_i, where n_i is the number of
                distinct passing answers among the selected, N_i the number selected (0 when none).
A sample "passes" when its reward is above the middle of the env's reward range (a right answer, a
win). With `[balance] enabled = true`, each round first probes a small dev slice (fresh problems,
the levels the round plays) at every temperature of the grid, scores each temperature and selection
threshold by balance, and the round samples at the best temperature and selects with the best
threshold (rest-em's `min_reward`). The probe's episodes are stored (stage "probe").
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Any, Iterable, Sequence

from pydantic import Field

from sparring.curate import normalize, problem_of
from sparring.errors import SparringError
from sparring.policies import TRAINED
from sparring.qdc import answers_of
from sparring.sections import Section
from sparring.types import Episode

Query = tuple  # (env id, seed, level, seat)
Sample = tuple[str, bool, bool]  # (normalised answer, passed, selected)


class BalanceConfig(Section):
    shapes = "rollout"
    shapes_by_key = {"n_star": None}

    enabled: bool = Field(False, description="probe temperatures and thresholds before each round, keep the best")
    temperatures: list[float] = Field(default_factory=lambda: [0.5, 0.7, 0.9, 1.1], min_length=1,
                                      description="the sampling temperatures probed")
    thresholds: list[float] | None = Field(None, min_length=1, description=(
        "the selection thresholds (rest-em's min_reward) scored [default: the recipe's own]"))
    probe_episodes: int = Field(192, ge=1, description="episodes the probe may play per round, over every "
                                                       "temperature: problems = this / (temperatures × k)")
    n_star: int = Field(8, ge=1, description="n*: distinct correct answers per query worth full credit")


def check(cfg, recipe_cfg) -> None:
    """Fail before any work where `[balance]` asks for thresholds the recipe does not select by."""
    if cfg.balance.thresholds and not hasattr(recipe_cfg, "min_reward"):
        raise SparringError(f"balance.thresholds: {cfg.recipe} selects by no reward threshold (min_reward); leave "
                            "thresholds out and the probe picks the temperature alone")


def samples_by_query(episodes: Iterable[Episode], pass_line: dict[str, float], selected: set[str] | None = None,
                     threshold: float | None = None) -> dict[Query, list[Sample]]:
    """Every trained seat's sample of every episode with an outcome, by query. A sample is selected
    when its episode id is in `selected`; else when its reward reaches `threshold`; else when it passed."""
    queries: dict[Query, list[Sample]] = defaultdict(list)
    for e in episodes:
        if not e.has_outcome:
            continue
        answer = normalize("\n".join(answers_of(e)))
        for seat in e.seats_of(TRAINED):
            reward = e.rewards[seat]
            passed = reward > pass_line[e.env_id]
            chosen = e.id in selected if selected is not None else reward >= threshold if threshold is not None else passed
            queries[(*problem_of(e), seat)].append((answer, passed, chosen))
    return queries


def bstar_metrics(queries: dict[Query, list[Sample]], n_star: int) -> dict[str, float | int | None]:
    """pass@k, distinct passing answers per query, precision of the selection and the balance score."""
    if not queries:
        return {"queries": 0, "pass_at_k": None, "unique_correct": None, "precision": None, "balance": None}
    balance, passed_any, unique, chosen, chosen_right = 0.0, 0, 0, 0, 0
    for samples in queries.values():
        passed_any += any(ok for _, ok, _ in samples)
        unique += len({a for a, ok, _ in samples if ok})
        selected = [(a, ok) for a, ok, sel in samples if sel]
        n = len({a for a, ok in selected if ok})
        chosen += len(selected)
        chosen_right += sum(ok for _, ok in selected)
        if selected:
            balance += min(n / n_star, 1.0) * n / len(selected)
    return {"queries": len(queries), "pass_at_k": passed_any / len(queries), "unique_correct": unique / len(queries),
            "precision": chosen_right / chosen if chosen else None, "balance": balance / len(queries)}


def round_balance(episodes: Sequence[Episode], rows: Sequence[dict[str, Any]], pass_line: dict[str, float],
                  n_star: int) -> dict[str, Any]:
    """B-STaR's measures of a round: the selected samples are those a model-made row came from."""
    selected = {row["episode_id"] for row in rows if row.get("episode_id") and row.get("source", "model") == "model"}
    return bstar_metrics(samples_by_query(episodes, pass_line, selected), n_star)


def choose(probed: dict[float, Sequence[Episode]], thresholds: Sequence[float | None], pass_line: dict[str, float],
           n_star: int) -> dict[str, Any]:
    """The temperature and threshold of the highest balance (the first in grid order on ties), and
    every pair's score. A threshold of None selects the samples that passed (a recipe with no
    threshold of its own)."""
    grid = [{"temperature": t, "threshold": h,
             **bstar_metrics(samples_by_query(episodes, pass_line, threshold=h), n_star)}
            for t, episodes in probed.items() for h in thresholds]
    best = max(grid, key=lambda g: g["balance"] or 0.0)  # max keeps the first of equals
    return {"temperature": best["temperature"], "threshold": best["threshold"], "grid": grid}


def probe_specs(specs: Sequence, r: int, temperature_index: int, problems: int, seed_of) -> list:
    """A dev slice of the round's plan: its first `problems` problems (every sample of each), each
    given a fresh seed (`seed_of(problem)`), stored under stage "probe"."""
    firsts = list(dict.fromkeys(s.tags["problem"] for s in specs))[:problems]
    chosen = [s for s in specs if s.tags["problem"] in set(firsts)]
    return [dataclasses.replace(s, id=f"r{r}/probe/t{temperature_index}/{s.tags['problem']}/{s.tags['sample']}",
                                seed=seed_of(s.tags["problem"]), tags={**s.tags, "stage": "probe",
                                                                        "temperature_index": temperature_index})
            for s in chosen]

