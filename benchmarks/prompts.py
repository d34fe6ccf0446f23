"""How often a model answers a game's turn with a legal move, greedily and when sampling.

Positions come from games played by random-legal up to a random depth (seeded); each is asked in
the env's own wording (sparring/envs/games.py builds it). The 135M default model is sensitive to
wording: this is how the games' prompts were chosen (README has the figures).

    .venv/bin/python benchmarks/prompts.py [--model smollm2-135m-instruct] [--positions 60]
"""

from __future__ import annotations

import argparse
import copy
import random

from rich.console import Console
from rich.table import Table

from sparring.cli import _quiet_libraries
from sparring.envs import ENVS, make_env
from sparring.models import load_backend
from sparring.types import SamplingParams


def positions(env_id: str, n: int, seed: int = 0):
    rng = random.Random(seed)
    found = []
    while len(found) < n:
        env = make_env(env_id)
        request = env.reset(rng.randrange(1 << 30))
        for _ in range(rng.randrange(6)):
            result = env.step(rng.choice(request.legal_actions))
            if result.done:
                break
            request = result.next_request
        else:
            found.append((env, request))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--positions", type=int, default=60)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    args = parser.parse_args()
    _quiet_libraries()
    backend = load_backend("transformers", args.model, dtype="auto")
    table = Table("env", "sampling", "legal %", "example reply", title=f"legal replies of {args.model}")
    games = [env_id for env_id in ENVS.ids() if ENVS.load(env_id).num_seats > 1]
    for env_id in games:
        found = positions(env_id, args.positions)
        for temperature in (0.0, 0.8):
            params = SamplingParams(temperature=temperature, max_new_tokens=args.max_new_tokens)
            replies = backend.generate([r.messages for _, r in found], params, seeds=list(range(len(found))))
            legal = sum(copy.deepcopy(env).step(first.text).legal for (env, _), (first, *_) in zip(found, replies))
            table.add_row(env_id, "greedy" if temperature == 0 else f"T={temperature}",
                          f"{100 * legal / len(found):.0f}", repr(replies[0][0].text[:40]))
    Console().print(table)


if __name__ == "__main__":
    main()
