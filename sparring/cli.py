"""The `sparring` command: run rounds, compare recipes, list environments, check one, evaluate a
checkpoint, show a run's league, write a run's report. Each verb is a function of `sparring.api`; this
module only prints what they return and turns their errors into one line."""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sparring import api
from sparring.errors import SparringError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Make a language model better at a skill by self-play rounds, without human labels.")
console = Console()
if not console.is_terminal:  # logs and CI: wide enough for the per-round table
    console = Console(width=120)


def _quiet_libraries() -> None:
    """Our own progress bars and tables are the output; silence the libraries' chatter."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore")
    import datasets
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.utils.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    for name in ("httpx", "httpx2", "openai"):  # a line per request to a served model otherwise
        logging.getLogger(name).setLevel(logging.WARNING)


def _warn_plugin_problems() -> None:
    """A plugin that could not be registered is left out with a warning; the rest still work."""
    from sparring.registry import plugin_problems

    for problem in plugin_problems():
        console.print(f"[yellow]warning:[/] {escape(problem)}")


_DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS, errno.EPERM, errno.EIO)


@contextmanager
def _user_errors(resume_hint: str = "") -> Iterator[None]:
    hint = f" Continue with: {resume_hint}" if resume_hint else ""
    try:
        yield
    except SparringError as e:
        console.print(f"[bold red]error:[/] {escape(str(e))}")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        console.print(f"\n[yellow]interrupted.[/] Everything finished so far is stored.{hint}")
        raise typer.Exit(130) from None
    except OSError as e:
        if e.errno not in _DISK_ERRORS:
            raise
        where = f" {escape(str(e.filename))}" if e.filename else ""
        console.print(f"[bold red]error:[/] could not write{where}: {e.strerror}. The work stored before it is "
                      f"intact; free space or fix permissions, then resume.{hint}")
        raise typer.Exit(2) from None
    except sqlite3.OperationalError as e:  # "database or disk is full", "attempt to write a readonly database"
        console.print(f"[bold red]error:[/] the episode store could not be written: {escape(str(e))}. The episodes stored "
                      f"before it are intact; free space or fix permissions, then resume.{hint}")
        raise typer.Exit(2) from None
    except Exception as e:
        if "No space left on device" not in str(e):  # safetensors reports a full disk in its own error type
            raise
        console.print(f"[bold red]error:[/] could not write: {escape(str(e))}. The work stored before it is intact; "
                      f"free space, then resume.{hint}")
        raise typer.Exit(2) from None


@app.command()
def run(
    config: Optional[Path] = typer.Argument(None, help="TOML config (defaults < file < --set)"),
    out: Optional[Path] = typer.Option(None, "--out", help="run directory [default: runs/<name>-<time>]"),
    overrides: List[str] = typer.Option([], "--set", help="override a config key: --set rollout.temperature=0.7"),
    resume: bool = typer.Option(False, "--resume", help="continue a run (--out, else the latest) from its first incomplete stage"),
) -> None:
    """Run self-play rounds: rollout, build, train, evaluate, report."""
    with _user_errors(resume_hint=f"sparring run --resume --out {out}" if out else "sparring run --resume (the latest run)"):
        _warn_plugin_problems()
        _quiet_libraries()
        result = api.run(config, out, overrides, resume, console)
    first, last = result.rounds[0]["eval"], result.rounds[-1]["eval"]
    console.print(f"{result.score_name}: round 0 {100 * first['score']:.1f}% -> round {result.rounds[-1]['round']} "
                  f"{100 * last['score']:.1f}% ({result.gain:+.1f} points). "
                  f"Results in {result.run_dir}/, the whole run on one page in {result.run_dir / 'report.html'}")


@app.command()
def compare(
    config: Optional[Path] = typer.Argument(None, help="TOML config every recipe starts from"),
    recipes: str = typer.Option(..., "--recipes", help="comma-separated recipe ids, e.g. rest-em,dpo,spin"),
    budget_tokens: Optional[int] = typer.Option(None, "--budget-tokens", min=1,
                                                help="tokens each round may generate, the same for every recipe"),
    out: Optional[Path] = typer.Option(None, "--out", help="directory of the runs [default: runs/compare-<name>-<time>]"),
    overrides: List[str] = typer.Option([], "--set", help="override a config key for every recipe"),
    resume: bool = typer.Option(False, "--resume", help="finish the unfinished runs under --out"),
) -> None:
    """Run several recipes from the same base model and budget; one table of results and costs."""
    from sparring import comparison

    with _user_errors():
        _warn_plugin_problems()
        _quiet_libraries()
        result = api.compare(config, recipes.split(","), budget_tokens, out, overrides, resume, console)
    unit = comparison.device_unit()
    # a log or a pipe gets the tables at full width, never with a column cut
    (console if console.is_terminal else Console(width=200)).print(*comparison.tables(result.runs, unit))
    console.print(f"written: {result.out / 'compare.json'}, {result.out / 'compare.md'}")


@app.command()
def envs() -> None:
    """List the registered environments (plugins included)."""
    from sparring.envs import ENVS
    from sparring.registry import BUILT_IN

    _warn_plugin_problems()
    table = Table("id", "levels", "description")
    for env_id in ENVS.ids():
        levels = getattr(ENVS.load(env_id), "levels", None)
        entry = ENVS.entry(env_id)
        origin = "" if entry.origin == BUILT_IN else f" ({entry.origin})"
        table.add_row(env_id, f"{levels[0]}..{levels[-1]}" if levels else "-", entry.description + origin)
    for family in ENVS.families():
        try:
            members = ENVS.members(family)
        except SparringError as e:  # its optional package is missing: say what to install
            table.add_row(f"{family.prefix}<name>", "-", f"{family.description}; {e}")
            continue
        table.add_row(f"{family.prefix}<name>", "", f"{family.description}: {len(members)} ids", end_section=False)
        for env_id in members:
            levels = getattr(ENVS.load(env_id), "levels", None)
            table.add_row(env_id, f"{levels[0]}..{levels[-1]}" if levels else "-", "")
    console.print(table)


@app.command()
def check(
    env: str = typer.Argument(..., help="an env id (a plugin's, or an import path package.module:Class)"),
    actions: int = typer.Option(300, "--actions", min=1, help="random model outputs to fuzz it with"),
    kill_points: int = typer.Option(3, "--kill-points", min=1, help="points at which to kill a run on it"),
) -> None:
    """Run the project's own checks on one env: the contract, fuzzing, and kill-and-resume of a tiny run."""
    with _user_errors():
        _warn_plugin_problems()
        _quiet_libraries()
        results = api.check(env, actions, kill_points, on_start=lambda name: console.print(f"{escape(env)}: {name} ..."))
    table = Table("check", "result", "seconds", "detail", title=env, box=box.SIMPLE_HEAD)
    for result in results:
        table.add_row(result.name, "[green]passed[/]" if result.passed else "[bold red]FAILED[/]",
                      f"{result.seconds:.1f}", escape(result.detail))
    console.print(table)
    if not all(r.passed for r in results):
        raise typer.Exit(1)


