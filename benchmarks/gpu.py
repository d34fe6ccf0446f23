"""The GPU path end to end, wherever a CUDA device is present (the project is built on CPUs, so this is
what checks it the first time a GPU is at hand): a two-round arithmetic run of the tiny model on the
transformers backend (backend.dtype auto must pick bfloat16 on a GPU with it, the model must sit on
the GPU), then, where vLLM is installed (`pip install -e ".[vllm]"`), the same run on backend vllm
(round 1's LoRA served as an adapter on the first model, round 2's stacked on it). It prints what ran
and how long each took; without a GPU it says so and runs nothing.

    .venv/bin/python benchmarks/gpu.py [--out runs/gpu]
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import torch
from rich.console import Console

from sparring import loop
from sparring.cli import _quiet_libraries
from sparring.config import load_config
from sparring.models.precision import resolve_dtype
from sparring.models.server_process import installed_tool
from sparring.models.tiny import build_tiny_model
from sparring.rundir import RunDir

RUN = ["rounds=2", "rollout.problems_per_round=32", "rollout.samples_per_problem=4", "rollout.max_new_tokens=16",
       "eval.levels=[1, 2]", "eval.problems_per_level=20", "eval.max_new_tokens=16", "rest_em.min_reward=0.0"]


def run(name: str, model: Path, out: Path, console: Console, extra: list[str]) -> None:
    cfg = load_config(None, [*RUN, f"model='{model}'", f"name='{name}'", *extra])
    loop.check_run_config(cfg)
    run_dir = RunDir.create(out / name, cfg)
    started = time.time()
    history = loop.run(cfg, run_dir, Console(quiet=True))
    run_dir.close()
    episode = run_dir.store.episodes(2, "train")[0]
    console.print(f"{name}: 2 rounds in {time.time() - started:.0f} s; held-out {[h['eval']['score'] for h in history]}; "
                  f"seconds per stage in round 2 {history[-1]['seconds']}; an episode's policy: "
                  f"{episode.provenance['policies']['policy']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/gpu"))
    args = parser.parse_args()
    _quiet_libraries()
    console = Console()
    if not torch.cuda.is_available():
        console.print("no CUDA device here: nothing run")
        return
    dtype, why = resolve_dtype("auto")
    console.print(f"{torch.cuda.get_device_name()}: dtype auto -> {dtype} ({why})")
    shutil.rmtree(args.out, ignore_errors=True)
    model = build_tiny_model(args.out / "tiny")
    from sparring.models.transformers_backend import TransformersBackend

    backend = TransformersBackend(str(model))
    console.print(f"the transformers backend holds the model on {backend.model.device} in {backend.model.dtype}")
    assert backend.model.device.type == "cuda", "the transformers backend left the model off the GPU"
    del backend
    run("transformers", model, args.out, console, [])
    if installed_tool("vllm").exists():
        run("vllm", model, args.out, console, ["backend.name='vllm'"])
    else:
        console.print("vllm is not installed (pip install -e '.[vllm]'): its run skipped")


if __name__ == "__main__":
    main()
