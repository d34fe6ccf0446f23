"""The kill harness: SIGKILL a real `sparring run` at seeded points in every stage, resume, compare.

A reference run plays to the end uninterrupted, and its events.jsonl gives each stage's duration.
Then victim runs of the same config are killed with SIGKILL: each kill point is a stage (round,
name), every stage once before any twice, and a fraction of that stage's reference duration, drawn
from a seeded generator; the harness waits for the victim to log the stage's start, sleeps that
fraction, and kills it. Several kill points follow one another on one victim (each after a
`--resume`), in timeline order; the last resume runs to the end. Then the victim must equal the
reference: the same episodes (none lost, none doubled) with the same completions and rewards, the
same training rows, checkpoints that load and hash the same, and complete metrics with the same
values.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STAGES_PER_ROUND = ("rollout", "build", "train", "eval")
# Metrics that measure speed, not results: they differ between any two runs.
TIMING_KEYS = {"seconds", "tokens_per_s"}


def tiny_run_settings(tiny_model: str, recipe: str = "rest-em", env: str = "arithmetic-v0", rounds: int = 2,
                      extra: tuple[str, ...] = ()) -> list[str]:
    """A whole run on the tiny model in seconds: few problems or games, short outputs, at most 4
    training steps a round on rows as long as the longest prompt (a negotiation's ten messages), the
    recipe's tiny settings; a game meets its past checkpoints in half its games."""
    from sparring.envs import ENVS
    from sparring.recipes import RECIPES

    section = RECIPES.load(recipe).config_key
    settings = [f"model='{tiny_model}'", f"rounds={rounds}", f"recipe={recipe}", f"env={env}",
                "rollout.problems_per_round=16", "rollout.samples_per_problem=2", "rollout.max_new_tokens=16",
                "eval.problems_per_level=8", "eval.max_new_tokens=8", "matches.eval_games=8",
                "backend.dtype='float32'", f"{section}.max_steps=4", f"{section}.max_length=1024",
                *RECIPES.load(recipe).tiny_settings]
    if getattr(ENVS.load(env), "levels", None):
        settings.append("eval.levels=[1, 2]")
    if ENVS.load(env).num_seats > 1:
        settings += ["matches.self_play_share=0.5", "matches.past_share=0.5"]
    return settings + list(extra)


def harness_cases() -> list[tuple[str, str, tuple[str, ...]]]:
    """(recipe, env, extra settings) the harness runs: every recipe on the first env it accepts
    (arithmetic-v0 where it can), rest-em once more with the balance probe, a selection objective and
    mixed reference rows, rest-em on task 'propose' (a scripted proposer, so the tiny model's solver
    has problems to answer), selfplay on every game no recipe's case plays (per-role on tic-tac-toe over
    two rounds: a checkpoint per seat, meeting its past; the other games one round: what they add is
    their own episodes), and rest-em on one member of each env family (reasoning-gym/chain_sum,
    textarena/TicTacToe-v0), one round."""
    from sparring.envs import ENVS
    from sparring.recipes import RECIPES

    games = [env for env in ENVS.ids() if ENVS.load(env).num_seats > 1]
    steered = ("balance.enabled=true", "balance.probe_episodes=16", "curate.select='shortest'", "curate.mix_fraction=0.25")
    proposing = ("task='propose'", "propose.proposer='seed-proposer'", "propose.prompts=8", "propose.solver_samples=2",
                 "propose.solver_band=[0.0, 1.0]")
    by_recipe = [(recipe, first_env(recipe), ()) for recipe in RECIPES.ids()]
    covered = {env for _, env, _ in by_recipe}  # a game a recipe's case already plays needs no case of its own
    return by_recipe + [("rest-em", "arithmetic-v0", steered), ("rest-em", "arithmetic-v0", proposing)] + [
        ("selfplay", env, ("selfplay.policies='per-role'",) if env == "tictactoe-v1" else ("rounds=1",)) for env in games
        if env == "tictactoe-v1" or env not in covered
    ] + [("rest-em", env, ("rounds=1",)) for env in ENVS.representatives() if env not in ENVS.ids()]


def first_env(recipe: str) -> str:
    """arithmetic-v0 if `recipe` runs on it, else the first registered env it accepts."""
    from sparring.config import load_config
    from sparring.envs import ENVS
    from sparring.errors import SparringError
    from sparring.recipes import RECIPES

    check = RECIPES.load(recipe).check
    for env in sorted(ENVS.ids(), key=lambda e: e != "arithmetic-v0"):
        try:
            if check is not None:
                check(load_config(None, [f"recipe={recipe}", f"env={env}"]))
            return env
        except SparringError:
            continue
    raise ValueError(f"recipe {recipe} accepts no registered env")


@dataclass
class KillReport:
    landed: list[str] = field(default_factory=list)  # where each kill hit: "r1 rollout", "r2 after train", ...
    missed: int = 0  # kill points the victim passed before the harness could kill it
    victims: int = 0
    episodes_lost: int = 0
    episodes_doubled: int = 0
    equal_runs: int = 0  # victims equal to the uninterrupted reference
    differences: list[str] = field(default_factory=list)

    @property
    def kills(self) -> int:
        return len(self.landed)


def run_command(out: Path, settings: list[str], resume: bool) -> list[str]:
    command = [sys.executable, "-m", "sparring.cli", "run", "--out", str(out)]
    if resume:
        return command + ["--resume"]
    return command + [arg for s in settings for arg in ("--set", s)]


def _start(out: Path, settings: list[str], resume: bool, log: Path) -> subprocess.Popen:
    with open(log, "a") as f:
        return subprocess.Popen(run_command(out, settings, resume), stdout=f, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _events(out: Path) -> list[dict[str, Any]]:
    path = out / "events.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def stage_durations(out: Path) -> dict[tuple[int, str], float]:
    """(round, stage) -> seconds, from a finished run's events."""
    return {(e["round"], e["stage"]): e["seconds"] for e in _events(out) if e["event"] == "end"}


def _where(out: Path, pid: int) -> str:
    """Where the process `pid` was when it died: inside a stage, or after the last one it ended."""
    own = [e for e in _events(out) if e["pid"] == pid and e["event"] in ("start", "end")]
    if not own:
        return "start-up"
    last = own[-1]
    return f"r{last['round']} {last['stage']}" if last["event"] == "start" else f"r{last['round']} after {last['stage']}"


def _kill_at(out: Path, settings: list[str], resume: bool, target: tuple[int, str], delay: float, log: Path,
             timeout: float) -> str | None:
    """Start (or resume) the victim, kill it `delay` s into `target`; where it landed, or None if it finished."""
    proc = _start(out, settings, resume, log)
    deadline = time.time() + timeout
    while proc.poll() is None and time.time() < deadline:
        if any(e["pid"] == proc.pid and e["event"] == "start" and (e["round"], e["stage"]) == target
               for e in _events(out)):
            time.sleep(delay)
            break
        time.sleep(0.01)
    if proc.poll() is not None:
        _check_exit(proc, log)
        return None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return _where(out, proc.pid)


def _check_exit(proc: subprocess.Popen, log: Path) -> None:
    if proc.returncode != 0:
        raise RuntimeError(f"the run exited with {proc.returncode}; its output:\n{log.read_text()[-3000:]}")


def _finish(out: Path, settings: list[str], resume: bool, log: Path, timeout: float) -> None:
    proc = _start(out, settings, resume, log)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise RuntimeError(f"the run did not finish within {timeout} s; its output:\n{log.read_text()[-3000:]}")
    _check_exit(proc, log)


def kill_and_resume(workdir: Path, settings: list[str], kill_points: int, seed: int = 0, per_victim: int = 7,
                    timeout: float = 600) -> KillReport:
    """Kill runs of `settings` at `kill_points` seeded points, resume each to its end, compare with a reference."""
    rng = random.Random(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    reference = workdir / "reference"
    _finish(reference, settings, False, workdir / "reference.log", timeout)
    durations = stage_durations(reference)
    timeline = list(durations)  # stages in the order they ran
    report = KillReport()
    # Stages to aim at: every stage once, in seeded order, before any stage is drawn again.
    queue = rng.sample(range(len(timeline)), len(timeline))
    while len(report.landed) < kill_points:
        if report.victims >= 3 * kill_points:
            raise RuntimeError(f"only {len(report.landed)} of {kill_points} kill points landed in {report.victims} runs")
        victim, log = workdir / f"victim-{report.victims}", workdir / f"victim-{report.victims}.log"
        report.victims += 1
        n = min(per_victim, kill_points - len(report.landed))
        plan = sorted(queue.pop(0) if queue else rng.randrange(len(timeline)) for _ in range(n))  # timeline order
        started = False
        for i, index in enumerate(plan):
            target = timeline[index]
            landed = _kill_at(victim, settings, started, target, rng.random() * durations[target], log, timeout)
            started = started or (victim / "config.toml").exists()
            if landed is None:  # the victim had passed the point (it was killed just after the stage) and finished
                report.missed += 1
                queue[:0] = plan[i + 1:]  # the next victim aims at the stages this one had left
                break
            report.landed.append(landed)
        if not _complete(victim, reference):
            _finish(victim, settings, started, log, timeout)
        _compare(victim, reference, report)
    return report


def kill_a_worker(workdir: Path, settings: list[str], workers: int = 2, timeout: float = 600) -> KillReport:
    """A run of `settings` on `workers` Ray rollout workers, the first of which is SIGKILLed once round
    1's rollout has started; the run must finish by itself, equal to the same run in one process."""
    workdir.mkdir(parents=True, exist_ok=True)
    reference, victim, log = workdir / "reference", workdir / "victim", workdir / "victim.log"
    _finish(reference, settings, False, workdir / "reference.log", timeout)
    report = KillReport(victims=1)
    proc = _start(victim, [*settings, f"rollout.workers={workers}"], False, log)
    deadline = time.time() + timeout
    while proc.poll() is None and time.time() < deadline and not report.landed:
        if any(e["pid"] == proc.pid and e["event"] == "start" and (e["round"], e["stage"]) == (1, "rollout")
               for e in _events(victim)):
            worker = next(iter(_ray_workers()), None)
            if worker is not None:
                os.kill(worker, signal.SIGKILL)
                report.landed.append(f"r1 rollout: worker {worker}")
        time.sleep(0.05)
    report.missed = 0 if report.landed else 1
    try:
        proc.wait(max(1.0, deadline - time.time()))
    except subprocess.TimeoutExpired:
        proc.kill()
        raise RuntimeError(f"the run did not finish within {timeout} s; its output:\n{log.read_text()[-3000:]}")
    _check_exit(proc, log)
    _compare(victim, reference, report)
    return report


def _ray_workers() -> list[int]:
    """The pids of live Ray actor processes playing rollouts (Ray titles them after the actor's class)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(b"ray::_Worker"):
                pids.append(int(entry.name))
        except OSError:
            continue
    return sorted(pids)


def _complete(run: Path, reference: Path) -> bool:
    rounds = [p.name for p in (reference / "rounds").iterdir()]
    return all((run / "rounds" / r / "metrics.json").exists() for r in rounds)


def _episodes(run: Path) -> dict[str, Any]:
    with sqlite3.connect(run / "episodes.sqlite") as db:
        rows = db.execute("SELECT id, data FROM episodes").fetchall()
    return {"rows": len(rows), "ids": [r[0] for r in rows],
            "played": {r[0]: _outcome(json.loads(r[1])) for r in rows}}


def _outcome(data: dict[str, Any]) -> tuple:
    return (tuple(t["completion"]["text"] for t in data["turns"]), tuple(data["rewards"]), data["end_reason"])


def _compare(victim: Path, reference: Path, report: KillReport) -> None:
    from transformers import AutoModelForCausalLM

    from sparring.models.transformers_backend import checkpoint_hash
    from sparring.policies.checkpoints import model_dirs

    mine, theirs = _episodes(victim), _episodes(reference)
    report.episodes_lost += len(set(theirs["played"]) - set(mine["played"]))
    report.episodes_doubled += mine["rows"] - len(set(mine["ids"]))
    differences = [f"{victim.name}: episode {i} differs" for i in sorted(set(mine["played"]) & set(theirs["played"]))
                   if mine["played"][i] != theirs["played"][i]]
    differences += [f"{victim.name}: extra episode {i}" for i in sorted(set(mine["played"]) - set(theirs["played"]))]
    for round_dir in sorted((reference / "rounds").iterdir()):
        r, mine_dir = round_dir.name, victim / "rounds" / round_dir.name
        ours, ref = (_results(json.loads((run / "rounds" / r / "metrics.json").read_text()), run)
                     for run in (victim, reference))
        if ours != ref:
            differences.append(f"{victim.name}: round {r} metrics differ: {ours} vs {ref}")
        if (round_dir / "dataset.parquet").exists():
            # a recipe may make several rows of one episode (a turn each), so rows doubled by a resume
            # show as rows that differ from the uninterrupted run's
            if _rows(mine_dir / "dataset.parquet") != _rows(round_dir / "dataset.parquet"):
                differences.append(f"{victim.name}: round {r} training rows differ")
        if (round_dir / "checkpoint").exists():
            for theirs_dir in model_dirs(round_dir / "checkpoint"):  # one, or one per role
                mine_model = mine_dir / theirs_dir.relative_to(round_dir)
                AutoModelForCausalLM.from_pretrained(mine_model)  # raises when it does not load
                if checkpoint_hash(str(mine_model)) != checkpoint_hash(str(theirs_dir)):
                    differences.append(f"{victim.name}: round {r} {mine_model.name} weights differ")
    report.differences += differences
    report.equal_runs += not differences


def _rows(path: Path) -> list[dict[str, Any]]:
    """A dataset's rows without what names the run (its id, its checkpoints' paths)."""
    from datasets import Dataset

    return [{k: v for k, v in row.items() if k not in ("run_id", "policy")}
            for row in Dataset.from_parquet(str(path)).to_list()]


def _results(metrics: Any, run: Path) -> Any:
    """`metrics` without what measures speed (different in every run), with the run's own paths
    (its checkpoints) written relative to it."""
    if isinstance(metrics, dict):
        return {k: _results(v, run) for k, v in metrics.items() if k not in TIMING_KEYS}
    if isinstance(metrics, list):
        return [_results(v, run) for v in metrics]
    return metrics.replace(str(run), "<run>") if isinstance(metrics, str) else metrics
