"""Efficacy of the default job: held-out accuracy per level, round 0 (base model) vs the last round.

Runs `examples/arithmetic.toml` (the job `make run` runs) and prints, side by side, each round's
held-out accuracy per level (per env for a mixture of envs), the gain of the last round over round 0,
and the wall time. With --run-dir it reads a finished run instead (for instance the one `make run`
just wrote).

    .venv/bin/python benchmarks/efficacy.py [--config examples/arithmetic.toml] [--run-dir runs/<id>]
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sparring.cli import _quiet_libraries
from sparring.config import load_config
from sparring.rundir import RunDir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("examples/arithmetic.toml"))
    parser.add_argument("--run-dir", type=Path, help="summarise this finished run instead of running one")
    args = parser.parse_args()
    console = Console()
    wall = None
    if args.run_dir is None:
        _quiet_libraries()
        from sparring import loop

        cfg = load_config(args.config)
        run_dir = RunDir.create(Path("runs") / f"efficacy-{datetime.now():%Y%m%d-%H%M%S}", cfg)
        started = time.time()
        loop.run(cfg, run_dir, console)
        wall = time.time() - started
        run_dir.close()
    else:
        run_dir = RunDir(args.run_dir)  # read only: no lock taken, nothing written
        cfg = run_dir.config()
    history = [run_dir.metrics(r) for r in range(cfg.rounds + 1) if run_dir.is_complete(r)]
    first, last = history[0], history[-1]
    columns = list(first["eval"]["columns"])  # L1, L2, ... for one env; one per env for a mixture

    table = Table(title=f"held-out accuracy %, greedy, {cfg.eval.problems_per_level} problems per level ({run_dir.root})")
    table.add_column("level" if isinstance(cfg.env, str) else "env")
    for m in history:
        table.add_column(f"round {m['round']}", justify="right")
    table.add_column(f"gain r{last['round']} - r0", justify="right")
    for name in columns:
        accs = [m["eval"]["columns"][name] for m in history]
        table.add_row(name, *(f"{100 * a:.1f}" for a in accs), f"{100 * (accs[-1] - accs[0]):+.1f}")
    means = [m["eval"]["score"] for m in history]
    table.add_row("mean" if isinstance(cfg.env, str) else "weighted mean", *(f"{100 * a:.1f}" for a in means),
                  f"{100 * (means[-1] - means[0]):+.1f}")
    table.add_row("seconds", *(f"{sum(m['seconds'].values()):.0f}" for m in history), "")
    console.print(table)
    loop_seconds = sum(sum(m["seconds"].values()) for m in history)
    console.print(f"gain of the last round over round 0: {100 * (means[-1] - means[0]):+.1f} points "
                  f"({'mean over levels' if isinstance(cfg.env, str) else 'weighted mean over envs'} {', '.join(columns)}); stage time {loop_seconds / 60:.1f} min"
                  + (f"; wall time {wall / 60:.1f} min" if wall else ""))


if __name__ == "__main__":
    main()
