"""The rollout engine: many episodes in flight, one batched call per policy per step.

Generation dominates a round's cost, so the engine never runs one episode at a time: it keeps up to
`max_in_flight` episodes open, gathers every pending request that the same policy must answer (in any
seat of any episode) into one `act` call, advances the answered episodes, stores the finished ones and
starts new ones to keep the batch full.

Faults stay inside their episode: an exception in the env's reset or step, or in the policy call
that served it, or a completion that comes back with an error (a served model's failed request), ends
the episode as a *failure* (`Episode.error`), which the store keeps apart from
played episodes so a resumed run plays it again. More than `max_failures` failures stop the rollout
with `TooManyFailures`. Caps end an episode as truncated with no outcome (not as a loss): `max_turns`
per episode; and once `max_tokens` tokens are generated, no new episode starts.

Each request is answered with a seed derived from the run's `seed`, the episode's `stream` (its id
unless the spec names one) and the turn number, so an answer does not depend on the order of calls or
on the rest of its batch; episodes given the same stream meet the same random numbers (every round's
evaluation game g against a stochastic player, so rounds differ by the policy, not by the dice).
"""

from __future__ import annotations

import itertools
import traceback
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Mapping

from sparring.envs import env_version, make_env
from sparring.errors import SparringError
from sparring.policies import Policy
from sparring.seeds import derive_seed
from sparring.store import EpisodeStore
from sparring.types import Completion, Episode, Turn, TurnRequest


@dataclass(frozen=True)
class EpisodeSpec:
    """One episode to play: which env, which seed, which policy sits in each seat."""

    id: str
    env_id: str
    seed: int
    policies: tuple[str, ...]
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, Any] = field(default_factory=dict)
    stream: str | None = None  # what its turns' seeds derive from [default: the id]
    roles: tuple[str, ...] | None = None  # the role each seat plays, for a per-role model [default: seat0, seat1, ...]


class TooManyFailures(SparringError):
    pass


@dataclass
class _Live:
    episode: Episode
    env: Any
    request: TurnRequest | None
    stream: str
    roles: tuple[str, ...] | None = None

    def ask(self, request: TurnRequest | None) -> None:
        """Make `request` the one pending, in the role its spec gives its seat (a per-role model routes on it)."""
        self.request = request if request is None or self.roles is None else replace(request, role=self.roles[request.seat])


class FailureCeiling:
    """Counts failed episodes; more than `max_failures` (None: no ceiling) stop the stage."""

    def __init__(self, max_failures: int | None):
        self.max_failures, self.errors = max_failures, Counter()

    def add(self, error: str) -> None:
        self.errors[error] += 1
        failed = sum(self.errors.values())
        if self.max_failures is not None and failed > self.max_failures:
            common, n = self.errors.most_common(1)[0]
            raise TooManyFailures(f"{failed} episodes failed, more than the {self.max_failures} allowed; "
                                  f"the most common error ({n}x): {common}")


