"""The CLI's verbs as functions, for a notebook or a script: each takes the command's arguments and
returns what it found as a typed result (the CLI prints these; it is a thin layer over this module).

    import sparring

    result = sparring.run("examples/arithmetic.toml", overrides={"rounds": 2})
    result.scores                     # the held-out score after each round, round 0 first
    sparring.heldout(result.checkpoint, env="arithmetic-v0", n=20).accuracy

Errors are `sparring.errors.SparringError` with the CLI's message; output goes to `console` (rich),
by default the terminal's (`Console(quiet=True)` silences it).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from rich.console import Console

from sparring.errors import SparringError

Overrides = Sequence[str] | Mapping[str, Any]  # ["rollout.temperature=0.7"] or {"rollout.temperature": 0.7}


def _toml(value: Any) -> str:
    """A value as TOML, inline (tomli_w writes a table as a section, and an override is one line)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)) and not (isinstance(value, float) and not math.isfinite(value)):
        return repr(value)
    if isinstance(value, (str, Path)):
        return json.dumps(str(value))  # JSON's escapes are TOML basic string escapes
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise SparringError(f"an override's value must be a string, number, boolean, list or table; got {value!r}")


def override_list(overrides: Overrides) -> list[str]:
    """`--set` items from a list of them or from a {dotted key: value} mapping."""
    if isinstance(overrides, Mapping):
        return [f"{key}={_toml(value)}" for key, value in overrides.items()]
    if isinstance(overrides, str):
        raise SparringError(f"overrides is a list of 'key=value' strings or a mapping; got the string {overrides!r}")
    return list(overrides)


@dataclass(frozen=True)
class RunResult:
    """A finished run: its directory and every round's metrics (rounds/<r>/metrics.json)."""

    run_dir: Path
    rounds: list[dict[str, Any]]

    @property
    def score_name(self) -> str:
        return self.rounds[-1]["eval"]["score_name"]

    @property
    def scores(self) -> list[float]:
        """The task's score after each round (round 0: the base model)."""
        return [m["eval"]["score"] for m in self.rounds]

    @property
    def gain(self) -> float:
        """Last round's score minus the base model's, in points (percent)."""
        return 100 * (self.scores[-1] - self.scores[0])

    @property
    def checkpoint(self) -> Path | None:
        """The last round's trained model (None for a run of round 0 only)."""
        last = self.rounds[-1]["round"]
        return self.run_dir / "rounds" / str(last) / "checkpoint" if last > 0 else None


def run(config: str | Path | None = None, out: str | Path | None = None, overrides: Overrides = (),
        resume: bool = False, console: Console | None = None) -> RunResult:
    """`sparring run`: self-play rounds (rollout, build, train, evaluate, report) into a run directory."""
    from sparring import loop

    console = console or Console()
    cfg, run_dir, dtype_reason = loop.start_run(_path(config), _path(out), override_list(overrides), resume)
    try:
        console.print(f"run directory: [bold]{run_dir.root}[/]  (dtype {cfg.backend.dtype}: {dtype_reason})")
        history = loop.run(cfg, run_dir, console)
    finally:
        run_dir.close()
    return RunResult(run_dir.root, history)


@dataclass(frozen=True)
class Comparison:
    """`sparring compare`'s result: one summary per recipe's run (score per round, gain, tokens, rows,
    minutes per stage, gain per minute), written to out/compare.json and compare.md too."""

    out: Path
    runs: list[dict[str, Any]]

    def markdown(self) -> str:
        from sparring.comparison import device_unit, markdown

        return markdown(self.runs, device_unit())


def compare(config: str | Path | None = None, recipes: Sequence[str] = (), budget_tokens: int | None = None,
            out: str | Path | None = None, overrides: Overrides = (), resume: bool = False,
            console: Console | None = None) -> Comparison:
    """`sparring compare`: several recipes from the same config and budget, each its own run under `out`."""
    from sparring import comparison as comparing
    from sparring.config import load_config

    if resume and out is None:
        raise SparringError("--resume needs --out: the directory of the comparison to finish")
    names = [name.strip() for item in ([recipes] if isinstance(recipes, str) else recipes) for name in item.split(",")
             if name.strip()]
    if not names:
        raise SparringError("--recipes names no recipe")
    items = override_list(overrides)
    if budget_tokens is not None:
        if budget_tokens < 1:
            raise SparringError(f"--budget-tokens must be at least 1; got {budget_tokens}")
        items.append(f"rollout.max_tokens_per_round={budget_tokens}")
    out = _path(out) or Path("runs") / f"compare-{load_config(_path(config), items).name}-{datetime.now():%Y%m%d-%H%M%S}"
    summaries = comparing.compare(_path(config), comparing.recipe_runs(names), out, items, resume, console or Console())
    return Comparison(out, summaries)


