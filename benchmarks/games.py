"""Game checkpoints judged side by side: bare, with search at play time, search alone; transfer; search cost.

For every run directory named (e.g. the runs of `sparring compare`), the base model and the run's last
checkpoint (every round's with `--every-round`) are judged by `--games` games against random-legal and
as many against the game's strong scripted player (Connect Four has none: rules-only search, `mcts`, with
`--simulations`, stands in), half in each seat:
- the bare checkpoint, greedy (as a run's evaluation judges it, no search);
- `mcts(<checkpoint>)`: tree search with the checkpoint's priors over the legal moves
  (`--simulations` per move, random rollouts), as `sparring/search/player.py` plays;
- `mcts`: rules-only search (uniform priors, random rollouts, the same simulations), once per game.
Then each checkpoint's held-out arithmetic accuracy (levels 1-4, 50 problems each, greedy: the set
`make run` reports), beside the base model's: does game play transfer? On Kuhn poker, also the exact
value of each checkpoint's greedy strategy against the equilibrium player (every deal and branch of
its mixing weighed; 200 sampled hands measure chips a hand only to about ±0.1).

Search cost: legal moves scored per second by the search with the base model's priors (every tree of
a batch of positions advancing together, positions cached) against `Backend.logprobs` scoring the
same (position, move) pairs directly in batches of the same size.

    .venv/bin/python benchmarks/games.py RUN_DIR [RUN_DIR ...] [--games 200] [--simulations 32] [--no-search]
        [--opponents random-legal,mcts]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sparring.cli import _quiet_libraries
from sparring.engine import EpisodeSpec, run_episodes
from sparring.heldout import HELDOUT_SEED_BASE, evaluate, heldout_set
from sparring.models.precision import resolve_dtype
from sparring.policies import POLICIES, TRAINED, Policy, strong_players
from sparring.policies.checkpoints import load_model
from sparring.rundir import RunDir
from sparring.search.mcts import SearchConfig, search
from sparring.search.player import SearchPlayer
from sparring.search.priors import PolicyPriors
from sparring.tasks.games import results_by_opponent
from sparring.types import SamplingParams


def play(player, env_id: str, opponents: dict[str, Policy], games: int) -> dict[str, dict[str, float]]:
    specs = [EpisodeSpec(id=f"{opponent}/{g}", env_id=env_id, seed=HELDOUT_SEED_BASE + g,
                         policies=(TRAINED, opponent) if g % 2 == 0 else (opponent, TRAINED),
                         tags={"opponent": opponent}) for opponent in opponents for g in range(games)]
    players = {TRAINED: player, **opponents}
    return results_by_opponent(run_episodes(specs, players, {"round": 0}, seed=1))


def cell(v: dict[str, float] | None) -> str:
    if not v:
        return "-"
    return f"{v['win']:.2f}/{v['draw']:.2f}/{v['loss']:.2f} ({v['mean_reward']:+.3f}) ill {100 * v['illegal_rate']:.1f}%"


def kuhn_greedy_value(player) -> str:
    """The exact chips a hand of `player`'s greedy strategy against the equilibrium player (seat 0 / 1,
    mean): its move at each of the 12 positions a seat can meet, asked once each (again at the env's
    retry after an illegal reply), then every deal and branch of the equilibrium's mixing weighed."""
    from sparring.envs import make_env
    from sparring.policies.scripted import KuhnEquilibrium

    positions = {}
    for seed in range(64):  # deals enough to meet every (card, history) of both seats
        for history in [(), ("check",), ("bet",), ("check", "bet")]:
            env = make_env("kuhn-poker-v1")
            request = env.reset(seed)
            for move in history:
                request = env.step(move).next_request
            positions.setdefault(request.state[:2], (env, request))
    moves = {}
    for (card, history), (env, request) in positions.items():
        result = None
        while result is None or not (result.legal or result.done):
            result = env.step(player.act([request if result is None else result.next_request], [0])[0].text)
        moves[card, history] = env.history[len(history)] if len(env.history) > len(history) else None
    first, second = KuhnEquilibrium().value_against(lambda card, history: moves[card, history])
    return f"{(first + second) / 2:+.3f} ({first:+.3f} / {second:+.3f})"


