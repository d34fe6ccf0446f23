"""The train stage in processes of its own, through `accelerate launch` (TRL's own path to several
GPUs or machines): `launch.launcher = "accelerate"`, `launch.num_processes`, `launch.args`.

The run writes a job file (the recipe, its settings, the round's stored rows, the parent checkpoint,
the seed) and launches `python -m sparring.launch JOB` in every process; each runs the same train
function as the in-process stage, TRL's trainers spreading the batches over the processes, and only
the main process writes the checkpoint and its training record (the others save to a scratch
directory that is thrown away), so the round's record is the same as in one process. Recipes that
train with our own loop (`train_loop`: reinforce, expert-iteration) run in one process only.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from sparring.errors import ConfigError, SparringError
from sparring.models.server_process import installed_tool
from sparring.recipes.base import TrainResult
from sparring.sections import Section


class LaunchConfig(Section):
    shapes = "train"
    shapes_by_key = {"launcher": None}

    launcher: Literal["in-process", "accelerate"] = Field("in-process", description=(
        "in-process: the train stage in the run's process; accelerate: `accelerate launch` processes"))
    num_processes: int = Field(1, ge=1, description="accelerate: training processes (one per GPU; CPUs: gloo)")
    args: list[str] = Field(default_factory=list, description=(
        "accelerate: more `accelerate launch` arguments (e.g. ['--config_file', 'fsdp.yaml'] or ['--multi_gpu'])"))


def check_launch(cfg: LaunchConfig, recipe) -> None:
    if cfg.launcher == "in-process" and (cfg.num_processes > 1 or cfg.args):
        raise ConfigError("launch.num_processes and launch.args take effect with launch.launcher = 'accelerate'")
    if cfg.num_processes > 1 and not recipe.data_parallel:
        raise ConfigError(f"launch.num_processes: {recipe.name} trains with its own loop in one process; only the "
                          "recipes TRL trains (rest-em, dpo, spin, selfplay) spread over several")


def launch_command(cfg: LaunchConfig, job: Path) -> list[str]:
    import torch

    exe = installed_tool("accelerate")
    # several processes go through torchrun (`--multi_gpu`), which on a machine without a GPU gives a
    # CPU process group (gloo): the trainers run with use_cpu there
    if cfg.num_processes > 1:
        where = ["--multi_gpu"]
    else:
        where = [] if torch.cuda.is_available() else ["--cpu"]
    return [str(exe), "launch", "--num_processes", str(cfg.num_processes), "--num_machines", "1",
            "--mixed_precision", "no", "--dynamo_backend", "no", *where, *cfg.args,
            "-m", "sparring.launch", str(job)]


def train_launched(cfg: LaunchConfig, recipe, recipe_cfg, parent: str, rows_path: Path,
                   roles: dict[str, list[int]] | None, out: Path, seed: int, dtype: str, log: Path) -> TrainResult:
    """The round's checkpoint trained by `accelerate launch`; its output goes to `log`."""
    with tempfile.TemporaryDirectory() as scratch:
        job = Path(scratch) / "job.json"
        job.write_text(json.dumps({"recipe": recipe.name, "settings": recipe_cfg.model_dump(mode="json"),
                                   "parent": parent, "rows": str(rows_path), "roles": roles, "out": str(out),
                                   "seed": seed, "dtype": dtype}))
        with open(log, "a") as output:
            try:
                done = subprocess.run(launch_command(cfg, job), stdout=output, stderr=subprocess.STDOUT)
            except OSError as e:
                raise SparringError(f"launch.launcher = 'accelerate': could not start accelerate: {e}") from None
    if done.returncode != 0 or not out.exists():
        raise SparringError(f"the train stage under accelerate launch exited with {done.returncode}; its log: {log}\n"
                            + log.read_text()[-2000:])
    return TrainResult.read(out)


def main(job_path: str) -> None:
    """One launched process: the round's train stage, as in the run's own process."""
    from accelerate import PartialState
    from datasets import Dataset

    from sparring.loop import train
    from sparring.recipes import RECIPES

    job: dict[str, Any] = json.loads(Path(job_path).read_text())
    recipe = RECIPES.load(job["recipe"])
    rows = Dataset.from_parquet(job["rows"]).to_list()
    roles = job["roles"] and {role: [rows[i] for i in index] for role, index in job["roles"].items()}
    state = PartialState()
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(job["out"]) if state.is_main_process else Path(scratch) / "checkpoint"
        train(recipe, recipe.config.model_validate_json(json.dumps(job["settings"])), job["parent"], rows, roles, out, job["seed"],
              None, job["dtype"])
        state.wait_for_everyone()


if __name__ == "__main__":
    main(sys.argv[1])
