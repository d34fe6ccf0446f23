"""Rollout engine throughput against the backend's raw batched speed and a one-at-a-time loop.

Three measurements on the same model, sampling parameters and env:
  raw     one batched `generate` call on BATCH first-turn prompts (the backend's ceiling)
  engine  `run_episodes` over EPISODES multi-turn episodes with BATCH in flight, one LLM policy in
          every seat, writing every finished episode to a SQLite store
  naive   the same episodes played one at a time, one prompt per generate call (a subset: it is slow)
Tokens are generated tokens (end-of-sequence and padding excluded). On arithmetic-v0 (level 2) an
episode has two attempts; on a game, the one policy plays both seats, so every call serves the
pending turns of both seats of every game in flight.

    .venv/bin/python benchmarks/engine.py [--env arithmetic-v0|tictactoe-v1] [--batch 64] [--episodes 128]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sparring.cli import _quiet_libraries
from sparring.engine import EpisodeSpec, run_episodes
from sparring.envs import ENVS, make_env
from sparring.models import load_backend
from sparring.policies import LLMPolicy
from sparring.store import EpisodeStore
from sparring.types import SamplingParams

ENV_KWARGS = {"arithmetic-v0": {"level": 2, "max_attempts": 2}}


def specs(env_id: str, n: int, offset: int = 0) -> list[EpisodeSpec]:
    seats = ENVS.load(env_id).num_seats
    return [EpisodeSpec(id=f"e{offset + i}", env_id=env_id, seed=offset + i, policies=("p",) * seats,
                        env_kwargs=ENV_KWARGS.get(env_id, {}), tags={"stage": "bench"}) for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--env", default="arithmetic-v0")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--episodes", type=int, default=128)
    parser.add_argument("--naive-episodes", type=int, default=12)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args()
    _quiet_libraries()
    backend = load_backend("transformers", args.model, batch_size=args.batch)
    params = SamplingParams(temperature=0.8, max_new_tokens=args.max_new_tokens, seed=0)
    policy = LLMPolicy(backend, params)
    prompts = [make_env(args.env, **ENV_KWARGS.get(args.env, {})).reset(i).messages for i in range(args.batch)]
    backend.generate(prompts[:8], params)  # warm-up

    started = time.time()
    raw_tokens = sum(len(c[0].token_ids) for c in backend.generate(prompts, params))
    raw = raw_tokens / (time.time() - started)

    with tempfile.TemporaryDirectory() as scratch:
        store = EpisodeStore(Path(scratch) / "episodes.sqlite")
        calls_before = backend.generate_calls
        started = time.time()
        episodes = run_episodes(specs(args.env, args.episodes), {"p": policy}, {"run_id": "bench", "round": 1}, seed=0,
                                store=store, max_in_flight=args.batch)
        engine_seconds = time.time() - started
    engine_tokens = sum(len(t.completion.token_ids) for e in episodes for t in e.turns)
    engine = engine_tokens / engine_seconds
    turns = sum(len(e.turns) for e in episodes)
    engine_calls = backend.generate_calls - calls_before

    started, naive_tokens = time.time(), 0
    for spec in specs(args.env, args.naive_episodes, offset=10**6):
        naive_tokens += sum(len(t.completion.token_ids) for e in run_episodes(
            [spec], {"p": policy}, {"run_id": "bench", "round": 1}, seed=0) for t in e.turns)
    naive = naive_tokens / (time.time() - started)

    table = Table(title=f"{args.model} on {args.env}: generated tokens/s, batch {args.batch}, "
                        f"max {args.max_new_tokens} new tokens")
    for col in ("mode", "episodes", "turns", "generate calls", "tokens", "tokens/s", "vs raw", "vs naive"):
        table.add_column(col, justify="right")
    table.add_row("raw", "-", str(args.batch), "1", str(raw_tokens), f"{raw:.0f}", "1.00", f"{raw / naive:.1f}x")
    table.add_row("engine", str(args.episodes), str(turns), str(engine_calls), str(engine_tokens), f"{engine:.0f}",
                  f"{engine / raw:.2f}", f"{engine / naive:.1f}x")
    table.add_row("naive", str(args.naive_episodes), "-", "-", str(naive_tokens), f"{naive:.0f}", f"{naive / raw:.2f}",
                  "1.0x")
    Console().print(table)


if __name__ == "__main__":
    main()