def search_cost(backend, env_id: str, positions: int, simulations: int) -> tuple[float, float, float]:
    """(moves scored per second in search, moves per second by logprobs directly, share of the
    search's time spent scoring)."""
    from sparring.envs import make_env

    roots = []
    for seed in range(positions):  # positions a random game reaches after a few moves
        env = make_env(env_id)
        request = env.reset(seed)
        for move in range(seed % 4):
            result = env.step(request.legal_actions[(seed * 7 + move) % len(request.legal_actions)])
            if result.done:
                break
            request = result.next_request
        roots.append(request)
    scored, scoring = [], [0.0]
    priors = PolicyPriors(backend)

    def timed(requests):
        started = time.time()
        found = priors(requests)
        scoring[0] += time.time() - started
        return found

    started = time.time()
    original = backend.logprobs

    def counting(prompts, answers):
        scored.append([(tuple(p), a) for p, a in zip(prompts, answers)])
        return original(prompts, answers)

    backend.logprobs = counting
    try:
        search(roots, SearchConfig(simulations=simulations), timed, seeds=list(range(positions)))
    finally:
        backend.logprobs = original
    in_search = time.time() - started
    pairs = [pair for call in scored for pair in call]
    started = time.time()
    for call in scored:  # the same pairs, the same calls, scored directly
        backend.logprobs([p for p, _ in call], [a for _, a in call])
    direct = time.time() - started
    return len(pairs) / in_search, len(pairs) / direct, scoring[0] / in_search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--games", type=int, default=200)
    parser.add_argument("--simulations", type=int, default=32)
    parser.add_argument("--every-round", action="store_true")
    parser.add_argument("--no-transfer", action="store_true")
    parser.add_argument("--no-search", action="store_true", help="judge the checkpoints bare only; no search cost")
    parser.add_argument("--opponents", help="comma-separated opponents (default: random-legal and the game's "
                                            "strong player)")
    args = parser.parse_args()
    _quiet_libraries()
    console = Console(width=200)
    dtype, _ = resolve_dtype("auto")
    first = RunDir(args.runs[0]).config()
    env_id = first.env
    search_config = SearchConfig(simulations=args.simulations)
    opponents = {o: SearchPlayer(search_config) if o == "mcts" else POLICIES.make(o)  # players keep no state
                 for o in (args.opponents.split(",") if args.opponents
                           else ["random-legal", *(strong_players(env_id) or ["mcts"])])}
    checkpoints = {"base": first.model}
    for run in args.runs:
        rounds = RunDir(run).config().rounds
        for r in range(1, rounds + 1) if args.every_round else [rounds]:
            if (run / "rounds" / str(r) / "checkpoint").exists():
                checkpoints[f"{run.name} r{r}"] = str(run / "rounds" / str(r) / "checkpoint")
    heldout = heldout_set("arithmetic-v0", [1, 2, 3, 4], 50)
    table = Table(title=f"{env_id}: {args.games} games per opponent, half in each seat; win/draw/loss (mean reward) "
                        f"illegal %; search: {args.simulations} simulations per move")
    table.add_column("player")
    for o in opponents:
        table.add_column(f"vs {o}")
    exact = env_id == "kuhn-poker-v1"
    if exact:
        table.add_column("exact vs kuhn-equilibrium (seat 0 / 1)")
    table.add_column("arithmetic %", justify="right")
    table.add_column("min", justify="right")
    started = time.time()
    rules = play(SearchPlayer(search_config), env_id, opponents, args.games)
    table.add_row("mcts (rules only)", *(cell(rules.get(o)) for o in opponents), *["-"] * exact, "-",
                  f"{(time.time() - started) / 60:.1f}")
    for name, path in checkpoints.items():
        model = load_model("transformers", path, dtype=dtype)
        backend = model.backend
        started = time.time()
        greedy = model.policy(SamplingParams(temperature=0.0, max_new_tokens=16))
        bare = play(greedy, env_id, opponents, args.games)
        math = "-" if args.no_transfer else f"{100 * evaluate(backend, heldout, 48, {'round': 0})['by_env']['arithmetic-v0']['accuracy']:.1f}"
        table.add_row(name, *(cell(bare.get(o)) for o in opponents), *[kuhn_greedy_value(greedy)] * exact, math,
                      f"{(time.time() - started) / 60:.1f}")
        if not args.no_search:
            started = time.time()
            searched = play(SearchPlayer(search_config, PolicyPriors(backend), name), env_id, opponents, args.games)
            table.add_row(f"mcts({name})", *(cell(searched.get(o)) for o in opponents), *["-"] * exact, "-",
                          f"{(time.time() - started) / 60:.1f}")
        console.print(table)
    if args.no_search:
        return
    base = load_model("transformers", first.model, dtype=dtype).backend
    in_search, direct, share = search_cost(base, env_id, positions=64, simulations=args.simulations)
    console.print(f"search cost on {env_id} (base model priors, 64 positions, {args.simulations} simulations): "
                  f"{in_search:.0f} legal moves scored/s in search, {direct:.0f}/s by logprobs directly on the same "
                  f"calls ({in_search / direct:.2f}x); scoring is {100 * share:.0f}% of the search's time")


if __name__ == "__main__":
    main()
