"""What a checkpoint carries to reasoning-gym: greedy accuracy of the base model and of CHECKPOINT on
ten reasoning-gym tasks, side by side, the same held-out problems for both.

It scores as `sparring eval CHECKPOINT --env reasoning-gym/<task>` does (the same held-out sets and
the same reader), all tasks in one batched rollout per model. The default tasks are five close to
the default job's arithmetic (chain_sum, basic_arithmetic, products, decimal_chain_sum,
simple_equations), three number tasks in words (gcd, lcm, leg_counting) and two word tasks it never
trains on (letter_counting, spell_backward).

    .venv/bin/python benchmarks/reasoning_tasks.py runs/<make run's run>/rounds/6/checkpoint \
        [--tasks chain_sum,...] [--levels 1,2] [--n 40] [--max-new-tokens 64]
"""

# (This file is not named reasoning_gym.py: run as a script, it would shadow the reasoning_gym package.)
from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.table import Table

from sparring.cli import _quiet_libraries
from sparring.heldout import evaluate, heldout_set
from sparring.models import load_backend
from sparring.models.paths import DEFAULT_MODEL
from sparring.reports.console import progress_bar

TASKS = ("chain_sum", "basic_arithmetic", "products", "decimal_chain_sum", "simple_equations", "gcd", "lcm",
         "leg_counting", "letter_counting", "spell_backward")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a trained checkpoint (a run's rounds/<r>/checkpoint)")
    parser.add_argument("--base", default=DEFAULT_MODEL, help="the model it is compared with")
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated reasoning-gym task names")
    parser.add_argument("--levels", default="1,2", help="comma-separated levels of each task")
    parser.add_argument("--n", type=int, default=40, help="held-out problems per task and level")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args()
    _quiet_libraries()
    console = Console()
    levels = [int(x) for x in args.levels.split(",")]
    envs = [f"reasoning-gym/{task}" for task in args.tasks.split(",")]
    heldout = [item for env_id in envs for item in heldout_set(env_id, levels, args.n)]
    results = {}
    for name, model in (("base", args.base), ("checkpoint", args.checkpoint)):
        backend = load_backend("transformers", model)
        started = time.time()
        with progress_bar(console, f"evaluate {name}", len(heldout)) as bar:
            results[name] = evaluate(backend, heldout, args.max_new_tokens, {"run_id": "bench", "round": 0},
                                     on_finished=bar)["by_env"]
        console.print(f"{name} ({model}): {len(heldout)} problems in {time.time() - started:.0f} s")
        del backend

    table = Table(title=f"reasoning-gym, greedy accuracy %: levels {args.levels}, {args.n} problems per level, "
                        f"{args.max_new_tokens} new tokens at most")
    for column in ("task", "base", "checkpoint", "change"):
        table.add_column(column, justify="left" if column == "task" else "right")
    for env_id in envs:
        base, trained = (100 * results[name][env_id]["accuracy"] for name in ("base", "checkpoint"))
        table.add_row(env_id.removeprefix("reasoning-gym/"), f"{base:.1f}", f"{trained:.1f}", f"{trained - base:+.1f}")
    means = [100 * sum(results[name][e]["accuracy"] for e in envs) / len(envs) for name in ("base", "checkpoint")]
    table.add_row("mean", f"{means[0]:.1f}", f"{means[1]:.1f}", f"{means[1] - means[0]:+.1f}")
    console.print(table)
    console.print(f"checkpoint: {args.checkpoint}")


if __name__ == "__main__":
    main()
