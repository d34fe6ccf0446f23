"""Fuzzing a registered environment with hypothesis: random model outputs, each read within a time bound.

The outputs are what a sampling model can produce and worse: arbitrary unicode, empty strings,
adversarial whitespace after answer markers, JSON-like text, and huge (up to 64 KB) repetitions of
the pieces a reader parses. Every action must be applied without an exception, within `time_bound`
seconds, with one reward per seat inside the env's `reward_range`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from sparring.envs import ENVS, EnvContractError, make_env
from sparring.envs.check import check_result
from sparring.errors import ForeignGameError

MAX_LEN = 65_536  # the largest action tried: 64 KB
PIECES = ["answer", "Answer:", "answer is", "\\boxed{", "(", ")", "=", "1", "1,000", "-", "9 ", "%", ".", "\n",
          "🙂", "\u00a0", "{\"move\": 3}", "[1, 2, 3]"]
WHITESPACE = " \t\n\r\u00a0\u2003\u200b"


def _json_like() -> st.SearchStrategy[str]:
    leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
    values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner,
                                                                                             max_size=5), max_leaves=20)
    return values.map(json.dumps)


def action_texts() -> st.SearchStrategy[str]:
    """Model outputs to try: realistic, malformed, adversarial and huge."""
    repeat = st.builds(lambda piece, n: (piece * n)[:MAX_LEN], st.sampled_from(PIECES), st.integers(1, MAX_LEN))
    padded_marker = st.builds(lambda marker, pad, n, tail: marker + pad * n + tail,
                              st.sampled_from(PIECES), st.sampled_from(list(WHITESPACE)), st.integers(0, MAX_LEN - 16),
                              st.text(max_size=8))
    return st.one_of(
        st.text(),
        st.just(""),
        st.text(alphabet=WHITESPACE, max_size=200),
        st.integers().map(str),
        st.from_regex(r"(The )?[Aa]nswer( is|:|=) ?-? ?\d{1,6}(\.\d+)?[.!]?", fullmatch=True),
        st.lists(st.sampled_from(PIECES), max_size=30).map("".join),
        _json_like(),
        repeat,
        padded_marker,
    )


def _timed_step(env, text: str):
    started = time.perf_counter()
    result = env.step(text)
    return time.perf_counter() - started, result


def _replayed_step(env_id: str, kwargs: dict, seed: int, before: list[str], text: str) -> float:
    env = make_env(env_id, **kwargs)
    env.reset(seed)
    for earlier in before:
        env.step(earlier)
    return _timed_step(env, text)[0]


@dataclass
class FuzzReport:
    env_id: str
    actions: int = 0
    episodes: int = 0
    slowest_s: float = 0.0
    slowest_len: int = 0
    foreign_failures: int = 0  # replies on which another library's game raised in its own code
    foreign_example: str = ""


def fuzz_env(env_id: str, actions: int, time_bound: float = 0.2) -> FuzzReport:
    """Play at least `actions` random outputs in `env_id` (every level), checking each step.

    Raises the first violation (hypothesis shrinks it to a small example first): an exception from
    the env, a step slower than `time_bound` (the fastest of three tries, so that a pause of the
    machine is not taken for a slow reader), or an EnvContractError. A ForeignGameError (a wrapped
    library's game raising in its own code: the engine fails that episode, by the documented rule) is
    counted in the report, and play goes on from the next seed."""
    levels = getattr(ENVS.load(env_id), "levels", None) or [None]
    report = FuzzReport(env_id)

    def play(level, seed, outputs):
        kwargs = {} if level is None else {"level": level}
        env = make_env(env_id, **kwargs)
        env.reset(seed)
        report.episodes += 1
        episode: list[str] = []  # this episode's actions so far, to replay it when a step looks slow
        for text in outputs:
            try:
                took, result = _timed_step(env, text)
            except ForeignGameError as e:  # that episode failed; the next starts from the next seed
                report.foreign_failures += 1
                report.foreign_example = report.foreign_example or str(e)
                took, result = 0.0, None
            if took > time_bound:  # a pause of the machine, or a slow reader? Replay the step twice
                took = min([took] + [_replayed_step(env_id, kwargs, seed, episode, text) for _ in range(2)])
            if took > time_bound:
                raise EnvContractError(f"{env_id}: reading a {len(text)}-character output took {took:.3f} s "
                                       f"(bound {time_bound} s); it starts {text[:60]!r}")
            if result is not None:
                check_result(env, result)
            report.actions += 1
            episode.append(text)
            if took > report.slowest_s:
                report.slowest_s, report.slowest_len = took, len(text)
            if result is None or result.done:
                seed += 1
                env.reset(seed)
                episode = []
                report.episodes += 1

    attempt = 0
    while report.actions < actions:  # hypothesis may stop short of max_examples: go on with the next seed
        run = given(level=st.sampled_from(levels), seed=st.integers(0, 2**40),
                    outputs=st.lists(action_texts(), min_size=1, max_size=5))(play)
        run = settings(max_examples=max(1, (actions - report.actions) // 2), deadline=None, database=None,
                       suppress_health_check=list(HealthCheck))(run)
        hypothesis_seed(attempt)(run)()
        attempt += 1
    return report
