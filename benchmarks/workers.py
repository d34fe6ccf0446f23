"""Rollouts on Ray workers: generated tokens/s of the same episodes played in this process, on 1 Ray
worker of all the CPUs' threads, and on N workers of one CPU's threads each; then the fault check: the
same rollout with one worker killed (SIGKILL) after the first chunk comes back, counting the episodes
lost. Sampled at the rollout's settings; each worker loads its own copy of the model (not timed).

    .venv/bin/python benchmarks/workers.py [--episodes 128] [--batch 64] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
import time
from pathlib import Path

import ray
import torch
from rich.console import Console
from rich.table import Table

from sparring.cli import _quiet_libraries
from sparring.config import load_config
from sparring.engine import EpisodeSpec, run_episodes
from sparring.models import load_backend
from sparring.models.paths import resolve_model
from sparring.policies import LLMPolicy
from sparring.store import EpisodeStore
from sparring.types import SamplingParams
from sparring.workers import Players, RayConfig, play_on_workers, start_workers, stop_workers

SAMPLING = SamplingParams(temperature=0.8, top_k=50, max_new_tokens=48)
PROVENANCE = {"run_id": "bench", "round": 1}


def specs(n: int) -> list[EpisodeSpec]:
    return [EpisodeSpec(id=f"e{i}", env_id="arithmetic-v0", seed=i, policies=("policy",),
                        env_kwargs={"level": 2, "max_attempts": 2}, tags={"stage": "train"}) for i in range(n)]


def tokens(episodes) -> int:
    return sum(len(t.completion.token_ids) for e in episodes for t in e.turns)


def on_workers(n: int, cpus: float, players: Players, episodes: int, batch: int, scratch: Path,
               kill_after_first: bool = False) -> tuple[float, int, int, int]:
    """(seconds, tokens, episodes back, episodes failed) of one rollout on n workers."""
    workers = start_workers(n, players, RayConfig(num_cpus=cpus))
    ray.get([w.pid.remote() for w in workers])  # loaded: the models are in memory before the clock starts
    victim = ray.get(workers[-1].pid.remote())
    killed = []

    def kill(_episode) -> None:
        if kill_after_first and not killed:
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    store = EpisodeStore(scratch / f"episodes-{n}-{cpus}-{kill_after_first}.sqlite")
    started = time.time()
    try:
        played = play_on_workers(specs(episodes), workers, PROVENANCE, store, seed=0, max_in_flight=batch, max_turns=64,
                                 on_finished=kill)
    finally:
        stop_workers(workers)
    return time.time() - started, tokens(played), len(played), sum(bool(e.error) for e in played)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--episodes", type=int, default=128)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    _quiet_libraries()
    console = Console()
    cpus = os.cpu_count() or 1
    cfg = load_config(None, [f"model='{resolve_model(args.model)}'"])
    backend = load_backend("transformers", cfg.model, batch_size=args.batch)
    players = Players(cfg.model_dump(mode="json", exclude_none=True), Path("."), cfg.model, backend.dtype, SAMPLING)
    started = time.time()
    here = run_episodes(specs(args.episodes), {"policy": LLMPolicy(backend, SAMPLING)}, PROVENANCE, seed=0,
                        max_in_flight=args.batch)
    results = {f"this process ({torch.get_num_threads()} threads)": (time.time() - started, tokens(here), len(here), 0)}
    del backend
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, object_store_memory=256 * 2**20)
    with tempfile.TemporaryDirectory() as scratch:
        results[f"1 worker of {cpus} CPUs"] = on_workers(1, cpus, players, args.episodes, args.batch, Path(scratch))
        each = cpus / args.workers
        results[f"{args.workers} workers of {each:g} CPU"] = on_workers(args.workers, each, players, args.episodes,
                                                                       args.batch, Path(scratch))
        killed = on_workers(args.workers, each, players, args.episodes, args.batch, Path(scratch), kill_after_first=True)
    table = Table(title=f"{args.model} ({players.dtype}): {args.episodes} arithmetic episodes (level 2, 2 attempts), "
                        f"batch {args.batch}, sampled")
    for column in ("where", "seconds", "tokens", "tokens/s", "vs this process"):
        table.add_column(column, justify="right")
    first = next(iter(results.values()))
    for name, (seconds, count, _, _) in results.items():
        table.add_row(name, f"{seconds:.1f}", str(count), f"{count / seconds:.0f}",
                      f"{(count / seconds) / (first[1] / first[0]):.2f}")
    console.print(table)
    console.print(f"To scale: a worker per {each:g} CPU here; more workers need more cores or GPUs (ray.num_cpus, "
                  "ray.num_gpus per worker) or a cluster (ray.address); each worker holds a copy of every model it "
                  "seats, and the driver alone writes the store.")
    console.print(f"fault check, {args.workers} workers, one killed after the first chunk came back: {killed[2]} of "
                  f"{args.episodes} episodes back, {killed[3]} failed, {args.episodes - killed[2]} lost, "
                  f"in {killed[0]:.1f} s")


if __name__ == "__main__":
    main()
