"""SIGKILL at seeded points in every stage, then --resume: nothing lost or doubled, same result as uninterrupted.

Runs over every registered recipe and env (sparring.harness.kill.harness_cases)."""

import pytest

from sparring.harness.kill import harness_cases, kill_a_worker, kill_and_resume, tiny_run_settings


def _check(report, kills):
    assert report.kills == kills
    assert report.episodes_lost == 0 and report.episodes_doubled == 0
    assert report.equal_runs == report.victims, report.differences


# Once each (make test must stay under 30 minutes): the stage each case's kill lands in is drawn by
# seed; rest-em on arithmetic-v0 is killed at 7 points below; benchmarks/safety.py kills each case 20 times.
@pytest.mark.parametrize("recipe,env,extra", [case for case in harness_cases() if case != ("rest-em", "arithmetic-v0", ())])
def test_killed_runs_resume_to_the_uninterrupted_result(tmp_path, tiny_model, recipe, env, extra):
    _check(kill_and_resume(tmp_path, tiny_run_settings(tiny_model, recipe, env, extra=extra), kill_points=1, seed=1),
           kills=1)


@pytest.mark.slow
def test_many_kill_points_across_every_stage(tmp_path, tiny_model):
    """7 kill points (one victim run) on the default job's recipe and env, landing in rollout, train and eval; every
    other recipe and env is killed once above, and `benchmarks/safety.py` kills each 20 times."""
    report = kill_and_resume(tmp_path, tiny_run_settings(tiny_model, "rest-em", "arithmetic-v0"), kill_points=7, seed=2)
    _check(report, kills=7)
    stages = {where.split()[-1] for where in report.landed}
    assert {"rollout", "train", "eval"} <= stages, report.landed


def test_a_killed_rollout_worker_costs_the_run_nothing(tmp_path, tiny_model):
    pytest.importorskip("ray")
    report = kill_a_worker(tmp_path, tiny_run_settings(tiny_model, rounds=1))  # against the run in one process
    _check(report, kills=1)
