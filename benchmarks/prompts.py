"""How a model's replies depend on a prompt's wording: games and the proposer.

Games: how often a model answers a game's turn with a legal move, greedily and when sampling.
Positions come from games played by random-legal up to a random depth (seeded); each is asked in
the env's own wording (sparring/envs/games.py builds it).

The proposer (propose-arithmetic-v0): of `--proposals` replies sampled at T=0.8, how many propose an
admissible problem, how many copy a problem the prompt shows, and how many distinct new problems
there are, with the env's wording (the examples as the proposer's own earlier turns) and with the
examples listed in one message, each in round 1 (seed examples only) and later (also two problems
the solver solved and two it failed; stand-ins drawn from arithmetic-v0's levels 1-3 and 5-8).

The 135M default model is sensitive to wording: this is how these prompts were chosen (README has
the figures).

    .venv/bin/python benchmarks/prompts.py [--model smollm2-135m-instruct] [--positions 60] [--proposals 128]
"""

from __future__ import annotations

import argparse
import copy
import random
from collections import Counter

from rich.console import Console
from rich.table import Table

from sparring.cli import _quiet_libraries
from sparring.envs import ENVS, make_env
from sparring.envs.arithmetic import generate_problem, render
from sparring.envs.propose_arithmetic import PROPOSER_SYSTEM, ProposeArithmetic
from sparring.models import load_backend
from sparring.types import Message, SamplingParams


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


def listed(solved, failed, seeds) -> tuple[Message, ...]:
    """The examples listed in one message: how the proposer was first asked."""
    lines = ["Write one new arithmetic problem for a student: integers with + - * / % and parentheses."]
    for title, problems in (("The student solved", solved), ("The student failed", failed), ("Examples", seeds)):
        if problems:
            lines.append(f"{title}: " + "; ".join(problems))
    lines.append("Make it a little harder than what the student solves. Reply with 'Problem: <expression>'.")
    return Message("system", PROPOSER_SYSTEM), Message("user", "\n".join(lines))


def proposer_rows(backend, n: int):
    rng = random.Random(0)
    solved = [render(generate_problem(rng.choice([1, 2, 3]), rng)) for _ in range(50)]
    failed = [render(generate_problem(rng.choice([5, 6, 7, 8]), rng)) for _ in range(50)]
    for when in ("round 1", "later"):
        episodes = []
        for i in range(n):
            shown = (rng.sample(solved, 2), rng.sample(failed, 2)) if when == "later" else ([], [])
            env = ProposeArithmetic(*shown)
            episodes.append((env, shown, env.reset(i)))
        for wording in ("own turns (env)", "listed"):
            prompts = [r.messages if wording != "listed" else listed(*shown, r.state) for _, shown, r in episodes]
            replies = backend.generate(prompts, SamplingParams(temperature=0.8, max_new_tokens=48), seeds=list(range(n)))
            results = [copy.deepcopy(env).step(first.text) for (env, _, _), (first, *_) in zip(episodes, replies)]
            valid = [x for x in results if x.legal]
            new = Counter(x.info["canonical"] for x in valid if not x.info["copied"])
            ops = sum(x.info["operations"] for x in valid) / max(len(valid), 1)
            pct = lambda k: f"{100 * k / n:.0f}"  # noqa: E731
            yield when, wording, pct(len(valid)), pct(len(valid) - sum(new.values())), pct(len(new)), f"{ops:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--positions", type=int, default=60)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--proposals", type=int, default=128)
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
    proposer = Table("shown", "wording", "valid %", "copied %", "distinct new %", "operations (mean)",
                     title=f"proposals of {args.model} (propose-arithmetic-v0, T=0.8, {args.proposals} replies)")
    for row in proposer_rows(backend, args.proposals):
        proposer.add_row(*row)
    Console().print(proposer)


if __name__ == "__main__":
    main()
