"""The `sparring` command: run rounds, compare recipes, list environments, evaluate a checkpoint, show a
run's league, write a run's report."""

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


_DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS, errno.EPERM, errno.EIO)


@contextmanager
def _user_errors(resume_hint: Path | None = None) -> Iterator[None]:
    hint = f" Continue with: sparring run --resume --out {resume_hint}" if resume_hint else ""
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
    from sparring.loop import start_run

    root, run_dir = out, None
    try:
        with _user_errors(resume_hint=out):
            cfg, run_dir, dtype_reason = start_run(config, out, overrides, resume)
            root = run_dir.root
        with _user_errors(resume_hint=root):
            _quiet_libraries()
            from sparring import loop

            console.print(f"run directory: [bold]{root}[/]  (dtype {cfg.backend.dtype}: {dtype_reason})")
            history = loop.run(cfg, run_dir, console)
    finally:
        if run_dir is not None:
            run_dir.close()
    first, last = history[0]["eval"], history[-1]["eval"]
    console.print(f"{last['score_name']}: round 0 {100 * first['score']:.1f}% -> round {history[-1]['round']} "
                  f"{100 * last['score']:.1f}% ({100 * (last['score'] - first['score']):+.1f} points). "
                  f"Results in {root}/, the whole run on one page in {root / 'report.html'}")


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
    from datetime import datetime

    from sparring import compare as comparing
    from sparring.config import load_config

    with _user_errors():
        if resume and out is None:
            raise SparringError("--resume needs --out: the directory of the comparison to finish")
        names = [r.strip() for r in recipes.split(",") if r.strip()]
        if not names:
            raise SparringError("--recipes names no recipe")
        if out is None:
            out = Path("runs") / f"compare-{load_config(config, list(overrides)).name}-{datetime.now():%Y%m%d-%H%M%S}"
        runs = comparing.recipe_runs(names)
        budget = [f"rollout.max_tokens_per_round={budget_tokens}"] if budget_tokens is not None else []
        _quiet_libraries()
        summaries = comparing.compare(config, runs, out, [*overrides, *budget], resume, console)
    unit = comparing.device_unit()
    # a log or a pipe gets the tables at full width, never with a column cut
    (console if console.is_terminal else Console(width=200)).print(*comparing.tables(summaries, unit))
    console.print(f"written: {out / 'compare.json'}, {out / 'compare.md'}")


@app.command()
def envs() -> None:
    """List the registered environments."""
    from sparring.envs import ENVS

    table = Table("id", "levels", "description")
    for env_id in ENVS.ids():
        levels = getattr(ENVS.load(env_id), "levels", None)
        table.add_row(env_id, f"{levels[0]}..{levels[-1]}" if levels else "-", ENVS.entry(env_id).description)
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
        from sparring.envs import ENVS

        env_class = ENVS.load(env)
        if env_class.num_seats != 1:
            raise SparringError(f"sparring eval scores one-seat envs; {env} has {env_class.num_seats} seats "
                                "(a run's games task judges games against fixed opponents)")
        env_levels = getattr(env_class, "levels", None)
        if levels and not env_levels:
            raise SparringError(f"{env} has no difficulty levels; leave --levels out")
        try:
            chosen = [int(x) for x in levels.split(",")] if levels else list(env_levels or [])
        except ValueError:
            raise SparringError(f"--levels takes comma-separated level numbers like 1,2,3; got {levels!r}") from None
        if dtype not in ("auto", "bfloat16", "float16", "float32"):
            raise SparringError(f"--dtype is one of auto, bfloat16, float16, float32; got {dtype!r}")
        bad = [lv for lv in chosen if lv not in (env_levels or [])]
        if bad:
            raise SparringError(f"{env} has levels {list(env_levels or [])}; asked for {chosen}")
        _quiet_libraries()
        from sparring.evaluate import evaluate, heldout_set
        from sparring.models import load_backend
        from sparring.report.console import progress_bar

        backend = load_backend("transformers", checkpoint, batch_size=batch_size, dtype=dtype)
        heldout = heldout_set(env, chosen or None, n)
        with progress_bar(console, "evaluate", len(heldout)) as bar:
            result = evaluate(backend, heldout, max_new_tokens, {"run_id": "eval", "round": 0},
                              on_finished=bar)["by_env"][env]
        table = Table("level", "accuracy %", title=f"{checkpoint} on {env} (greedy, {n} per level)")
        for lv, acc in result["accuracy_by_level"].items():
            table.add_row(lv, f"{100 * acc:.1f}")
        table.add_row("mean", f"{100 * result['accuracy']:.1f}")
        console.print(table)


@app.command()
def league(run_dir: Path = typer.Argument(..., help="a run directory (runs/<name>-<time>)")) -> None:
    """The league table of a games run: ratings, and results against every opponent, from its match log."""
    with _user_errors():
        from sparring.league import standings
        from sparring.store import EpisodeStore

        path = run_dir / "episodes.sqlite"
        if not path.is_file():
            raise SparringError(f"{str(run_dir)!r} is not a run directory: it has no episodes.sqlite")
        store = EpisodeStore(path)  # a run may be writing it: WAL lets this read alongside
        try:
            matches = store.matches()
        finally:
            store.close()
        if not matches:
            raise SparringError(f"{run_dir} has no matches: the league rates games (task 'games') that were played")
        rows = standings(matches)
        opponents = list(dict.fromkeys(o for row in rows for o in row["vs"]))
        table = Table(title=f"league of {run_dir.name}: {len(matches)} matches (rating: openskill μ − 3σ)",
                      box=box.SIMPLE_HEAD)
        table.add_column("player", no_wrap=True)
        for name in ("rating", "μ±σ", "rated games", "illegal %", *(f"vs {o} w/d/l" for o in opponents)):
            table.add_column(name, justify="right")
        for row in rows:
            rated = row["ordinal"] is not None
            table.add_row(row["player"], f"{row['ordinal']:.1f}" if rated else "-",
                          f"{row['mu']:.1f}±{row['sigma']:.1f}" if rated else "-", str(row["games"]),
                          "-" if row["illegal_rate"] is None else f"{100 * row['illegal_rate']:.1f}",
                          *("/".join(map(str, row["vs"][o])) if o in row["vs"] else "" for o in opponents))
        # a log or a pipe gets the table at full width, never with its results cut
        (console if console.is_terminal else Console(width=max(120, 60 + 14 * len(opponents)))).print(table)


@app.command()
def report(run_dir: Path = typer.Argument(..., help="a run directory (runs/<name>-<time>)"),
           out: Optional[Path] = typer.Option(None, help="where to write it [default: RUN_DIR/report.html]")) -> None:
    """Write a run's report.html: plots per round, alarms and sample episodes, in one file that opens offline."""
    with _user_errors():
        from sparring.report.html import html_report

        if not run_dir.is_dir():
            raise SparringError(f"{str(run_dir)!r} is not a directory; give a run directory (runs/<name>-<time>)")
        path = html_report(run_dir, out)
        console.print(f"wrote {escape(str(path))}")


if __name__ == "__main__":
    app()
