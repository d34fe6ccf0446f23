"""Recipes side by side (`sparring compare`), with what their training did each round.

Runs (or, where `--out` already holds some, finishes) `sparring compare CONFIG --recipes ...`, prints
its table, then one row per recipe and round: rollout pass rate, training rows, the loss's first and
last step, and for the preference recipes DPO's reward margin, reward accuracy and the chosen and
rejected log-probabilities at the first and last step, which show whether the model learnt to tell
the pairs apart and whether it did so by raising the chosen answers or by lowering the rejected ones.

    .venv/bin/python benchmarks/compare.py examples/arithmetic.toml --recipes rest-em,dpo,spin [--out DIR]
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sparring.cli import _quiet_libraries
from sparring.comparison import compare, device_unit, recipe_runs, tables
from sparring.rundir import RunDir


def first_last(values: list[float] | None, fmt: str = "{:.2f}") -> str:
    return "-" if not values else f"{fmt.format(values[0])}→{fmt.format(values[-1])}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--recipes", required=True)
    parser.add_argument("--budget-tokens", type=int)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args()
    _quiet_libraries()
    console = Console()
    recipes = args.recipes.split(",")
    out = args.out or Path("runs") / f"compare-bench-{datetime.now():%Y%m%d-%H%M%S}"
    started = time.time()
    budget = [f"rollout.max_tokens_per_round={args.budget_tokens}"] if args.budget_tokens is not None else []
    summaries = compare(args.config, recipe_runs(recipes), out, [*args.overrides, *budget],
                        resume=any((out / r / "config.toml").exists() for r in recipes), console=console)
    console.print(*tables(summaries, device_unit()))
    curves = Table(title="what each round trained on and how training went (first→last step)")
    for col in ("recipe", "round", "pass %", "rows", "loss", "margin", "accuracy", "logp chosen", "logp rejected"):
        curves.add_column(col, justify="right")
    for recipe in recipes:
        run_dir = RunDir(out / recipe)
        for r in range(1, run_dir.config().rounds + 1):
            m = run_dir.metrics(r)
            train = m["train"]
            curves.add_row(recipe, str(r), f"{100 * m['rollout']['pass_rate']:.1f}", str(m["dataset"]["rows"]),
                           first_last(train["losses"]), first_last(train.get("rewards/margins")),
                           first_last(train.get("rewards/accuracies")), first_last(train.get("logps/chosen"), "{:.1f}"),
                           first_last(train.get("logps/rejected"), "{:.1f}"))
    console.print(curves)
    console.print(f"{len(recipes)} recipes in {(time.time() - started) / 60:.1f} min (wall, this invocation); "
                  f"runs in {out}/")


if __name__ == "__main__":
    main()