@app.command("eval")
def eval_(
    checkpoint: str = typer.Argument(..., help="checkpoint directory, hub id, or smollm2-135m-instruct"),
    env: str = typer.Option(..., "--env", help="environment id, e.g. arithmetic-v0"),
    n: int = typer.Option(50, "--n", min=1, help="held-out problems per level"),
    levels: Optional[str] = typer.Option(None, "--levels", help="comma-separated levels [default: all]"),
    max_new_tokens: int = typer.Option(48, "--max-new-tokens", min=1),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    dtype: str = typer.Option("auto", "--dtype", help="auto, bfloat16, float16 or float32"),
) -> None:
    """Held-out accuracy of any checkpoint (greedy; the same problems every run uses)."""
    with _user_errors():
        try:
            chosen = [int(x) for x in levels.split(",")] if levels else None
        except ValueError:
            raise SparringError(f"--levels takes comma-separated level numbers like 1,2,3; got {levels!r}") from None
        _quiet_libraries()
        result = api.evaluate(checkpoint, env, n, chosen, max_new_tokens, batch_size, dtype, console)
    table = Table("level", "accuracy %", title=f"{checkpoint} on {env} (greedy, {n} per level)")
    for lv, acc in result.accuracy_by_level.items():
        table.add_row(lv, f"{100 * acc:.1f}")
    table.add_row("mean", f"{100 * result.accuracy:.1f}")
    console.print(table)


@app.command()
def league(run_dir: Path = typer.Argument(..., help="a run directory (runs/<name>-<time>)")) -> None:
    """The league table of a games run: ratings, and results against every opponent, from its match log."""
    with _user_errors():
        result = api.league(run_dir)
    rows = result.standings
    opponents = list(dict.fromkeys(o for row in rows for o in row.vs))
    table = Table(title=f"league of {run_dir.name}: {result.matches} matches (rating: openskill μ − 3σ)",
                  box=box.SIMPLE_HEAD)
    table.add_column("player", no_wrap=True)
    for name in ("rating", "μ±σ", "rated games", "illegal %", *(f"vs {o} w/d/l" for o in opponents)):
        table.add_column(name, justify="right")
    for row in rows:
        rated = row.rating is not None
        table.add_row(row.player, f"{row.rating:.1f}" if rated else "-", f"{row.mu:.1f}±{row.sigma:.1f}" if rated else "-",
                      str(row.games), "-" if row.illegal_rate is None else f"{100 * row.illegal_rate:.1f}",
                      *("/".join(map(str, row.vs[o])) if o in row.vs else "" for o in opponents))
    # a log or a pipe gets the table at full width, never with its results cut
    (console if console.is_terminal else Console(width=max(120, 60 + 14 * len(opponents)))).print(table)


@app.command()
def report(run_dir: Path = typer.Argument(..., help="a run directory (runs/<name>-<time>)"),
           out: Optional[Path] = typer.Option(None, help="where to write it [default: RUN_DIR/report.html]")) -> None:
    """Write a run's report.html: plots per round, alarms and sample episodes, in one file that opens offline."""
    with _user_errors():
        path = api.report(run_dir, out)
    console.print(f"wrote {escape(str(path))}")


if __name__ == "__main__":
    app()
