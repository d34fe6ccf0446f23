"""What a short round costs besides its steps: training set-up, merge and save, and loading the result.

Trains the embedded model (LoRA, as the recipes do) with the custom training loop on tic-tac-toe
positions for 1, 2 and 4 steps (`train_loop` with `max_steps`), and with TRL's SFTTrainer for 1 and 4
steps, each call timed whole (loading the base, adding the adapter, the steps, merging, saving the
checkpoint atomically); then loads the saved checkpoint as the next round does (weights and hash).
The fixed cost of a round's training is what a call costs beyond its steps.

    .venv/bin/python benchmarks/round_cost.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sparring.cli import _quiet_libraries
from sparring.envs import make_env
from sparring.models.paths import DEFAULT_MODEL
from sparring.models.precision import resolve_dtype
from sparring.policies.checkpoints import load_model
from sparring.recipes.expert_iteration import ExpertIterationConfig, listwise_batch_loss
from sparring.recipes.training import train_loop, train_sft


def positions(n: int) -> list[dict]:
    rows = []
    for seed in range(n):
        env = make_env("tictactoe-v1")
        request = env.reset(seed)
        for k in range(seed % 5):
            request = env.step(request.legal_actions[(seed + k) % len(request.legal_actions)]).next_request
        moves = list(request.legal_actions)
        target = [1.0 if i == 0 else 0.0 for i in range(len(moves))]
        rows.append({"prompt": [{"role": m.role, "content": m.content} for m in request.messages], "moves": moves,
                     "target": target, "best": moves[0], "completion": [{"role": "assistant", "content": moves[0]}]})
    return rows


def main() -> None:
    _quiet_libraries()
    dtype, _ = resolve_dtype("auto")
    rows = positions(64)
    cfg = ExpertIterationConfig(batch_size=8)
    table = Table(title=f"one round's training on the embedded model (LoRA r=16, batch 8 positions, {dtype}), whole call")
    for col in ("trainer", "steps", "seconds", "per step beyond 1", "load checkpoint s"):
        table.add_column(col, justify="right")
    with tempfile.TemporaryDirectory() as scratch:
        load_model("transformers", DEFAULT_MODEL, dtype=dtype)  # the exported checkpoint, cached before timing
        for name, steps_list in (("custom (listwise)", (1, 2, 4)), ("TRL SFTTrainer", (1, 4))):
            first = None
            for steps in steps_list:
                out = Path(scratch) / f"{name[:3]}-{steps}"
                settings = cfg.model_copy(update={"max_steps": steps})
                started = time.time()
                if name.startswith("custom"):
                    train_loop(DEFAULT_MODEL, rows, settings, "bench", out, listwise_batch_loss(settings), dtype=dtype)
                else:
                    train_sft(DEFAULT_MODEL, rows, settings, "bench", out, dtype=dtype)
                seconds = time.time() - started
                first = first if first is not None else seconds
                started = time.time()
                load_model("transformers", str(out), dtype=dtype)
                loading = time.time() - started
                per_step = "-" if steps == 1 else f"{(seconds - first) / (steps - 1):.1f}"
                table.add_row(name, str(steps), f"{seconds:.1f}", per_step, f"{loading:.1f}")
                Console().print(table)


if __name__ == "__main__":
    main()
