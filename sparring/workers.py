"""A round's rollout spread over Ray actors (`rollout.workers = N`, settings in `[ray]`).

Each worker is a Ray actor holding its own copy of the round's players (the trained model on its
CPUs or GPU, past checkpoints, served models, scripted players), built from `Players`, which carries
paths and settings only. The episodes are cut into chunks of the engine's batch and dealt to the
workers round-robin, so who plays what depends only on the plan; each worker plays its chunks with
the same engine and the same seeds as one process would (seeds derive from the run, round, episode
and turn, never from the worker), and the driver alone writes the store, a chunk as it comes back.
A worker that dies loses only its chunk in flight: that chunk and the worker's later ones are dealt to
the workers still alive; with none left the round stops and resume plays what is missing.
"""

from __future__ import annotations

import math
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from pydantic import Field

from sparring.engine import EpisodeSpec, FailureCeiling, run_episodes
from sparring.errors import ConfigError, SparringError
from sparring.sections import Section
from sparring.store import EpisodeStore
from sparring.types import Episode, SamplingParams


class RayConfig(Section):
    shapes = None  # where episodes are played changes no stored result

    address: str | None = Field(None, description="a Ray cluster's address (host:port or ray://host:port); absent: a "
                                                   "local Ray instance with the workers' CPUs and GPUs")
    num_cpus: float = Field(1.0, gt=0, description="CPUs per worker (its torch threads)")
    num_gpus: float = Field(0.0, ge=0, description="GPUs per worker (a fraction shares one)")


@dataclass(frozen=True)
class Players:
    """Everything needed to seat a round's players, in this process or in a worker: the run's config
    (as data), its directory, the model in the trained seats, the dtype and the sampling."""

    config: dict[str, Any]
    run_root: Path
    trained: str
    dtype: str
    sampling: SamplingParams

    def cfg(self):
        from sparring.config import build_config

        return build_config(self.config)

    def load(self, name: str):
        """The model a league player is (`base`, `round-<r>`, `served:<name>`)."""
        from sparring.loop import player_model
        from sparring.rundir import RunDir

        return player_model(self.cfg(), RunDir(self.run_root), name, self.dtype)


def check_ray(rc, ray_cfg: RayConfig) -> None:
    """One clear error before any generation, naming the key."""
    if rc.workers > 1 and rc.max_tokens_per_round is not None:
        raise ConfigError("rollout.max_tokens_per_round: a token budget is counted in one process; "
                          "leave it out with rollout.workers > 1")
    if rc.workers > 1 and ray_cfg.address:
        host, _, port = ray_cfg.address.removeprefix("ray://").rpartition(":")
        try:
            socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
        except (OSError, ValueError) as e:
            raise ConfigError(f"ray.address: nothing answers at {ray_cfg.address} ({e})") from None


def _ray():
    try:
        import ray
    except ImportError:
        raise SparringError("rollout.workers > 1 runs on Ray, which is not installed: pip install -e '.[ray]'") from None
    return ray


class _Worker:
    """A Ray actor: the round's players, loaded once, playing the chunks it is dealt."""

    def __init__(self, players: Players, threads: int):
        import torch

        torch.set_num_threads(max(1, threads))
        from sparring.policies.checkpoints import load_run_model

        self.players = players
        self.models: dict[str, Any] = {}
        self.trained = load_run_model(players.cfg(), players.trained, players.dtype)

    def pid(self) -> int:
        return os.getpid()

    def play(self, specs: list[EpisodeSpec], provenance: Mapping[str, Any], seed: int, max_turns: int) -> list[Episode]:
        from sparring.loop import seat_policies

        def checkpoint(name: str):
            if name not in self.models:
                self.models[name] = self.players.load(name)
            return self.models[name]

        policies = seat_policies(specs, self.trained, self.players.sampling, checkpoint)
        return run_episodes(specs, policies, provenance, seed=seed, max_in_flight=len(specs), max_turns=max_turns)


def start_workers(n: int, players: Players, ray_cfg: RayConfig) -> list[Any]:
    ray = _ray()
    if not ray.is_initialized():
        if ray_cfg.address:
            ray.init(address=ray_cfg.address, log_to_driver=False)
        else:
            ray.init(num_cpus=math.ceil(n * ray_cfg.num_cpus), num_gpus=math.ceil(n * ray_cfg.num_gpus),
                     include_dashboard=False, log_to_driver=False, object_store_memory=256 * 2**20)
    actor = ray.remote(num_cpus=ray_cfg.num_cpus, num_gpus=ray_cfg.num_gpus, max_restarts=0)(_Worker)
    return [actor.remote(players, math.floor(ray_cfg.num_cpus)) for _ in range(n)]


def play_on_workers(specs: list[EpisodeSpec], workers: list[Any], provenance: Mapping[str, Any], store: EpisodeStore,
                    seed: int, max_in_flight: int, max_turns: int, max_failures: int | None = None,
                    on_finished: Callable[[Episode], None] | None = None) -> list[Episode]:
    """Play `specs` on the workers, storing each chunk as it comes back; every finished episode."""
    ray = _ray()
    size = max(1, math.ceil(max_in_flight / len(workers)))
    chunks = [specs[i:i + size] for i in range(0, len(specs), size)]
    queues = {w: chunks[w::len(workers)] for w in range(len(workers))}
    alive = dict(enumerate(workers))
    in_flight: dict[Any, tuple[int, list[EpisodeSpec]]] = {}
    finished: list[Episode] = []
    ceiling = FailureCeiling(max_failures)

    def send(w: int) -> None:
        if queues[w]:
            chunk = queues[w].pop(0)
            in_flight[alive[w].play.remote(chunk, dict(provenance), seed, max_turns)] = (w, chunk)

    for w in alive:
        send(w)
    while in_flight:
        [ref], _ = ray.wait(list(in_flight), num_returns=1)
        w, chunk = in_flight.pop(ref)
        try:
            episodes = ray.get(ref)
        except ray.exceptions.RayActorError:
            del alive[w]
            if not alive:
                raise SparringError("every rollout worker died; resume plays the missing episodes") from None
            orphans = [chunk, *queues.pop(w)]
            survivors = sorted(alive)
            for i, lost in enumerate(orphans):  # dealt round-robin to the workers still alive
                queues[survivors[i % len(survivors)]].append(lost)
            for s in survivors:
                if not any(v[0] == s for v in in_flight.values()):
                    send(s)
            continue
        store.write(episodes)
        for episode in episodes:
            finished.append(episode)
            if on_finished is not None:
                on_finished(episode)
            if episode.error:
                ceiling.add(episode.error)
        send(w)
    return finished


def stop_workers(workers: list[Any]) -> None:
    ray = _ray()
    for worker in workers:
        ray.kill(worker)
