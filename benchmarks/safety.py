"""The safety harness at full size, printing the figures the README reports.

  kill      SIGKILL `sparring run` (tiny model; every registered recipe, and every env) at seeded points
            across every stage, resume, and compare with an uninterrupted run; and SIGKILL a Ray
            rollout worker of a run with rollout.workers = 2, which must finish by itself equal to
            the same run in one process
  fuzz      random model outputs per registered env (hypothesis), with the slowest read, and the
            time to read adversarial 64 KB outputs
  malformed the corpus of malformed inputs (sparring/harness/malformed.py): clear errors, no traceback

    .venv/bin/python benchmarks/safety.py [--kill-points 20] [--actions 10000] [--parts kill,fuzz,malformed]
                                          [--envs taboo-v1,matrix-2x2-v1]  (the kill cases on these envs only)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sparring.cli import _quiet_libraries
from sparring.envs import ENVS
from sparring.envs.answers import extract_answer
from sparring.harness.fuzz import MAX_LEN, fuzz_env
from sparring.harness.kill import harness_cases, kill_a_worker, kill_and_resume, tiny_run_settings
from sparring.harness.malformed import try_all
from sparring.models.tiny import build_tiny_model

ADVERSARIAL_64KB = {
    "whitespace after a marker": "answer" + " " * (MAX_LEN - 7) + "x",
    "markers without end": ("answer: " * MAX_LEN)[:MAX_LEN],
    "a digit run glued to a letter": "1" * (MAX_LEN - 1) + "x",
    "open parentheses": "(" * MAX_LEN,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kill-points", type=int, default=20)
    parser.add_argument("--actions", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parts", default="kill,fuzz,malformed", help="which checks to run, comma-separated")
    parser.add_argument("--envs", help="kill only the cases on these envs, comma-separated (and no worker kill)")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    _quiet_libraries()
    console = Console(width=150)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        tiny = str(build_tiny_model(scratch / "tiny"))

        if "kill" in parts:
            kill_table(scratch, tiny, args, console)
        if "fuzz" in parts:
            fuzz_tables(args, console)
        if "malformed" in parts:
            malformed(scratch, tiny, console)


def kill_table(scratch: Path, tiny: str, args, console: Console) -> None:
    table = Table(title=f"kill harness: {args.kill_points} SIGKILLs per recipe and env, tiny model, 2 rounds")
    columns = ("recipe", "env", "kills", "where they landed", "missed", "victims", "lost", "doubled",
               "equal to uninterrupted", "minutes")
    for col in columns:
        table.add_column(col)

    def add_row(*cells: str) -> None:  # each case's row printed as it ends too: the whole matrix takes an hour
        table.add_row(*cells)
        console.print(" | ".join(f"{col} {cell}" for col, cell in zip(columns, cells)))

    chosen = set(args.envs.split(",")) if args.envs else None
    for case, (recipe, env, extra) in enumerate(harness_cases()):
        if chosen is not None and env not in chosen:
            continue
        started = time.time()  # the case's number in the directory: rest-em runs on arithmetic-v0 three times
        report = kill_and_resume(scratch / f"kill-{case}-{recipe}-{env.replace('/', '-')}",
                                 tiny_run_settings(tiny, recipe, env, extra=extra),
                                 args.kill_points, seed=args.seed)
        places = Counter(where.split()[-1] for where in report.landed)
        add_row(" ".join((recipe, *extra)), env, str(report.kills), ", ".join(f"{k} {v}" for k, v in sorted(places.items())),
                str(report.missed), str(report.victims), str(report.episodes_lost),
                str(report.episodes_doubled), f"{report.equal_runs}/{report.victims}",
                f"{(time.time() - started) / 60:.1f}")
        for difference in report.differences[:5]:
            console.print(f"[red]difference:[/] {difference}")
    if chosen is not None:
        console.print(table)
        return
    started = time.time()  # a Ray rollout worker killed, not the run: it must finish by itself
    report = kill_a_worker(scratch / "kill-worker", tiny_run_settings(tiny))
    add_row("rest-em rollout.workers=2 (a worker killed)", "arithmetic-v0", str(report.kills),
            ", ".join(report.landed), str(report.missed), str(report.victims), str(report.episodes_lost),
            str(report.episodes_doubled), f"{report.equal_runs}/{report.victims}",
            f"{(time.time() - started) / 60:.1f}")
    console.print(table)


def fuzz_tables(args, console: Console) -> None:
    table = Table(title=f"fuzzing: {args.actions} random outputs per env (hypothesis)")
    for col in ("env", "actions", "episodes", "slowest read ms", "its length", "failed in the game's own code", "seconds"):
        table.add_column(col)
    examples = []
    for env_id in ENVS.representatives():
        started = time.time()
        report = fuzz_env(env_id, args.actions)
        table.add_row(env_id, str(report.actions), str(report.episodes), f"{1000 * report.slowest_s:.1f}",
                      str(report.slowest_len), str(report.foreign_failures), f"{time.time() - started:.0f}")
        if report.foreign_example:
            examples.append(report.foreign_example)
    console.print(table)
    for example in examples:
        console.print(f"  failed as an episode: {example}")

    table = Table(title="reading adversarial 64 KB outputs (extract_answer, best of 5)")
    table.add_column("output")
    table.add_column("ms")
    for name, text in ADVERSARIAL_64KB.items():
        best = min(_timed(extract_answer, text) for _ in range(5))
        table.add_row(name, f"{1000 * best:.1f}")
    console.print(table)


def malformed(scratch: Path, tiny: str, console: Console) -> None:
    from typer.testing import CliRunner

    from sparring.cli import app

    finished = scratch / "finished"
    result = CliRunner().invoke(app, ["run", "--out", str(finished),
                                      *(a for s in tiny_run_settings(tiny, rounds=1) for a in ("--set", s))])
    assert result.exit_code == 0, result.output
    report = try_all(scratch / "malformed", finished)
    console.print(f"malformed inputs: {report.tried} tried, {len(report.tracebacks)} tracebacks, "
                  f"{len(report.wrong)} without the expected message")
    for line in report.tracebacks + report.wrong:
        console.print(f"[red]  {line}[/]")


def _timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
