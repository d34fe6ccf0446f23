"""Malformed input, tried the way a new user would: every case must end in a clear message, no traceback.

Each case builds its input in a scratch directory (a config file, a damaged run or checkpoint), runs
the CLI in-process and expects exit code 2 (or 0 where the input is odd but valid) and a message
that names the problem. `try_all` returns what happened to each case.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from typer.testing import CliRunner

Setup = Callable[[Path, Path], list[str]]  # (scratch dir, a finished tiny run to copy) -> CLI arguments


@dataclass(frozen=True)
class Case:
    name: str
    setup: Setup
    expect: str  # a fragment of the message (whitespace-normalised)
    exit_code: int = 2


@dataclass
class MalformedReport:
    tried: int = 0
    tracebacks: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)  # no traceback, but not the expected exit or message


def _config(text: str | bytes) -> Setup:
    def setup(tmp: Path, run: Path) -> list[str]:
        path = tmp / "config.toml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return ["run", str(path), "--out", str(tmp / "out")]
    return setup


def _set(*overrides: str) -> Setup:
    return lambda tmp, run: ["run", "--out", str(tmp / "out"), *(a for o in overrides for a in ("--set", o))]


def _damaged_run(damage: Callable[[Path], None], *extra: str) -> Setup:
    def setup(tmp: Path, run: Path) -> list[str]:
        copy = tmp / "run"
        shutil.copytree(run, copy)
        damage(copy)
        return ["run", "--resume", "--out", str(copy), *extra]
    return setup


def _damaged_checkpoint(damage: Callable[[Path], None], *extra: str) -> Setup:
    def setup(tmp: Path, run: Path) -> list[str]:
        copy = tmp / "model"
        shutil.copytree(run / "rounds" / "1" / "checkpoint", copy)
        damage(copy / "model.safetensors")
        return ["eval", str(copy), "--env", "arithmetic-v0", "--n", "1", *extra]
    return setup


def _truncate(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _garble_store(run: Path) -> None:
    with sqlite3.connect(run / "episodes.sqlite") as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray((run / "episodes.sqlite").read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)
    (run / "episodes.sqlite").write_bytes(bytes(data))


def _lock_held(tmp: Path, run: Path) -> list[str]:
    from sparring.rundir import RunDir

    copy = tmp / "run"
    shutil.copytree(run, copy)
    _lock_held.holder = RunDir.open(copy)  # kept open (and locked) while the case runs
    return ["run", "--resume", "--out", str(copy)]


def _file_as_out(tmp: Path, run: Path) -> list[str]:
    (tmp / "a-file").write_text("x")
    return ["run", "--out", str(tmp / "a-file")]


def _out_under_a_file(tmp: Path, run: Path) -> list[str]:
    (tmp / "a-file").write_text("x")
    return ["run", "--out", str(tmp / "a-file" / "run")]


def _dir_as_config(tmp: Path, run: Path) -> list[str]:
    return ["run", str(tmp)]


CASES: list[Case] = [
    # config files
    Case("config not UTF-8", _config(b"name = \"\xff\xfe\"\n"), "is not UTF-8 text"),
    Case("config is a directory", _dir_as_config, "is a directory"),
    Case("config missing", lambda tmp, run: ["run", str(tmp / "nope.toml")], "does not exist"),
    Case("config not TOML", _config("rounds = = 3"), "is not valid TOML"),
    Case("config empty key", _config("= 3"), "is not valid TOML"),
    Case("unknown top-level key", _config("round = 3"), "unknown config key 'round'. Did you mean 'rounds'?"),
    Case("unknown section key", _config("[rollout]\ntemprature = 0.5"), "Did you mean 'rollout.temperature'?"),
    Case("unknown section", _config("[rolout]\ntemperature = 0.5"), "unknown config key 'rolout'"),
    Case("table for a value", _config("[rounds]\nx = 1"), "'rounds' is a value, not a section"),
    Case("value for a section", _config("rollout = 3"), "rollout: Input should be a valid dictionary"),
    Case("bool for an int", _config("rounds = true"), "rounds: Input should be a valid integer (got True)"),
    Case("string for an int", _config("rounds = \"3\""), "rounds: Input should be a valid integer (got '3')"),
    Case("float for an int", _config("rounds = 2.5"), "rounds: Input should be a valid integer"),
    Case("negative rounds", _config("rounds = -1"), "rounds: Input should be greater than or equal to 0"),
    Case("name with a slash", _config("name = \"a/b\""), "name: String should match pattern"),
    Case("name empty", _config("name = \"\""), "name: String should match pattern"),
    Case("datetime for a float", _config("[rollout]\ntemperature = 1979-05-27"), "rollout.temperature: Input should be"),
    Case("negative temperature", _set("rollout.temperature=-1"), "rollout.temperature: Input should be greater than"),
    Case("top_p zero", _set("rollout.top_p=0"), "rollout.top_p: Input should be greater than 0"),
    Case("band reversed", _set("curriculum.band=[0.9, 0.1]"), "band must satisfy 0 <= low < high <= 1"),
    Case("band one number", _set("curriculum.band=[0.5]"), "curriculum.band: List should have at least 2 items"),
    Case("no levels", _set("curriculum.levels=[]"), "curriculum.levels: List should have at least 1 item"),
    Case("levels not in env", _set("curriculum.levels=[0, 9]"), "has no level(s) [0, 9]"),
    Case("eval levels not in env", _set("eval.levels=[12]"), "eval.levels: arithmetic-v0 has no level(s) [12]"),
    Case("held-out set too large", _set("eval.problems_per_level=10000000"), "less than or equal to 999999"),
    Case("dtype unknown", _set("backend.dtype=float64"), "backend.dtype: Input should be 'auto'"),
    Case("failed fraction above 1", _set("rollout.max_failed_fraction=2"), "max_failed_fraction: Input should be less"),
    Case("env unknown", _set("env=arithmatic-v0"), "Did you mean 'arithmetic-v0'"),
    Case("recipe unknown", _set("recipe=rest_em"), "unknown recipe 'rest_em'. Did you mean 'rest-em'?"),
    Case("search without simulations", _set("recipe=expert-iteration", "env=tictactoe-v1",
                                            "expert_iteration.search.simulations=0"),
         "expert_iteration.search.simulations: Input should be greater than or equal to 1"),
    Case("search with a negative c", _set("recipe=expert-iteration", "env=tictactoe-v1",
                                          "expert_iteration.search.c_puct=-1"),
         "expert_iteration.search.c_puct: Input should be greater than or equal to 0"),
    Case("search an env without legal moves", _set("recipe=expert-iteration"),
         "arithmetic-v0 does not. Use it with a game"),
    Case("model path missing", _set("model=/no/such/model"), "does not exist"),
    Case("model dir without config", lambda tmp, run: _set(f"model='{tmp}'")(tmp, run), "has no config.json"),
    Case("max_length too short", lambda tmp, run: _set(f"model='{run / 'rounds/1/checkpoint'}'", "rounds=1",
                                                       "rest_em.max_length=16", "rest_em.min_reward=0.0",
                                                       "eval.levels=[1]", "eval.problems_per_level=1",
                                                       "rollout.problems_per_round=2", "rollout.max_new_tokens=4",
                                                       "eval.max_new_tokens=4")(tmp, run),
         "rest_em.max_length = 16 leaves no room for the answer"),
    # --set syntax
    Case("--set without =", _set("rounds"), "--set takes key=value"),
    Case("--set into a value", _set("rounds.x=1"), "'rounds' is a value, not a section"),
    Case("--set unknown key", _set("rollout.temprature=0.5"), "Valid keys in [rollout]"),
    Case("--set a section", _set("rollout=3"), "rollout: Input should be a valid dictionary"),
    # --out
    Case("--out is a file", _file_as_out, "cannot use"),
    Case("--out under a file", _out_under_a_file, "cannot use"),
    # resume
    Case("resume nothing", lambda tmp, run: ["run", "--resume", "--out", str(tmp / "none")], "no run to resume"),
    Case("resume with a config", lambda tmp, run: ["run", "--resume", "--out", str(run), str(tmp)], "drop the CONFIG"),
    Case("resume changing the seed", _damaged_run(lambda run: None, "--set", "seed=7"), "seed shapes the stored work"),
    Case("resume damaged store", _damaged_run(_garble_store), "episodes.sqlite is damaged"),
    Case("resume store not a database", _damaged_run(lambda run: (run / "episodes.sqlite").write_text("x" * 5000)),
         "episodes.sqlite is damaged"),
    Case("resume damaged metrics", _damaged_run(lambda run: _truncate(run / "rounds/1/metrics.json", 0.5)),
         "metrics.json is damaged"),
    Case("resume without run.json", _damaged_run(lambda run: (run / "run.json").unlink()), "run.json is missing"),
    Case("resume damaged config", _damaged_run(lambda run: _truncate(run / "config.toml", 0.3)),
         "config.toml changed since the run wrote it"),
    Case("resume hand-edited config", _damaged_run(lambda run: (run / "config.toml").write_text(
        (run / "config.toml").read_text().replace("rounds = 1", "rounds = 5"))), "changed since the run wrote it"),
    Case("resume a locked run", _lock_held, "another sparring process"),
    Case("resume truncated held-out set", _damaged_run(lambda run: _truncate(run / "heldout.jsonl", 0.5)),
         "heldout.jsonl did not match the config (damaged or edited): written again", exit_code=0),
    # eval
    Case("eval truncated weights", _damaged_checkpoint(lambda f: _truncate(f, 0.5)), "could not load model"),
    Case("eval empty weights", _damaged_checkpoint(lambda f: f.write_bytes(b"")), "could not load model"),
    Case("eval levels not numbers", lambda tmp, run: ["eval", str(run), "--env", "arithmetic-v0", "--levels", "1,x"],
         "--levels takes comma-separated level numbers"),
    Case("eval level not in env", lambda tmp, run: ["eval", str(run), "--env", "arithmetic-v0", "--levels", "9"],
         "arithmetic-v0 has levels"),
    Case("eval a game", lambda tmp, run: ["eval", str(run), "--env", "tictactoe-v1"],
         "sparring eval scores one-seat envs; tictactoe-v1 has 2 seats"),
    Case("eval env unknown", lambda tmp, run: ["eval", str(run), "--env", "arith"], "unknown environment 'arith'"),
    Case("eval model missing", lambda tmp, run: ["eval", str(tmp / "nope"), "--env", "arithmetic-v0"],
         "does not exist"),
    Case("eval dtype unknown", lambda tmp, run: ["eval", str(run), "--env", "arithmetic-v0", "--dtype", "fp8"],
         "--dtype is one of"),
    Case("eval zero problems", lambda tmp, run: ["eval", str(run), "--env", "arithmetic-v0", "--n", "0"],
         "Invalid value for '--n'"),
    Case("unknown command", lambda tmp, run: ["train"], "No such command 'train'"),
]


def try_all(scratch: Path, finished_run: Path, cases: list[Case] = CASES) -> MalformedReport:
    """Run every case; `finished_run` is a completed run of at least one round on the tiny model."""
    from sparring.cli import app

    report = MalformedReport()
    runner = CliRunner()
    for i, case in enumerate(cases):
        tmp = scratch / f"case-{i}"
        tmp.mkdir(parents=True)
        result = runner.invoke(app, case.setup(tmp, finished_run))
        holder = getattr(_lock_held, "holder", None)
        if holder is not None:
            holder.close()
            _lock_held.holder = None
        report.tried += 1
        output = " ".join(result.output.split())
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            report.tracebacks.append(f"{case.name}: {type(result.exception).__name__}: {result.exception}")
        elif result.exit_code != case.exit_code or case.expect not in output:
            report.wrong.append(f"{case.name}: exit {result.exit_code}, output: {output[-400:]}")
    return report
