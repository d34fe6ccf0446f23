"""What the curate stage costs beside the rollout that made its rows, on the embedded model.

Plays `--episodes` arithmetic episodes (levels 1-4, 4 samples per problem, the default sampling)
with the embedded SmolLM2-135M-Instruct through the rollout engine, timing it, and stores them (a
second invocation with the same --store reuses them and their recorded time). Then times, on those
episodes, the curate stage with every filter and metric on: decontamination against a 200-problem
held-out set, exact and MinHash near-duplicate removal, the QDC metrics (the Vendi score's
embeddings included) and B-STaR's measures over rest-em's rows; once within the round, and once
against an earlier round of as many kept episodes. Prints both times and their ratio.

    .venv/bin/python benchmarks/curate.py [--episodes 10000] [--store runs/curate-bench]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sparring.balance import round_balance
from sparring.cli import _quiet_libraries
from sparring.curate import CurateConfig, curate
from sparring.engine import EpisodeSpec, run_episodes
from sparring.heldout import heldout_set
from sparring.models.paths import DEFAULT_MODEL
from sparring.models.precision import resolve_dtype
from sparring.policies import TRAINED
from sparring.policies.checkpoints import load_model
from sparring.qdc import qdc_metrics
from sparring.recipes.rest_em import RestEMConfig, build
from sparring.reports.console import progress_bar
from sparring.store import EpisodeStore
from sparring.types import SamplingParams

PASS = {"arithmetic-v0": 0.5}
SAMPLES = 4


def rollout(store_dir: Path, episodes: int, console: Console) -> tuple[list, float]:
    """The stored episodes and the seconds their rollout took, playing them first where missing."""
    store_dir.mkdir(parents=True, exist_ok=True)
    store, record = EpisodeStore(store_dir / "episodes.sqlite"), store_dir / "rollout.json"
    if record.exists() and store.count() >= episodes:
        return store.episodes(1, "train")[:episodes], json.loads(record.read_text())["seconds"]
    if store.count():
        raise SystemExit(f"{store_dir} holds an unfinished rollout; delete it and run again")
    dtype, _ = resolve_dtype("auto")
    model = load_model("transformers", DEFAULT_MODEL, dtype=dtype, batch_size=64)
    specs = [EpisodeSpec(id=f"r1/train/{p}/{k}", env_id="arithmetic-v0", seed=1000 + p, policies=(TRAINED,),
                         env_kwargs={"level": 1 + p % 4}, tags={"stage": "train", "problem": p, "sample": k})
             for p in range(episodes // SAMPLES) for k in range(SAMPLES)]
    started = time.time()
    with progress_bar(console, "rollout", len(specs)) as bar:
        run_episodes(specs, {TRAINED: model.policy(SamplingParams(temperature=0.8, top_k=50, max_new_tokens=48))},
                     {"run_id": "curate-bench", "round": 1}, seed=0, store=store, on_finished=bar)
    seconds = time.time() - started
    record.write_text(json.dumps({"seconds": seconds, "dtype": dtype}))
    return store.episodes(1, "train"), seconds


def curate_stage(episodes, earlier, evaluation: list[str]) -> tuple[float, dict]:
    """Seconds of the curate stage with every filter and metric on, and what it decided."""
    started = time.time()
    curated = curate(episodes, earlier, CurateConfig(), evaluation, PASS)
    qdc = qdc_metrics([e for e in episodes if e.id not in curated.ids("error")], PASS, curated.ids("near_duplicate"))
    balance = round_balance(episodes, build(curated.kept, RestEMConfig()), PASS, n_star=8)
    return time.time() - started, {"curate": curated.counts(), "qdc": qdc, "balance": balance, "kept": curated.kept}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=10_000)
    parser.add_argument("--store", type=Path, default=Path("runs/curate-bench"))
    args = parser.parse_args()
    _quiet_libraries()
    console = Console()
    episodes, rollout_seconds = rollout(args.store, args.episodes, console)
    tokens = sum(len(t.completion.token_ids) for e in episodes for t in e.turns)
    evaluation = [item["prompt"] for item in heldout_set("arithmetic-v0", [1, 2, 3, 4], 50)]
    curate_stage(episodes[:50], [], evaluation)  # load the embedding model and datasketch once, untimed
    within, result = curate_stage(episodes, [], evaluation)
    across, result_across = curate_stage(episodes, result["kept"], evaluation)
    table = Table(title=f"curate stage on {len(episodes)} episodes vs the rollout that generated them")
    for col in ("what", "seconds", "share of the rollout"):
        table.add_column(col, justify="right")
    table.add_row(f"rollout ({tokens} tokens, {tokens / rollout_seconds:.0f} tok/s)", f"{rollout_seconds:.1f}", "100%")
    table.add_row("curate: within the round", f"{within:.2f}", f"{100 * within / rollout_seconds:.2f}%")
    table.add_row(f"curate: against {len(result['kept'])} kept in an earlier round", f"{across:.2f}",
                  f"{100 * across / rollout_seconds:.2f}%")
    console.print(table)
    console.print(f"within the round: {result['curate']}; against the earlier round: {result_across['curate']}")
    console.print(f"QDC: {json.dumps(result['qdc'])}")
    console.print(f"B-STaR: {json.dumps(result['balance'])}")


if __name__ == "__main__":
    main()
