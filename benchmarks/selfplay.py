"""A game run with the embedded model (any recipe): the per-round results it reaches, and its cost.

Runs `sparring run CONFIG` (a fresh run directory; `--out` an existing one is only read), then prints
one row per round from its metrics: per evaluation opponent the win/draw/loss rates (and the win rate
in each seat), the mean reward
(chips a hand, for poker) overall and per seat, the trained policy's illegal-move rate, the game's own
measures where it has them (matrix games: best-response, Nash-outcome, consistency shares), its league
rating, and the minutes each round took (wall clock on this machine: on the 2-core CPU that is the
CPU time of the run). A second table shows how each round trained: the rollout's illegal-reply rate,
the loss and the recipe's own curves per step (first→last: expert-iteration's agreement with the
search, move entropy and legal moves' probability; reinforce's advantage, clip fraction and entropy),
and expert-iteration's share of positions where the policy's best move was the search's before training.

    .venv/bin/python benchmarks/selfplay.py examples/tictactoe.toml
    .venv/bin/python benchmarks/selfplay.py examples/kuhn-poker.toml
    .venv/bin/python benchmarks/selfplay.py examples/matrix-2x2.toml
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

# What a perfect player earns against the scripted equilibrium of Kuhn poker, per seat: the game's value.
REFERENCE = {"kuhn-equilibrium": "equilibrium value: -1/18 = -0.056 as first seat, +1/18 as second, 0 averaged"}


CURVES = ("agreement", "entropy", "legal_mass", "advantage", "clip_fraction")


def first_last(values: list[float] | None) -> str:
    return "-" if not values else f"{values[0]:.2f}→{values[-1]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--out", type=Path, help="run directory [default: a temporary one]")
    parser.add_argument("--set", action="append", default=[], help="config overrides, as for sparring run")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="selfplay-")) / "run"
    started = time.time()
    ran = not (out / "config.toml").exists()
    if ran:
        command = [str(Path(sys.executable).parent / "sparring"), "run", str(args.config), "--out", str(out)]
        for item in args.set:
            command += ["--set", item]
        subprocess.run(command, check=True)
    minutes = (time.time() - started) / 60
    rounds = sorted((json.loads(p.read_text()) for p in out.glob("rounds/*/metrics.json")), key=lambda m: m["round"])
    opponents = list(rounds[0]["eval"]["vs"])
    if not ran:  # an existing run: the minutes its stages took
        minutes = sum(sum(m["seconds"].values()) for m in rounds) / 60
    table = Table(title=f"{args.config.name}: {len(rounds) - 1} rounds in {minutes:.1f} min "
                        f"({'wall, whole run' if ran else 'its stages, read from the run'})")
    table.add_column("round", justify="right")
    for o in opponents:
        table.add_column(f"vs {o}\nwin/draw/loss (win as seat 0 / 1)", justify="right")
        table.add_column(f"vs {o}\nmean reward (seat 0 / 1)", justify="right")
    measured = list(dict.fromkeys(k for m in rounds for k in m["eval"].get("measures", {})))  # a game's own
    for name in ("illegal %", *(f"{k.replace('_', ' ')} %" for k in measured), "rating", "min"):
        table.add_column(name, justify="right")
    for m in rounds:
        cells = []
        for o in opponents:
            v = m["eval"]["vs"].get(o, {})
            seats, wins = v.get("mean_reward_by_seat", {}), v.get("win_by_seat", {})
            cells += [f"{v.get('win', 0):.2f}/{v.get('draw', 0):.2f}/{v.get('loss', 0):.2f}"
                      + (f" ({' / '.join(f'{wins[s]:.2f}' for s in sorted(wins))})" if wins else ""),
                      f"{v.get('mean_reward', 0):+.3f} ({' / '.join(f'{seats[s]:+.2f}' for s in sorted(seats))})"]
        rating = m["eval"].get("rating")
        shares = [m["eval"].get("measures", {}).get(k) for k in measured]
        table.add_row(str(m["round"]), *cells, f"{100 * m['eval']['columns'].get('illegal %', 0):.1f}",
                      *("-" if x is None else f"{100 * x:.1f}" for x in shares),
                      f"{rating['ordinal']:.1f}" if rating else "-", f"{sum(m['seconds'].values()) / 60:.1f}")
    console = Console(width=160)
    console.print(table)
    training = Table(title="how each round trained (first→last step)")
    for col in ("round", "rollout illegal %", *(f"rollout {k.replace('_', ' ')} %" for k in measured), "rows",
                "before training: agreement", "loss", *CURVES):
        training.add_column(col, justify="right")
    for m in rounds[1:]:
        curves = m["train"]
        agreement = m["dataset"].get("agreement")
        shares = [m["rollout"].get("measures", {}).get(k) for k in measured]
        training.add_row(str(m["round"]), f"{100 * m['rollout'].get('illegal_rate', 0):.1f}",
                         *("-" if x is None else f"{100 * x:.1f}" for x in shares), str(m["dataset"]["rows"]),
                         "-" if agreement is None else f"{agreement:.2f}", first_last(curves.get("losses")),
                         *(first_last(curves.get(c)) for c in CURVES))
    console.print(training)
    for o in opponents:
        if o in REFERENCE:
            console.print(f"{o}: {REFERENCE[o]}")
    console.print(f"run directory: {out}  (sparring league {out})")


if __name__ == "__main__":
    main()
