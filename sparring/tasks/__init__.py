"""Task registry: what a round plays and how a checkpoint is judged (the loop knows neither)."""

from __future__ import annotations

from typing import Any, Protocol, Sequence

from sparring.errors import SparringError
from sparring.registry import Registry

TASKS: Registry[Any] = Registry("task", "sparring.tasks")
TASKS.register("solo", "sparring.tasks.solo:SoloTask",
               "one seat against a verifier: a level curriculum plans rounds, held-out accuracy judges")
TASKS.register("games", "sparring.tasks.games:GameTask",
               "several seats: self-play and scripted opponents plan rounds, results against fixed opponents judge")
TASKS.register("propose", "sparring.tasks.propose_solve:ProposeSolveTask",
               "the model writes problems ([propose]) and answers them: learnability rewards the proposer, "
               "held-out accuracy judges")


class Task(Protocol):
    def check(self) -> None:
        """Fail before any work where the config does not fit the env."""

    def prepare(self, run_dir) -> str:
        """Write the task's files into the run (held-out sets, ...); a note for the user, or ""."""

    def plan(self, r: int, history: list[dict[str, Any]], played: Sequence = ()) -> tuple[list, dict[str, Any]]:
        """Round r's episode specs given the round's episodes `played` so far (the rollout asks again
        until the plan stops growing: propose plans its solver's episodes from the proposals), and
        what the plan chose (recorded in the round's rollout metrics)."""

    def score(self, r: int, episodes: Sequence) -> tuple[list, list]:
        """The round's episodes with their final rewards (a proposal's needs its solver's answers),
        and those the round trains on."""

    def training_roles(self, rows: list) -> dict[str, list] | None:
        """The round's rows per role where each role trains a checkpoint of its own (propose, per-role);
        None where the recipe trains one model (the selfplay recipe splits a game's seats itself)."""

    def rollout_metrics(self, episodes) -> dict[str, Any]:
        """The task's own measures of a rollout (beside the engine's)."""

    def evaluation_texts(self) -> list[str]:
        """The texts of the evaluation set that training data must not contain (decontamination)."""

    def evaluate(self, model, store, provenance: dict[str, Any], progress=None) -> dict[str, Any]:
        """Judge a loaded checkpoint (a policies.checkpoints.Model) (advancing `progress`, a report.Tracker, per episode); the result holds
        "score" and "score_name", the task's headline number."""


def as_played(r: int, episodes: Sequence) -> tuple[list, list]:
    """`Task.score` of a task whose envs reward every episode as it ends: all of them, as they are."""
    return list(episodes), list(episodes)


def one_model(rows: list) -> None:
    """`Task.training_roles` of a task whose recipe trains one model."""
    return None


def make_task(cfg) -> Task:
    """The config's task; "auto" is solo for a one-seat env or a mixture, games for more seats."""
    from sparring.envs import ENVS

    name = cfg.task
    if isinstance(cfg.env, dict):
        if name not in ("auto", "solo"):
            raise SparringError(f"task {name!r} plays one env; a mixture of envs (env = {{id = weight, ...}}) is "
                                "played by task 'solo'")
        name = "solo"
    elif name == "auto":
        name = "solo" if ENVS.load(cfg.env).num_seats == 1 else "games"
    return TASKS.make(name, cfg=cfg)
