"""DPO on this machine: seconds per step and peak memory, LoRA vs full fine-tuning, reference included.

Samples the base model on arithmetic levels 1-3 (k per problem), pairs verified with failed answers
by the dpo recipe's rules, and scores the reference log-probabilities once (as a round's build
does). Then trains the same pairs in a fresh process per variant and reports seconds per step and
the process's peak resident memory:
  lora, full           sparring's way: the reference log-probabilities come stored with the rows
  lora/full, TRL ref   TRL computing the reference each step (LoRA: the adapter switched off;
                       full: a second copy of the model in memory), for what storing them saves

    .venv/bin/python benchmarks/dpo.py [--model smollm2-135m-instruct] [--problems 96] [--steps 8]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

VARIANTS = {"lora": ("lora", True), "full": ("full", True), "lora, TRL ref": ("lora", False),
            "full, TRL ref": ("full", False)}


def make_pairs(model: str, problems: int, samples: int, path: Path) -> tuple[int, float]:
    from sparring.engine import EpisodeSpec, run_episodes
    from sparring.policies import TRAINED, LLMPolicy
    from sparring.policies.checkpoints import load_model
    from sparring.recipes.base import BuildContext
    from sparring.recipes.dpo import DPOSettings, build, with_reference
    from sparring.types import SamplingParams

    loaded = load_model("transformers", model)
    specs = [EpisodeSpec(id=f"{p}/{k}", env_id="arithmetic-v0", seed=p, policies=(TRAINED,),
                         env_kwargs={"level": 1 + p % 3}, tags={"stage": "train"})
             for p in range(problems) for k in range(samples)]
    episodes = run_episodes(specs, {TRAINED: LLMPolicy(loaded.backend, SamplingParams(temperature=0.8, max_new_tokens=48))},
                            {"run_id": "bench", "round": 1}, seed=0)
    started = time.time()
    rows = with_reference(build(episodes, DPOSettings()), DPOSettings(), BuildContext(1, loaded))
    scoring = time.time() - started
    if not rows:
        raise SystemExit(f"no pair from {len(episodes)} samples: no problem had both a right and a wrong answer")
    path.write_text(json.dumps(rows))
    return len(rows), scoring


def train_variant(model: str, pairs: Path, variant: str, steps: int, out: Path) -> dict:
    """In this process: train `steps` steps and report seconds per step and peak memory."""
    from transformers import AutoModelForCausalLM
    from trl import DPOConfig, DPOTrainer

    from sparring.models.paths import resolve_model
    from sparring.models.precision import resolve_dtype
    from sparring.recipes.dpo import DPOSettings, train
    from sparring.recipes.training import train_with

    class StepClock:  # the trainer's progress hook: the first step's start and the last step's end
        def start(self, total: int) -> None:
            self.began = time.time()

        def advance(self, n: int = 1, loss: float | None = None) -> None:
            self.ended = time.time()

    clock = StepClock()
    finetune, stored = VARIANTS[variant]
    rows = json.loads(pairs.read_text())
    cfg = DPOSettings(finetune=finetune, batch_size=8, epochs=steps * 8 / len(rows))
    dtype = resolve_dtype("auto")[0]
    if stored:
        result = train(model, rows, cfg, out, dtype=dtype, progress=clock)
    else:
        plain = [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows]
        reference = ({} if finetune == "lora" else
                     {"ref_model": AutoModelForCausalLM.from_pretrained(resolve_model(model))})
        result = train_with(DPOTrainer, DPOConfig, model, plain, cfg, "dpo", out, dtype=dtype,
                            args={"beta": cfg.beta}, trainer=reference, progress=clock)
    return {"steps": len(result.losses), "seconds": clock.ended - clock.began,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--problems", type=int, default=96)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # one variant, in a child process
    parser.add_argument("--pairs", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    from sparring.cli import _quiet_libraries

    _quiet_libraries()
    if args.variant:
        with tempfile.TemporaryDirectory() as scratch:
            print(json.dumps(train_variant(args.model, args.pairs, args.variant, args.steps, Path(scratch) / "ckpt")))
        return
    console = Console()
    with tempfile.TemporaryDirectory() as scratch:
        pairs = Path(scratch) / "pairs.json"
        count, scoring = make_pairs(args.model, args.problems, args.samples, pairs)
        console.print(f"{count} pairs; reference log-probabilities of all {2 * count} answers scored in {scoring:.1f} s "
                      "with the rollout's model")
        table = Table(title=f"DPO on {args.model}: {args.steps} steps of 8 pairs")
        for col in ("variant", "steps", "s/step", "peak memory MB"):
            table.add_column(col, justify="right")
        for variant in VARIANTS:
            child = subprocess.run([sys.executable, __file__, "--model", args.model, "--steps", str(args.steps),
                                    "--variant", variant, "--pairs", str(pairs)], capture_output=True, text=True)
            if child.returncode:
                table.add_row(variant, "failed", "", child.stderr.strip().splitlines()[-1][:60])
                continue
            measured = json.loads(child.stdout.strip().splitlines()[-1])
            table.add_row(variant, str(measured["steps"]), f"{measured['seconds'] / measured['steps']:.1f}",
                          f"{measured['peak_mb']:.0f}")
        console.print(table)


if __name__ == "__main__":
    main()
