"""float32 against bfloat16 on this machine: generation and training throughput, side by side.

For each dtype, on the embedded model:
  generate   one seeded batched call, BATCH arithmetic prompts x MAX_NEW tokens, T=0.8 (after a warm-up)
  same when  the same prompts and seeds generated again in other batches (every third prompt in one
  rebatched  call, the rest in another, BATCH/4 rows per forward pass): the fraction of completions that come out identical; a resumed run
             batches its episodes differently, so this is how far a resumed run equals an
             uninterrupted one
  train      rest-em LoRA training steps of 8 rows (autocast to the dtype), seconds per step
Prints the CPU, its bf16-related flags, and what `backend.dtype = "auto"` picks here.

    .venv/bin/python benchmarks/precision.py [--batch 64] [--max-new-tokens 48] [--train-rows 64]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sparring.cli import _quiet_libraries
from sparring.envs import make_env
from sparring.models import DEFAULT_MODEL, load_backend
from sparring.models.precision import cpu_flags, cpu_name, resolve_dtype
from sparring.recipes.rest_em import RestEMConfig, train
from sparring.types import SamplingParams

FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")


class StepClock:
    """A training progress hook that notes when each step ends."""

    def __init__(self):
        self.times: list[float] = []

    def start(self, total: int) -> None:
        self.times = [time.time()]

    def advance(self, n: int = 1, loss: float | None = None) -> None:
        self.times.append(time.time())

    def seconds_per_step(self) -> float:
        steps = self.times[2:]  # the first step warms up
        return (steps[-1] - self.times[1]) / len(steps) if steps else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--train-rows", type=int, default=64)
    args = parser.parse_args()
    _quiet_libraries()
    console = Console(width=110)
    flags = cpu_flags()
    console.print(f"CPU: {cpu_name()}; flags: " + ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in FLAGS))
    console.print("backend.dtype = auto picks %s (%s)" % resolve_dtype("auto"))

    envs = [make_env("arithmetic-v0", level=1 + i % 4) for i in range(args.batch)]
    prompts = [env.reset(i).messages for i, env in enumerate(envs)]
    rows = []
    for i in range(args.train_rows):
        env = make_env("arithmetic-v0", level=1 + i % 4)
        request = env.reset(10_000 + i)
        rows.append({"prompt": [{"role": m.role, "content": m.content} for m in request.messages],
                     "completion": [{"role": "assistant", "content": env.reference_solution()}]})
    params = SamplingParams(temperature=0.8, max_new_tokens=args.max_new_tokens)
    seeds = list(range(args.batch))

    table = Table(title=f"{args.model}: float32 vs bfloat16 on this CPU")
    for col in ("dtype", "generate tok/s", "same when rebatched", "train s/step (LoRA, 8 rows)"):
        table.add_column(col, justify="right")
    for dtype in ("float32", "bfloat16"):
        backend = load_backend("transformers", args.model, dtype=dtype, batch_size=args.batch)
        backend.generate(prompts[:8], params, seeds[:8])  # warm-up
        started = time.time()
        together = backend.generate(prompts, params, seeds)
        tokens = sum(len(c[0].token_ids) for c in together)
        speed = tokens / (time.time() - started)
        backend.batch_size = max(1, args.batch // 4)  # as a resumed run does: other batch-mates, other padding
        thirds = set(range(0, args.batch, 3))
        apart = {}
        for part in (sorted(thirds), sorted(set(range(args.batch)) - thirds)):
            for i, completions in zip(part, backend.generate([prompts[i] for i in part], params, [seeds[i] for i in part])):
                apart[i] = completions
        same = sum(together[i][0].token_ids == apart[i][0].token_ids for i in range(args.batch))
        del backend
        clock = StepClock()
        with tempfile.TemporaryDirectory() as scratch:
            train(args.model, rows, RestEMConfig(batch_size=8), Path(scratch) / "ckpt", progress=clock, dtype=dtype)
        table.add_row(dtype, f"{speed:.0f}", f"{same}/{len(together)}", f"{clock.seconds_per_step():.2f}")
    console.print(table)


if __name__ == "__main__":
    main()
