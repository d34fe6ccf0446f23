"""The train stage through `accelerate launch`: one process records what the in-process stage does;
two processes (a CPU process group) split the batches; bad settings fail before any work."""

import pytest
from rich.console import Console

from sparring import loop
from sparring.config import load_config
from sparring.errors import ConfigError
from sparring.models.transformers_backend import checkpoint_hash
from sparring.recipes.base import TrainResult
from sparring.rundir import RunDir

TINY = ["backend.dtype='float32'", "rounds=1", "rollout.problems_per_round=6", "rollout.samples_per_problem=2",
        "rollout.max_new_tokens=6", "eval.levels=[1]", "eval.problems_per_level=3", "eval.max_new_tokens=6",
        "rest_em.min_reward=0.0", "rest_em.batch_size=4"]


def one_round(tmp_path, tiny_model, name, extra=()):
    cfg = load_config(None, [f"model='{tiny_model}'", *TINY, *extra])
    loop.check_run_config(cfg)
    run_dir = RunDir.create(tmp_path / name, cfg)
    loop.run(cfg, run_dir, Console(quiet=True))
    run_dir.close()
    return run_dir


def test_a_launched_train_stage_records_what_the_in_process_one_does(tmp_path, tiny_model):
    here = one_round(tmp_path, tiny_model, "here")
    launched = one_round(tmp_path, tiny_model, "launched", ["launch.launcher='accelerate'"])
    record = TrainResult.read(launched.checkpoint_path(1))
    assert record.losses == TrainResult.read(here.checkpoint_path(1)).losses and len(record.losses) == 3
    assert checkpoint_hash(str(launched.checkpoint_path(1))) == checkpoint_hash(str(here.checkpoint_path(1)))
    assert (launched.round_dir(1) / "train.log").exists()
    two = one_round(tmp_path, tiny_model, "two", ["launch.launcher='accelerate'", "launch.num_processes=2"])
    # 12 rows, 4 a process: 2 processes take 8 a step, so 2 steps where one process takes 3
    assert len(TrainResult.read(two.checkpoint_path(1)).losses) == 2


@pytest.mark.parametrize("settings,message", [
    (["launch.num_processes=2"], "take effect with launch.launcher = 'accelerate'"),
    (["launch.launcher='accelerate'", "launch.num_processes=2", "recipe=reinforce"],
     "launch.num_processes: reinforce trains with its own loop"),
    (["launch.launcher='torchrun'"], "launch.launcher"),
])
def test_bad_launch_settings_fail_before_any_work(tiny_model, settings, message):
    with pytest.raises(ConfigError, match=message):
        loop.check_run_config(load_config(None, [f"model='{tiny_model}'", *settings]))
