"""SIGKILL at seeded points in every stage, then --resume: nothing lost or doubled, same result as uninterrupted."""

import pytest

from sparring.harness.kill import kill_and_resume, tiny_run_settings
from sparring.recipes import RECIPES


def _check(report, kills):
    assert report.kills == kills
    assert report.episodes_lost == 0 and report.episodes_doubled == 0
    assert report.equal_runs == report.victims, report.differences


@pytest.mark.parametrize("recipe", RECIPES.ids())
def test_killed_runs_resume_to_the_uninterrupted_result(tmp_path, tiny_model, recipe):
    _check(kill_and_resume(tmp_path, tiny_run_settings(tiny_model, recipe), kill_points=3, seed=1), kills=3)


@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES.ids())
def test_twenty_kill_points_across_every_stage(tmp_path, tiny_model, recipe):
    report = kill_and_resume(tmp_path, tiny_run_settings(tiny_model, recipe), kill_points=20, seed=2)
    _check(report, kills=20)
    stages = {where.split()[-1] for where in report.landed}
    assert {"rollout", "train", "eval"} <= stages, report.landed