def run_episodes(
    specs: Iterable[EpisodeSpec],
    policies: Mapping[str, Policy],
    provenance: Mapping[str, Any],
    seed: int | None = None,
    store: EpisodeStore | None = None,
    max_in_flight: int = 256,
    max_turns: int = 64,
    max_tokens: int | None = None,
    max_failures: int | None = None,
    on_finished: Callable[[Episode], None] | None = None,
) -> list[Episode]:
    """Play every spec to its end and return the finished episodes, failures included (each is also
    written to `store` as soon as it ends)."""
    if max_in_flight < 1:  # none in flight would play nothing and return as if done
        raise ValueError(f"max_in_flight must be at least 1 (got {max_in_flight})")
    pending = iter(specs)
    live: list[_Live] = []
    finished: list[Episode] = []
    tokens = 0
    ceiling = FailureCeiling(max_failures)

    def finish(item: _Live, error: str = "", cap: str = "") -> None:
        episode = item.episode
        if error or cap:  # ended by the engine, not by the env's rules: no outcome
            episode.truncated, episode.end_reason, episode.error, episode.rewards = True, error or cap, error, ()
        finished.append(episode)
        if store is not None:
            store.write([episode])
        if on_finished is not None:
            on_finished(episode)
        if error:
            ceiling.add(error)

    def refill() -> None:
        room = 0 if max_tokens is not None and tokens >= max_tokens else max(0, max_in_flight - len(live))
        for spec in itertools.islice(pending, room):
            episode = Episode(
                id=spec.id, env_id=spec.env_id, env_version=env_version(spec.env_id), seed=spec.seed,
                policies=spec.policies, tags=dict(spec.tags),
                provenance={**provenance, "policies": {p: policies[p].provenance() for p in set(spec.policies)}},
            )
            stream = spec.stream or spec.id
            try:
                env = make_env(spec.env_id, **spec.env_kwargs)
                item = _Live(episode, env, None, stream, spec.roles)
                item.ask(env.reset(spec.seed))
                live.append(item)
            except Exception:
                finish(_Live(episode, None, None, stream), error="error in reset: " + _last_line())

    refill()
    while live:
        for policy_id in sorted({_acting_policy(item) for item in live}):
            group = [item for item in live if _acting_policy(item) == policy_id]
            seeds = None if seed is None else [derive_seed(seed, item.stream, len(item.episode.turns))
                                                for item in group]
            try:
                completions = policies[policy_id].act([item.request for item in group], seeds)
            except Exception:
                error = f"error in policy {policy_id}: " + _last_line()
                for item in group:
                    finish(item, error=error)
                continue
            for item, turn_seed, completion in zip(group, seeds or [None] * len(group), completions):
                if completion.error:  # a served model's failed request: this episode alone fails
                    finish(item, error=f"error in policy {policy_id}: {completion.error}")
                    continue
                tokens += len(completion.token_ids)
                _advance(item, completion, turn_seed, max_turns, finish)
        live[:] = [item for item in live if not _is_done(item)]
        refill()
    return finished


def run_missing(specs: list[EpisodeSpec], policies: Mapping[str, Policy], provenance: Mapping[str, Any],
                store: EpisodeStore, stage: str, on_finished: Callable[[Episode], None] | None = None,
                **engine: Any) -> list[Episode]:
    """The episodes of `specs` already stored for this round and stage, plus the rest played now: a
    resumed stage plays only what is missing. `on_finished` sees the stored ones first."""
    wanted = {s.id for s in specs}
    done = [e for e in store.episodes(provenance["round"], stage) if e.id in wanted]
    ids = {e.id for e in done}
    for e in done if on_finished is not None else ():
        on_finished(e)
    return done + run_episodes([s for s in specs if s.id not in ids], policies, provenance, store=store,
                               on_finished=on_finished, **engine)


def _acting_policy(item: _Live) -> str:
    return item.episode.policies[item.request.seat]


def _is_done(item: _Live) -> bool:
    return item.episode.terminated or item.episode.truncated


def _advance(item: _Live, completion: Completion, seed: int | None, max_turns: int, finish) -> None:
    episode, request = item.episode, item.request
    try:
        result = item.env.step(completion.text)
    except Exception:
        episode.turns.append(Turn(request.seat, request.messages, completion, legal=False, info={"seed": seed}))
        finish(item, error="error in step: " + _last_line())
        return
    episode.turns.append(Turn(request.seat, request.messages, completion, result.legal,
                              {**result.info, "seed": seed}))
    if result.done:
        episode.rewards, episode.terminated, episode.truncated = result.rewards, result.terminated, result.truncated
        episode.end_reason, episode.info = result.reason, result.info
        finish(item)
    elif len(episode.turns) >= max_turns:
        finish(item, cap=f"cut at the cap of {max_turns} turns")
    else:
        item.ask(result.next_request)


def _last_line() -> str:
    return traceback.format_exc().strip().splitlines()[-1][:500]
