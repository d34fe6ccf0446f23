"""Rollout engine throughput against the backend's raw batched speed and a one-at-a-time loop.

Four measurements on the same model, sampling parameters and env:
  raw     one `generate` call on IN_FLIGHT first-turn prompts, BATCH rows decoding at once (the
          backend's ceiling: as rows end, the next prompts join the batch)
  engine  `run_episodes` over EPISODES multi-turn episodes with IN_FLIGHT open at once (BATCH rows of
          each call decoding at once), one LLM policy in every seat, writing every finished episode to
          a SQLite store
  replay  every prompt the engine served, in one `generate` call (BATCH rows at once, rows of like
          length together) with nothing kept from earlier calls: the engine's own workload, whose later
          turns have longer prompts than the first, without the prefix cache, which the engine's later
          turns continue from (an arithmetic retry starts with the first attempt's prompt and answer)
  naive   the same episodes played one at a time, one prompt per generate call (a subset: it is slow)
Tokens are generated tokens (end-of-sequence and padding excluded). On arithmetic-v0 (level 2) an
episode has two attempts; on a game, the one policy plays both seats, so every call serves the
pending turns of both seats of every game in flight. With more episodes than IN_FLIGHT the engine
refills as episodes end (a round's real shape); the round's tail, calls of fewer than BATCH rows once
no episode is left to start, is printed apart.

    .venv/bin/python benchmarks/engine.py [--env arithmetic-v0|tictactoe-v1] [--batch 64] [--in-flight 256] [--episodes 512]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from sparring.cli import _quiet_libraries
from sparring.engine import EpisodeSpec, run_episodes
from sparring.envs import ENVS, make_env
from sparring.models import load_backend
from sparring.models.precision import cpu_name
from sparring.models.transformers_backend import PrefixCache
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
    parser.add_argument("--episodes", type=int, default=512)
    parser.add_argument("--in-flight", type=int, default=256, help="rollout.max_in_flight (the config's default)")
    parser.add_argument("--naive-episodes", type=int, default=12)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args()
    _quiet_libraries()
    backend = load_backend("transformers", args.model, batch_size=args.batch)
    params = SamplingParams(temperature=0.8, max_new_tokens=args.max_new_tokens, seed=0)
    policy = LLMPolicy(backend, params)
    prompts = [make_env(args.env, **ENV_KWARGS.get(args.env, {})).reset(i).messages for i in range(args.in_flight)]
    backend.generate(prompts[:8], params)  # warm-up
    backend.prefixes = PrefixCache()  # nothing kept from the warm-up: raw's rows start fresh, as first turns do

    steps: list[int] = []  # rows of each decoding step (a forward pass of one new token a row)
    counting = backend.model.register_forward_hook(
        lambda _, inputs, kwargs, out: steps.append(len(kwargs["input_ids"])) if kwargs["input_ids"].shape[1] == 1 else None,
        with_kwargs=True)
    started = time.time()
    raw_tokens = sum(len(c[0].token_ids) for c in backend.generate(prompts, params))
    raw_seconds = time.time() - started
    counting.remove()
    raw = raw_tokens / raw_seconds

    calls: list[tuple[int, float]] = []  # (rows, seconds) of each of the engine's generate calls
    generate = backend.generate

    def timed_generate(prompts, *rest):
        started = time.time()
        out = generate(prompts, *rest)
        calls.append((len(prompts), time.time() - started))
        return out

    backend.generate = timed_generate
    with tempfile.TemporaryDirectory() as scratch:
        store = EpisodeStore(Path(scratch) / "episodes.sqlite")
        started = time.time()
        episodes = run_episodes(specs(args.env, args.episodes), {"p": policy}, {"run_id": "bench", "round": 1}, seed=0,
                                store=store, max_in_flight=args.in_flight)
        engine_seconds = time.time() - started
    backend.generate = generate
    engine_tokens = sum(len(t.completion.token_ids) for e in episodes for t in e.turns)
    engine = engine_tokens / engine_seconds
    turns = sum(len(e.turns) for e in episodes)
    thin = [(rows, seconds) for rows, seconds in calls if rows < args.in_flight]

    served = [t.prompt for e in episodes for t in e.turns]
    reused = backend.prefixes.reused_tokens
    served_tokens = sum(len(ids) for ids in backend.tokenizer([backend.render(p) for p in served],
                                                               add_special_tokens=False)["input_ids"])
    backend.prefixes = PrefixCache()
    started = time.time()
    replay_tokens = sum(len(c[0].token_ids) for c in backend.generate(served, params, list(range(len(served)))))
    replay = replay_tokens / (time.time() - started)

    started, naive_tokens = time.time(), 0
    for spec in specs(args.env, args.naive_episodes, offset=10**6):
        naive_tokens += sum(len(t.completion.token_ids) for e in run_episodes(
            [spec], {"p": policy}, {"run_id": "bench", "round": 1}, seed=0) for t in e.turns)
    naive = naive_tokens / (time.time() - started)

    table = Table(title=f"{args.model} ({backend.dtype}) on {args.env}: generated tokens/s, batch {args.batch}, "
                        f"max {args.max_new_tokens} new tokens; {cpu_name()}, {os.cpu_count()} cores")
    for col in ("mode", "episodes", "turns", "generate calls", "tokens", "tokens/s", "vs raw", "vs naive"):
        table.add_column(col, justify="right")
    table.add_row("raw", "-", str(args.in_flight), "1", str(raw_tokens), f"{raw:.0f}", "1.00", f"{raw / naive:.1f}x")
    table.add_row("engine", str(args.episodes), str(turns), str(len(calls)), str(engine_tokens), f"{engine:.0f}",
                  f"{engine / raw:.2f}", f"{engine / naive:.1f}x")
    table.add_row("replay", "-", str(turns), "1", str(replay_tokens), f"{replay:.0f}", f"{replay / raw:.2f}",
                  f"{replay / naive:.1f}x")
    table.add_row("naive", str(args.naive_episodes), "-", "-", str(naive_tokens), f"{naive:.0f}", f"{naive / raw:.2f}",
                  "1.0x")
    console = Console()
    console.print(table)
    console.print(f"engine / replay {engine / replay:.2f}: on the engine's own prompts, the prefix cache's gain less what "
                  f"scheduling loses. "
                  f"Batching gain of this CPU (raw / naive): {raw / naive:.1f}x. The round's tail: {len(thin)} of "
                  f"{len(calls)} calls had fewer than {args.in_flight} rows ({', '.join(str(r) for r, _ in thin) or 'none'}), "
                  f"{sum(s for _, s in thin):.1f} s of the engine's {engine_seconds:.1f} s. Prefix cache: "
                  f"{reused} of the engine's {served_tokens} prompt tokens were not prefilled again.")
    batched, single = prefill_seconds(backend, prompts[:args.batch])
    console.print(f"Raw's {raw_seconds:.1f} s: {len(steps)} decoding steps of {sum(steps) / len(steps):.0f} rows in the "
                  f"mean (at most {args.batch}), {raw_tokens / len(steps):.0f} of them still generating (ended rows leave "
                  f"the batch once a quarter of it has ended, and the next prompts join). Prefill of {args.batch} prompts: "
                  f"{batched:.2f} s batched, "
                  f"{single:.1f} s one at a time ({single / batched:.1f}x from batching).")


@torch.inference_mode()
def prefill_seconds(backend, prompts) -> tuple[float, float]:
    """Seconds of one forward pass over the prompts' tokens: in one padded batch, and one prompt at a time."""
    texts = [backend.render(p) for p in prompts]
    enc = backend.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    started = time.time()
    backend.model(**enc)
    batched = time.time() - started
    started = time.time()
    for text in texts:
        backend.model(**backend.tokenizer([text], return_tensors="pt", add_special_tokens=False))
    return batched, time.time() - started


if __name__ == "__main__":
    main()
