"""`sparring check ENV_ID`: the checks the project runs over its own envs, over any one env (a plugin's).

In order, each only if the one before passed: the env contract (`sparring.envs.check`, at every level),
fuzzing with random model outputs (`harness/fuzz.py`), and the kill harness (`harness/kill.py`: a run on
a tiny random model, rest-em on a one-seat env and selfplay on a game, killed at seeded points and
resumed, equal to the run left alone).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass
class CheckResult:
    name: str
    passed: bool
    detail: str
    seconds: float


def check_everything(env_id: str, actions: int, kill_points: int, workdir: Path | None = None,
                     on_start: Callable[[str], None] = lambda name: None) -> list[CheckResult]:
    """Run the contract, fuzz and kill checks on `env_id` (the id must be known: plugins are read,
    an import path is imported); stop at the first failure."""
    from sparring.envs import ENVS, EnvContractError, check_env, make_env
    from sparring.harness.fuzz import fuzz_env
    from sparring.harness.kill import kill_and_resume, tiny_run_settings

    env_class = ENVS.load(env_id)
    levels = getattr(env_class, "levels", None) or [None]

    def contract() -> str:
        for level in levels:
            check_env(make_env(env_id, **({} if level is None else {"level": level})))
        return f"kept at {len(levels)} level(s)" if levels != [None] else "kept"

    def fuzz() -> str:
        report = fuzz_env(env_id, actions)
        failed = (f"; {report.foreign_failures} failed in the game's own code, as episodes (first: "
                  f"{report.foreign_example})" if report.foreign_failures else "")
        return f"{report.actions} outputs in {report.episodes} episodes; slowest read {1000 * report.slowest_s:.1f} ms{failed}"

    def kill() -> str:
        from sparring.models.tiny import build_tiny_model

        with tempfile.TemporaryDirectory(prefix="sparring-check-", dir=workdir) as tmp:
            tiny = build_tiny_model(Path(tmp) / "tiny")
            recipe = "rest-em" if env_class.num_seats == 1 else "selfplay"
            settings = tiny_run_settings(str(tiny), recipe, env_id, rounds=1)  # round 0's eval, then every stage once
            report = kill_and_resume(Path(tmp) / "kill", settings, kill_points)
        if report.differences or report.equal_runs != report.victims:
            raise EnvContractError("a resumed run differs from the run left alone: " + "; ".join(report.differences[:3]))
        return (f"{report.kills} kills ({recipe}, tiny model) in {', '.join(sorted(set(report.landed)))}; "
                f"{report.victims} resumed runs equal to the run left alone")

    results = []
    for name, check in (("contract", contract), ("fuzz", fuzz), ("kill and resume", kill)):
        on_start(name)
        started = time.time()
        try:
            results.append(CheckResult(name, True, check(), time.time() - started))
        except Exception as e:  # the finding itself: report it, run nothing after it
            results.append(CheckResult(name, False, f"{type(e).__name__}: {e}", time.time() - started))
            break
    return results
