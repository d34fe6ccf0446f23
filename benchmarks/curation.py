"""The default arithmetic run with and without B-STaR's balance mode and dedup, side by side.

Runs (or, where `--out` already holds some, finishes) four runs of CONFIG as one comparison
(sparring/compare.py): dedup on (the default), dedup off, balance mode on, and both changed. Prints
the comparison's table (held-out accuracy per round, gain, cost), then per run and round: the
diversity of the generated answers (distinct-2, compression ratio, Vendi), B-STaR's exploration and
exploitation (pass@k, distinct correct answers per problem, precision, balance), the temperature it
sampled at, and the episodes the curate stage dropped by reason.

    .venv/bin/python benchmarks/curation.py examples/arithmetic.toml [--out DIR] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sparring.cli import _quiet_libraries
from sparring.comparison import compare, device_unit, tables
from sparring.rundir import RunDir

VARIANTS = {
    "dedup": [],
    "no-dedup": ["curate.dedup=false"],
    "balance": ["balance.enabled=true"],
    "balance-no-dedup": ["balance.enabled=true", "curate.dedup=false"],
}


def number(x, fmt: str = "{:.3f}") -> str:
    return "-" if x is None else fmt.format(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"some of {', '.join(VARIANTS)}")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args()
    _quiet_libraries()
    console = Console()
    runs = {name: VARIANTS[name] for name in args.variants.split(",")}
    out = args.out or Path("runs") / f"curation-bench-{datetime.now():%Y%m%d-%H%M%S}"
    started = time.time()
    summaries = compare(args.config, runs, out, args.overrides,
                        resume=any((out / name / "config.toml").exists() for name in runs), console=console)
    console.print(*tables(summaries, device_unit()))
    curves = Table(title="per round: diversity of the answers, exploration/exploitation (B-STaR), curation")
    for col in ("run", "round", "T", "pass %", "distinct-2", "gzip ratio", "vendi", "pass@k", "uniq correct",
                "precision", "balance", "rows", "dropped"):
        curves.add_column(col, justify="right")
    for name in runs:
        run_dir = RunDir(out / name)
        for r in range(1, run_dir.config().rounds + 1):
            m = run_dir.metrics(r)
            (diversity, quality), = ((q["diversity"], q["quality"]) for q in m["qdc"].values())
            b = m["balance"]
            dropped = ", ".join(f"{k} {v}" for k, v in m["curate"]["dropped"].items()) or "-"
            curves.add_row(name, str(r), f"{m['rollout']['temperature']:.2f}", number(quality["pass_rate"], "{:.1%}"),
                           number(diversity["distinct_2"]), number(diversity["compression_ratio"]),
                           number(diversity["vendi"], "{:.2f}"), number(b["pass_at_k"]),
                           number(b["unique_correct"], "{:.2f}"), number(b["precision"]), number(b["balance"]),
                           str(m["dataset"]["rows"]), dropped)
    console.print(curves)
    console.print(f"{len(runs)} runs in {(time.time() - started) / 60:.1f} min (wall, this invocation)")


if __name__ == "__main__":
    main()
