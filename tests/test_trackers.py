"""Experiment trackers: what is sent, read back from TensorBoard's event files and wandb's offline run."""

import importlib.util

import pytest

from sparring.config import load_config
from sparring.errors import SparringError
from sparring.trackers import RunTrackers, TensorBoard, check, curve_points, scalars


def test_scalars_are_the_numeric_leaves_by_path():
    metrics = {"eval": {"score": 0.5, "by_env": {"a-v0": {"accuracy": 1}}, "score_name": "x"},
               "promoted": True, "alarms": [], "train": {"losses": [1.0, 0.5]}, "next_score": None}
    assert scalars(metrics) == {"eval/score": 0.5, "eval/by_env/a-v0/accuracy": 1.0, "promoted": 1.0}


def test_a_training_curve_is_one_point_per_step_with_the_recipes_curves_of_the_same_length():
    train = {"losses": [2.0, 1.0], "steps": 2, "entropy": [0.9, 0.8], "agreement": [0.1], "note": "x"}
    assert curve_points(train) == [{"loss": 2.0, "entropy": 0.9}, {"loss": 1.0, "entropy": 0.8}]
    assert curve_points({}) == []


def test_a_tracker_that_fails_warns_once_and_the_run_goes_on(tmp_path, monkeypatch):
    warnings = []
    trackers = RunTrackers(["tensorboard"], tmp_path, "run-1", {"seed": 0}, warnings.append)
    monkeypatch.setattr(TensorBoard, "log", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    assert trackers.round({"round": 1, "eval": {"score": 0.5}, "train": {"losses": [1.0]}}, first_step=3) == 4
    trackers.round({"round": 2, "eval": {"score": 0.6}}, first_step=4)
    trackers.finish([{"round": 0, "eval": {"score": 0.4}}])
    assert len(warnings) == 1 and "tracker tensorboard failed and is dropped" in warnings[0] and "disk full" in warnings[0]


def test_unknown_trackers_and_missing_packages_are_clear_errors_before_any_work():
    with pytest.raises(SparringError, match="Did you mean 'tensorboard'"):
        check(load_config(None, ["report_to=['tensorbord']"]).report_to)
    if importlib.util.find_spec("trackio") is None:  # not installed by make: its missing package is the error
        with pytest.raises(SparringError, match="report_to names 'trackio', whose package is missing: pip install trackio"):
            check(["trackio"])


def _tiny(tiny_model, trackers):
    return [f"model='{tiny_model}'", "rounds=2", "eval.levels=[1]", "eval.problems_per_level=4", "eval.max_new_tokens=4",
            "rollout.problems_per_round=4", "rollout.max_new_tokens=4", "rest_em.min_reward=0.0", "rest_em.max_steps=2",
            "backend.dtype='float32'", f"report_to={trackers}"]


def test_a_run_sends_rounds_curves_and_headline_to_tensorboard_and_wandb_offline(tmp_path, tiny_model, monkeypatch):
    pytest.importorskip("tensorboard")
    wandb = pytest.importorskip("wandb")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from rich.console import Console

    import sparring

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    result = sparring.run(out=tmp_path / "run", overrides=_tiny(tiny_model, ["tensorboard", "wandb"]),
                          console=Console(quiet=True))
    events = EventAccumulator(str(tmp_path / "run/tensorboard")).Reload()
    score = events.Scalars("round/eval/score")
    assert [(e.step, round(e.value, 6)) for e in score] == [(r, round(s, 6)) for r, s in enumerate(result.scores)]
    losses = [m["train"]["losses"] for m in result.rounds[1:]]
    assert [e.step for e in events.Scalars("train_step/loss")] == list(range(sum(map(len, losses))))
    assert [round(e.value, 5) for e in events.Scalars("train_step/loss")] == [round(x, 5) for ls in losses for x in ls]
    assert events.Scalars("summary/gain_points")[0].value == pytest.approx(result.gain, abs=1e-4)
    # wandb's offline run file (protobuf records; wandb 0.31 ships no reader for it): the run, its keys
    recorded = next((tmp_path / "run/wandb").glob(f"offline-run-*-{result.run_dir.name}/run-*.wandb")).read_bytes()
    for key in (b"round/eval/score", b"train_step/loss", b"gain_points", b"score_final", b"report_to"):
        assert key in recorded, key
    assert wandb.run is None  # finished
