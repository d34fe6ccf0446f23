"""reasoning-gym/<task>: reasoning-gym's procedural tasks as one-seat envs, scored by its own scorers.

Each id `reasoning-gym/<task>` is one of reasoning-gym's registered datasets (`sparring envs` lists
them where the package is installed: `pip install -e '.[reasoning-gym]'`, which `make` does). An episode asks the
question reasoning-gym generates for the episode's seed (a dataset of that seed, its first item:
reasoning-gym draws from a `random.Random` of its seed, so one seed is one question) and the seat
answers once. What is passed to reasoning-gym's `score_answer`:

- where the task's answer is a number, the number the project's answer reader takes from the reply
  (sparring.envs.answers: "Answer: 12", a boxed value, or the reply's one number), written as
  reasoning-gym writes numbers ("12", "-3.5"); reasoning-gym compares whole strings, so "The sum is 12."
  would score 0 unread;
- otherwise the text after the reply's last "Answer:" to its end, stripped.

A reply with nothing to pass (no readable number, no "Answer:") is an illegal action (reward 0, the
reason recorded); so is one that makes reasoning-gym's scorer raise. Otherwise the reward is the
scorer's value, its partial credit kept (in [0, 1]; the pass line is 0.5). Where the task has a
curriculum, its global levels are the env's levels (level L sets every attribute of the task's
curriculum to its (L−1)-th value, or its last), so the curriculum and the held-out evaluation work as
on arithmetic-v0; without one the task has no levels and uses reasoning-gym's default configuration.
`reference_solution()` is "Answer: <reasoning-gym's answer>", for the tasks that give their answer (not
those in `NO_ANSWER`, whose scorers check a solution any way it is written: graph colourings, moves).

Why our own adapter: reasoning-gym ships datasets and scorers, not a turn-based env with seeds and
illegal actions; this is the thin layer between the two.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from sparring.envs.answers import extract_answer
from sparring.errors import SparringError
from sparring.types import Message, StepResult, TurnRequest

INSTALL = "pip install -e '.[reasoning-gym]'"
SYSTEM_PROMPT = "Be brief."
ASK = "End with 'Answer: <your answer>'."
# Tasks that cannot make a question from their defaults (composite needs the datasets it mixes).
UNPLAYABLE = frozenset({"composite"})
# reasoning-gym 0.1.25's tasks whose questions come without an answer (tests/envs/test_reasoning_gym.py checks it)
NO_ANSWER = frozenset({"boxnet", "graph_color", "propositional_logic", "rubiks_cube", "rush_hour"})
_MARKER = re.compile(r"answer\s*:", re.IGNORECASE)
_NUMBER = re.compile(r"[-+]?\d+(\.\d+)?")


def _factory():
    try:
        import reasoning_gym.factory
    except ImportError:
        raise SparringError(f"reasoning-gym envs need the reasoning-gym package: {INSTALL}") from None
    return reasoning_gym.factory


def members() -> list[str]:
    """The tasks reasoning-gym registers, less those it cannot pose without a configuration."""
    return sorted(set(_factory().DATASETS) - UNPLAYABLE)


@functools.cache
def load(task: str) -> type:
    """The env class of one task: ReasoningGymEnv with the task and its levels set, so code that asks an
    env class for its levels (the curriculum, the held-out set, `sparring envs`) sees this task's."""
    levels, previous = [], None
    if _factory().has_curriculum(task):
        for level in range(1, 100):
            try:
                settings = configuration(task, level)
            except (AssertionError, ValueError):  # past the levels reasoning-gym can configure
                break
            if settings == previous:
                break  # every attribute already at its last value
            levels.append(level)
            previous = settings
    base = ReasoningGymEnv if task in NO_ANSWER else AnsweredReasoningGymEnv
    return type(f"ReasoningGym[{task}]", (base,), {"task": task, "levels": tuple(levels) or None})


