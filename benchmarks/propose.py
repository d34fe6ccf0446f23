"""The model writing its own problems, beside rest-em on the fixed curriculum, at `make run`'s budget.

Runs of `examples/propose-arithmetic.toml` from the same base model, each 128 problems × 4 answers a
round: `fixed-curriculum` (task solo: the env's levels, as `make run`), the same with 192 problems a
round (`fixed-curriculum-same-tokens`: the tokens a proposing round spends), `untrained-proposer` (the
base model proposes, the solver trains), `trained-proposer` (the trained model proposes and learns
from its proposals' rewards), `trained-proposer-per-role` (the same, the proposer and the solver
each with its own checkpoint: the solver's is judged) and `trained-proposer-reinforce` (both roles
trained by reinforce with the group baseline, in place of rest-em). It prints the compare tables (held-out
accuracy per level and round, tokens, minutes) and, per round of each proposing run, what the
proposals looked like.

    .venv/bin/python benchmarks/propose.py [--out runs/propose] [--resume] [--seeds 0,1,2] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sparring.cli import _quiet_libraries
from sparring.comparison import compare, tables
from sparring.rundir import RunDir

CONFIG = Path("examples/propose-arithmetic.toml")
RUNS = {"fixed-curriculum": ["task='solo'", "rollout.problems_per_round=128", "rollout.samples_per_problem=4"],
        # the fixed curriculum given the tokens a proposing round spends (about 10,500 a round, measured:
        # the proposer's replies are long), so the comparison is at the same budget
        "fixed-curriculum-same-tokens": ["task='solo'", "rollout.problems_per_round=192", "rollout.samples_per_problem=4"],
        "untrained-proposer": ["propose.proposer='base'"],
        "trained-proposer": [],
        "trained-proposer-per-role": ["propose.policies='per-role'"],
        # a policy gradient keeps losses: a copied proposal scores below its prompt's other sample
        "trained-proposer-reinforce": ["recipe='reinforce'"]}


def proposal_table(name: str, run_dir: RunDir) -> Table:
    table = Table(title=f"{name}: the proposals per round (%, p̂ and reward as means)")
    for column in ("round", "count", "valid", "novel", "learnable", "known", "p̂", "reward", "ops 1/2/3/4+", "beyond L8",
                   "distinct so far", "rows"):
        table.add_column(column, justify="right")
    r = 1
    while run_dir.is_complete(r):
        m = run_dir.metrics(r)
        p = m["rollout"]["proposals"]
        pct = lambda x: "-" if x is None else f"{100 * x:.0f}"  # noqa: E731
        ops = p.get("operations", {})
        spread = "/".join(str(ops.get(str(k), 0)) for k in (1, 2, 3)) + f"/{sum(n for k, n in ops.items() if int(k) > 3)}"
        table.add_row(str(r), str(p["count"]), pct(p.get("valid")), pct(p.get("novel")), pct(p.get("learnable")), pct(p.get("known")),
                      pct(p.get("p_hat")), f"{p.get('reward', 0):+.2f}", spread, pct(p.get("beyond_levels")),
                      str(p.get("distinct_so_far", 0)), str(m["dataset"]["rows"]))
        r += 1
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/propose"))
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="a config override for every run")
    parser.add_argument("--runs", default=",".join(RUNS), help="which of the runs, comma-separated")
    parser.add_argument("--seeds", default="0", help="run seeds, comma-separated: each run once per seed (seed 0 "
                        "keeps the run's plain name)")
    args = parser.parse_args()
    _quiet_libraries()
    console = Console()
    seeds = [int(x) for x in args.seeds.split(",")]
    runs = {name + (f"-seed{seed}" if seed else ""): [*RUNS[name], f"seed={seed}"]
            for seed in seeds for name in args.runs.split(",")}
    summaries = compare(CONFIG, runs, args.out, args.overrides, args.resume, console)
    for table in tables(summaries):
        console.print(table)
    if len(seeds) > 1:
        console.print(seed_table(summaries, args.runs.split(","), seeds))
    for name in runs:
        if not name.startswith("fixed-curriculum"):
            console.print(proposal_table(name, RunDir(args.out / name)))


def seed_table(summaries, names: list[str], seeds: list[int]) -> Table:
    """Each run's last-round score per seed, their mean and the spread (max − min)."""
    last = {s["name"]: 100 * s["scores"][-1] for s in summaries}
    table = Table(title="last round's held-out accuracy (%) per seed")
    for column in ("run", *(f"seed {seed}" for seed in seeds), "mean", "max − min"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for name in names:
        scores = [last[name + (f"-seed{seed}" if seed else "")] for seed in seeds]
        table.add_row(name, *(f"{x:.1f}" for x in scores), f"{sum(scores) / len(scores):.1f}",
                      f"{max(scores) - min(scores):.1f}")
    return table


if __name__ == "__main__":
    main()
