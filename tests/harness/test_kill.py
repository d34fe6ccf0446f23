"""SIGKILL at seeded points in every stage, then --resume: nothing lost or doubled, same result as uninterrupted.

Runs over every registered recipe and env (sparring.harness.kill.harness_cases)."""

import pytest

from sparring.harness.kill import harness_cases, kill_a_worker, kill_and_resume, tiny_run_settings


def _check(report, kills):
    assert report.kills == kills
    assert report.episodes_lost == 0 and report.episodes_doubled == 0
    assert report.equal_runs == report.victims, report.differences


@pytest.mark.parametrize("recipe,env,extra", harness_cases())
def test_killed_runs_resume_to_the_uninterrupted_result(tmp_path, tiny_model, recipe, env, extra):
    _check(kill_and_resume(tmp_path, tiny_run_settings(tiny_model, recipe, env, extra=extra), kill_points=2, seed=1),
           kills=2)


@pytest.mark.slow
def test_many_kill_points_across_every_stage(tmp_path, tiny_model):
    """10 kill points on the default job's recipe and env, landing in rollout, train and eval; every
    recipe and env is killed twice above, and `benchmarks/safety.py` kills each 20 times."""
    report = kill_and_resume(tmp_path, tiny_run_settings(tiny_model, "rest-em", "arithmetic-v0"), kill_points=10, seed=2)
    _check(report, kills=10)
    stages = {where.split()[-1] for where in report.landed}
    assert {"rollout", "train", "eval"} <= stages, report.landed


def test_a_killed_rollout_worker_costs_the_run_nothing(tmp_path, tiny_model):
    pytest.importorskip("ray")
    report = kill_a_worker(tmp_path, tiny_run_settings(tiny_model, rounds=1))  # against the run in one process
    _check(report, kills=1)
