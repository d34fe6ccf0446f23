"""LoRA vs full fine-tuning for rest-em on this machine: seconds per step and held-out gain.

Samples the base model on arithmetic levels 1-3 (k per problem), keeps the verified answers with
rest-em's rules, trains the same rows once with LoRA and once fully, then evaluates both on the
held-out set. Prints one table: rows, steps, s/step, train seconds, held-out accuracy per level.

    .venv/bin/python benchmarks/finetune.py [--model smollm2-135m-instruct] [--problems 96]
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
from sparring.heldout import evaluate, heldout_set
from sparring.models import load_backend
from sparring.models.precision import resolve_dtype
from sparring.policies import TRAINED, LLMPolicy
from sparring.recipes.rest_em import RestEMConfig, build, train
from sparring.types import SamplingParams


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--problems", type=int, default=96)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--eval-per-level", type=int, default=50)
    parser.add_argument("--lora-lr", type=float, default=RestEMConfig().learning_rate)
    parser.add_argument("--full-lr", type=float, default=2e-5)
    args = parser.parse_args()
    _quiet_libraries()
    console = Console()

    base = load_backend("transformers", args.model)
    specs = [EpisodeSpec(id=f"{p}/{k}", env_id="arithmetic-v0", seed=p, policies=(TRAINED,),
                         env_kwargs={"level": 1 + p % 3}, tags={"stage": "train", "level": 1 + p % 3})
             for p in range(args.problems) for k in range(args.samples)]
    episodes = run_episodes(specs, {TRAINED: LLMPolicy(base, SamplingParams(temperature=0.8, max_new_tokens=48))},
                            {"run_id": "bench", "round": 1}, seed=0)
    heldout = heldout_set("arithmetic-v0", [1, 2, 3, 4], args.eval_per_level)
    results = {"base": (evaluate(base, heldout, 48, {"round": 0})["by_env"]["arithmetic-v0"], None)}
    del base
    rows = build(episodes, RestEMConfig())
    console.print(f"{len(episodes)} samples, {len(rows)} verified rows kept")

    with tempfile.TemporaryDirectory() as scratch:
        for mode, lr in (("lora", args.lora_lr), ("full", args.full_lr)):
            cfg = RestEMConfig(finetune=mode, learning_rate=lr)
            trained = train(args.model, rows, cfg, Path(scratch) / mode, dtype=resolve_dtype("auto")[0])
            started = time.time()
            accuracy = evaluate(load_backend("transformers", str(trained.checkpoint)), heldout, 48,
                                {"round": 1})["by_env"]["arithmetic-v0"]
            console.print(f"{mode}: trained in {trained.seconds:.0f} s, evaluated in {time.time() - started:.0f} s")
            results[f"{mode} (lr {lr:g})"] = (accuracy, trained)

    table = Table(title=f"rest-em, one round from {args.model}: {len(rows)} rows")
    for col in ("model", "steps", "s/step", "train s", "L1", "L2", "L3", "L4", "mean"):
        table.add_column(col, justify="right")
    for name, (acc, trained) in results.items():
        by_level = acc["accuracy_by_level"]
        steps = len(trained.losses) if trained else 0
        table.add_row(name, str(steps) if trained else "-", f"{trained.seconds / steps:.2f}" if trained else "-",
                      f"{trained.seconds:.0f}" if trained else "-",
                      *(f"{100 * by_level[str(lv)]:.0f}" for lv in (1, 2, 3, 4)), f"{100 * acc['accuracy']:.1f}")
    console.print(table)


if __name__ == "__main__":
    main()