@dataclass(frozen=True)
class Evaluation:
    """`sparring eval`'s result: held-out accuracy (greedy) per level and its mean."""

    checkpoint: str
    env: str
    per_level: int
    accuracy_by_level: dict[str, float]
    accuracy: float


def evaluate(checkpoint: str | Path, env: str, n: int = 50, levels: Sequence[int] | None = None,
             max_new_tokens: int = 48, batch_size: int = 64, dtype: str = "auto",
             console: Console | None = None) -> Evaluation:
    """`sparring eval`: any checkpoint on the held-out problems every run of `env` uses."""
    from sparring.envs import ENVS
    from sparring.heldout import evaluate as evaluate_episodes
    from sparring.heldout import heldout_set
    from sparring.models import load_backend
    from sparring.reports.console import progress_bar

    for name, value in (("--n", n), ("--max-new-tokens", max_new_tokens), ("--batch-size", batch_size)):
        if value < 1:
            raise SparringError(f"{name} must be at least 1; got {value}")
    env_class = ENVS.load(env)
    if env_class.num_seats != 1:
        raise SparringError(f"sparring eval scores one-seat envs; {env} has {env_class.num_seats} seats "
                            "(a run's games task judges games against fixed opponents)")
    env_levels = list(getattr(env_class, "levels", None) or [])
    if levels and not env_levels:
        raise SparringError(f"{env} has no difficulty levels; leave --levels out")
    chosen = list(levels) if levels else env_levels
    if dtype not in ("auto", "bfloat16", "float16", "float32"):
        raise SparringError(f"--dtype is one of auto, bfloat16, float16, float32; got {dtype!r}")
    if any(lv not in env_levels for lv in chosen):
        raise SparringError(f"{env} has levels {env_levels}; asked for {chosen}")
    backend = load_backend("transformers", str(checkpoint), batch_size=batch_size, dtype=dtype)
    heldout = heldout_set(env, chosen or None, n)
    with progress_bar(console or Console(), "evaluate", len(heldout)) as bar:
        result = evaluate_episodes(backend, heldout, max_new_tokens, {"run_id": "eval", "round": 0},
                                   on_finished=bar)["by_env"][env]
    return Evaluation(str(checkpoint), env, n, result["accuracy_by_level"], result["accuracy"])


@dataclass(frozen=True)
class Standing:
    """One player of a games run's league: openskill rating (μ − 3σ), rated games, illegal-reply rate,
    and (wins, draws, losses) against each opponent."""

    player: str
    rating: float | None
    mu: float | None
    sigma: float | None
    games: int
    illegal_rate: float | None
    vs: dict[str, tuple[int, int, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class League:
    matches: int  # games in the match log
    standings: list[Standing]  # best rated first


def league(run_dir: str | Path) -> League:
    """`sparring league`: the league of a games run from its match log, best rated first."""
    from sparring.ratings import standings
    from sparring.store import EpisodeStore

    run_dir = Path(run_dir)
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
    return League(len(matches), [Standing(row["player"], row["ordinal"], row["mu"], row["sigma"], row["games"],
                                           row["illegal_rate"], dict(row["vs"])) for row in standings(matches)])


def report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """`sparring report`: write the run's report.html (plots per round, alarms, sample episodes); its path."""
    from sparring.reports.html import html_report

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SparringError(f"{str(run_dir)!r} is not a directory; give a run directory (runs/<name>-<time>)")
    return html_report(run_dir, _path(out))


def check(env: str, actions: int = 300, kill_points: int = 3,
          on_start: Callable[[str], None] = lambda name: None) -> list:
    """`sparring check`: the env contract, fuzzing and kill-and-resume on one env; a CheckResult per check run."""
    from sparring.harness.check import check_everything

    return check_everything(env, actions, kill_points, on_start=on_start)


def _path(value: str | Path | None) -> Path | None:
    return None if value is None else Path(value)