def configuration(task: str, level: int) -> dict[str, Any]:
    """The dataset's settings at `level` of the task's curriculum (every attribute at its (level − 1)-th
    value, or its last), validated as reasoning-gym validates them: some curricula's later levels (and
    knight_swap's first) are settings its own dataset refuses."""
    factory = _factory()
    curriculum = factory.create_curriculum(task)
    curriculum.set_global_level(level - 1)
    config = curriculum.generate_configuration()
    if hasattr(config, "validate"):
        config.validate()
    return {k: v for k, v in vars(config).items() if k not in ("seed", "size")}


@functools.cache
def package_version() -> str:
    from importlib.metadata import version

    return version("reasoning-gym")


class ReasoningGymEnv:
    num_seats = 1
    reward_range = (0.0, 1.0)
    version = 0  # of this adapter; each episode's info records reasoning-gym's own version
    task: str = ""
    levels: tuple[int, ...] | None = None

    def __init__(self, level: int | None = None):
        if not self.task:
            raise TypeError("make reasoning-gym envs by id: make_env('reasoning-gym/<task>')")
        if self.levels is None and level is not None:
            raise ValueError(f"reasoning-gym/{self.task} has no difficulty levels; leave level out")
        if self.levels is not None:
            level = self.levels[0] if level is None else level
            if level not in self.levels:
                raise ValueError(f"reasoning-gym/{self.task} level must be one of {self.levels[0]}..{self.levels[-1]}, "
                                 f"got {level}")
        self.level = level
        self._config = {} if level is None else configuration(self.task, level)
        self._questions: dict[int, tuple[Any, dict[str, Any]]] = {}  # seed -> (dataset, item)
        self._dataset, self._entry = None, None
        self._done = True

    def reset(self, seed: int) -> TurnRequest:
        if seed not in self._questions:
            # kept per seed: some tasks take seconds to build a question, and a replay asks the same seed again
            import reasoning_gym

            dataset = reasoning_gym.create_dataset(self.task, **self._config, seed=seed, size=1)
            self._questions = {**dict(list(self._questions.items())[-7:]), seed: (dataset, dataset[0])}
        self._dataset, self._entry = self._questions[seed]
        self._done = False
        return TurnRequest(0, (Message("system", SYSTEM_PROMPT), Message("user", f"{self._entry['question']}\n\n{ASK}")))

    @property
    def answer(self) -> str:
        return str(self._entry["answer"])

    def step(self, action_text: str) -> StepResult:
        if self._done:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        self._done = True
        info = {"task": self.task, "level": self.level, "answer": self.answer, "reasoning_gym": package_version()}
        passed, reason = read_reply(action_text, numeric=_NUMBER.fullmatch(self.answer.strip()) is not None)
        if passed is None:
            return StepResult(None, (0.0,), terminated=True, legal=False, reason=f"illegal: {reason}", info=info)
        try:
            score = float(self._dataset.score_answer(passed, self._entry))
        except Exception as e:  # reasoning-gym's scorer on an odd answer: that answer's fault, not the run's
            return StepResult(None, (0.0,), terminated=True, legal=False,
                              reason=f"illegal: reasoning-gym's scorer raised {type(e).__name__}: {e}"[:300],
                              info={**info, "extracted": passed})
        score = min(max(score, 0.0), 1.0)
        return StepResult(None, (score,), terminated=True, legal=True, reason="correct" if score == 1.0 else "wrong",
                          info={**info, "extracted": passed, "score": score})


class AnsweredReasoningGymEnv(ReasoningGymEnv):
    def reference_solution(self) -> str:
        return f"Answer: {self.answer}"


def read_reply(text: str, numeric: bool) -> tuple[str | None, str]:
    """What is passed to reasoning-gym's scorer (see the module docstring), or None and why not."""
    if numeric:
        value = extract_answer(text)
        if value is None:
            return None, "no single number in the answer"
        return (str(int(value)) if float(value).is_integer() else repr(float(value))), "read"
    markers = list(_MARKER.finditer(text))
    if not markers:
        return None, "no 'Answer:' in the reply"
    answer = text[markers[-1].end():].strip()
    return (answer, "read") if answer else (None, "nothing after 'Answer:'")
