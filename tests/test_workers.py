"""Rollouts on a real local Ray instance (2 workers of 1 CPU): the same episodes as one process, and a
worker killed mid-round loses nothing. Whole runs on workers, one killed: tests/harness/test_kill.py."""

import os
import signal

import pytest

from sparring.config import load_config
from sparring.engine import EpisodeSpec, run_episodes
from sparring.errors import ConfigError, SparringError
from sparring.policies import LLMPolicy
from sparring.store import EpisodeStore
from sparring.types import SamplingParams
from sparring.workers import Players, check_ray, play_on_workers, start_workers, stop_workers

ray = pytest.importorskip("ray")
SAMPLING = SamplingParams(temperature=1.0, top_k=50, max_new_tokens=6)


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=128 * 2**20)
    yield
    ray.shutdown()


def specs(n):
    return [EpisodeSpec(id=f"e{i}", env_id="arithmetic-v0", seed=i, policies=("policy",),
                        env_kwargs={"level": 2, "max_attempts": 2}, tags={"stage": "train"}) for i in range(n)]


def players(tiny_model, tmp_path):
    cfg = load_config(None, [f"model='{tiny_model}'", "backend.dtype='float32'"])
    return Players(cfg.model_dump(mode="json", exclude_none=True), tmp_path, tiny_model, "float32", SAMPLING)


def test_workers_play_the_episodes_one_process_would(local_ray, tiny_model, tiny_backend, tmp_path):
    provenance = {"run_id": "t", "round": 1}
    here = run_episodes(specs(12), {"policy": LLMPolicy(tiny_backend, SAMPLING)}, provenance, seed=7, max_in_flight=12)
    workers = start_workers(2, players(tiny_model, tmp_path), load_config(None, []).ray)
    store = EpisodeStore(tmp_path / "episodes.sqlite")
    try:
        there = play_on_workers(specs(12), workers, provenance, store, seed=7, max_in_flight=4, max_turns=64)
    finally:
        stop_workers(workers)
    texts = lambda episodes: {e.id: [t.completion.text for t in e.turns] for e in episodes}  # noqa: E731
    assert texts(there) == texts(here)  # per-row seeds: the same text whichever worker and batch played it
    assert {e.id for e in store.episodes(1, "train")} == {f"e{i}" for i in range(12)}


def test_a_worker_killed_mid_round_loses_no_episode(local_ray, tiny_model, tmp_path):
    workers = start_workers(2, players(tiny_model, tmp_path), load_config(None, []).ray)
    victim = ray.get(workers[1].pid.remote())
    killed = []

    def kill_after_the_first_chunk(episode):
        if not killed:
            os.kill(victim, signal.SIGKILL)
            killed.append(episode.id)

    store = EpisodeStore(tmp_path / "episodes.sqlite")
    try:
        there = play_on_workers(specs(16), workers, {"run_id": "t", "round": 1}, store, seed=7, max_in_flight=4,
                                max_turns=64, on_finished=kill_after_the_first_chunk)
    finally:
        stop_workers(workers)
    assert killed and sorted(e.id for e in there) == sorted(f"e{i}" for i in range(16))
    assert not any(e.error for e in there) and store.count() == 16  # each played once, by the survivor


@pytest.mark.parametrize("settings,message", [
    (["rollout.workers=0"], "rollout.workers: Input should be greater than or equal to 1"),
    (["rollout.workers=2", "ray.address='127.0.0.1:1'"], "ray.address: nothing answers at 127.0.0.1:1"),
    (["rollout.workers=2", "rollout.max_tokens_per_round=100"], "rollout.max_tokens_per_round: a token budget"),
])
def test_bad_worker_settings_fail_before_any_generation(settings, message):
    with pytest.raises(ConfigError, match=message):
        cfg = load_config(None, settings)
        check_ray(cfg.rollout, cfg.ray)


def test_with_every_worker_dead_the_round_stops_and_says_resume(local_ray, tiny_model, tmp_path):
    workers = start_workers(1, players(tiny_model, tmp_path), load_config(None, []).ray)
    os.kill(ray.get(workers[0].pid.remote()), signal.SIGKILL)
    with pytest.raises(SparringError, match="every rollout worker died; resume"):
        play_on_workers(specs(4), workers, {"run_id": "t", "round": 1}, EpisodeStore(tmp_path / "e.sqlite"),
                        seed=7, max_in_flight=4, max_turns=64)
