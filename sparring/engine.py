"""The rollout engine: many episodes in flight, one batched generate call per policy per step.

Generation dominates a round's cost, so the engine never runs one episode at a time: it keeps up to
`max_in_flight` episodes open, gathers every pending request that the same policy must answer into
one `generate` call, advances the answered episodes, stores the finished ones and starts new ones to
keep the batch full. An exception inside one episode (env or action) ends that episode as truncated,
with the error recorded; it never stops the run.
"""

from __future__ import annotations

import itertools
import traceback
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Mapping

from sparring.envs import env_version, make_env
from sparring.models.base import Backend
from sparring.store import EpisodeStore
from sparring.types import Completion, Episode, SamplingParams, Turn, TurnRequest


@dataclass(frozen=True)
class EpisodeSpec:
    """One episode to play: which env, which seed, which policy sits in each seat."""

    id: str
    env_id: str
    seed: int
    policies: tuple[str, ...]
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class _Live:
    episode: Episode
    env: Any
    request: TurnRequest


def run_episodes(
    specs: Iterable[EpisodeSpec],
    policies: Mapping[str, Backend],
    sampling: SamplingParams,
    provenance: Mapping[str, Any],
    store: EpisodeStore | None = None,
    max_in_flight: int = 256,
    max_turns: int = 64,
    on_finished: Callable[[Episode], None] | None = None,
) -> list[Episode]:
    """Play every spec to the end and return the finished episodes (also written to `store`).

    Each generate call gets its own seed, derived from `sampling.seed` and a call counter, which is
    recorded in every turn's info so a sample can be traced to the call that made it.
    """
    pending = iter(specs)
    live: list[_Live] = []
    finished: list[Episode] = []
    calls = itertools.count()

    def finish(item: _Live, reason: str | None = None) -> None:
        if reason is not None:  # ended by an error, not by the env's rules
            item.episode.truncated, item.episode.end_reason = True, reason
            item.episode.rewards = item.episode.rewards or tuple(0.0 for _ in item.episode.policies)
        finished.append(item.episode)
        if store is not None:
            store.write([item.episode])
        if on_finished is not None:
            on_finished(item.episode)

    def refill() -> None:
        for spec in itertools.islice(pending, max(0, max_in_flight - len(live))):
            episode = Episode(
                id=spec.id, env_id=spec.env_id, env_version=env_version(spec.env_id), seed=spec.seed,
                policies=spec.policies, tags=dict(spec.tags),
                provenance={**provenance, "sampling": _sampling_dict(sampling),
                            "models": {p: _model_provenance(policies[p]) for p in set(spec.policies)}},
            )
            try:
                env = make_env(spec.env_id, **spec.env_kwargs)
                live.append(_Live(episode, env, env.reset(spec.seed)))
            except Exception:
                finish(_Live(episode, None, None), "error in reset: " + _last_line())

    refill()
    while live:
        for policy_id in sorted({_acting_policy(item) for item in live}):
            group = [item for item in live if _acting_policy(item) == policy_id]
            call_seed = None if sampling.seed is None else sampling.seed * 1_000_003 + next(calls)
            completions = policies[policy_id].generate(
                [item.request.messages for item in group], replace(sampling, n=1, seed=call_seed))
            for item, (completion,) in zip(group, completions):
                _advance(item, completion, call_seed, max_turns, finish)
        live[:] = [item for item in live if not _is_done(item)]
        refill()
    return finished


def _acting_policy(item: _Live) -> str:
    return item.episode.policies[item.request.seat]


def _is_done(item: _Live) -> bool:
    return item.episode.terminated or item.episode.truncated


def _advance(item: _Live, completion: Completion, call_seed: int | None, max_turns: int, finish) -> None:
    episode, request = item.episode, item.request
    try:
        result = item.env.step(completion.text)
    except Exception:
        episode.turns.append(Turn(request.seat, request.messages, completion, legal=False, info={"seed": call_seed}))
        finish(item, "error in step: " + _last_line())
        return
    episode.turns.append(Turn(request.seat, request.messages, completion, result.legal,
                              {**result.info, "seed": call_seed}))
    if result.done:
        episode.rewards, episode.terminated, episode.truncated = result.rewards, result.terminated, result.truncated
        episode.end_reason, episode.info = result.reason, result.info
        finish(item)
    elif len(episode.turns) >= max_turns:
        finish(item, f"truncated after {max_turns} turns")
    else:
        item.request = result.next_request


def _sampling_dict(s: SamplingParams) -> dict[str, Any]:
    return {"temperature": s.temperature, "top_p": s.top_p, "max_new_tokens": s.max_new_tokens,
            "stop": list(s.stop), "seed": s.seed}


def _model_provenance(backend: Backend) -> dict[str, str]:
    return {"model_id": backend.model_id, "checkpoint_hash": backend.checkpoint_hash}


def _last_line() -> str:
    return traceback.format_exc().strip().splitlines()[-1]
