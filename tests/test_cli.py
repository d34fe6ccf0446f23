"""The CLI answers bad input with a clear message, never a traceback."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sparring.cli import app

runner = CliRunner()


def _invoke(*args, cwd=None):
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_envs_lists_the_registry():
    code, out = _invoke("envs")
    assert code == 0 and "arithmetic-v0" in out and "1..8" in out


@pytest.mark.parametrize("args,message", [
    (["run", "--set", "rollout.temprature=0.5"], "unknown config key 'rollout.temprature'"),
    (["run", "--set", "env=arithmatic-v0"], "Did you mean 'arithmetic-v0'"),
    (["run", "--set", "model=/no/such/model"], "does not exist"),
    (["run", "--set", "curriculum.levels=[0, 9]"], "has no level(s) [0, 9]"),
    (["run", "no-such-config.toml"], "does not exist"),
    (["run", "--resume", "--out", "no-such-run"], "no run to resume"),
    (["eval", "/no/such/model", "--env", "arithmetic-v0"], "does not exist"),
    (["eval", "smollm2-135m-instruct", "--env", "arithmatic-v0"], "Did you mean 'arithmetic-v0'"),
    (["compare", "--recipes", "rest-em,dpp"], "unknown recipe(s) 'dpp'; registered: dpo, expert-iteration, reinforce, rest-em, selfplay, spin"),
    (["compare", "--recipes", "rest-em,rest-em"], "names a recipe twice"),
    (["compare", "--recipes", "spin", "--set", "env=tictactoe-v1"], "tictactoe-v1 has no reference_solution()"),
    (["compare", "--recipes", "rest-em", "--resume"], "--resume needs --out"),
    (["run", "--set", "curate.select='shortst'"], "Did you mean 'shortest'"),
    (["run", "--set", "recipe='dpo'", "--set", "balance.thresholds=[0.5]"], "dpo selects by no reward threshold"),
    (["report", "no-such-run"], "'no-such-run' is not a directory"),
])
def test_bad_input_is_a_clear_error(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out = _invoke(*args)
    assert code == 2, out
    assert message in " ".join(out.split())
    assert "Traceback" not in out
    assert not (tmp_path / "runs").exists()  # nothing was started


def test_resume_may_change_only_what_shapes_no_stored_work(tmp_path, tiny_model, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = [f"model='{tiny_model}'", "rounds=0", "eval.levels=[1]", "eval.problems_per_level=2",
                "eval.max_new_tokens=4", "rollout.problems_per_round=2", "rollout.max_new_tokens=4",
                "rest_em.min_reward=0.0"]
    tiny = [arg for s in settings for arg in ("--set", s)]
    code, out = _invoke("run", "--out", "runs/r", *tiny)
    assert code == 0, out
    assert "round 0" in out and (tmp_path / "runs/r/rounds/0/metrics.json").exists()
    code, out = _invoke("run", "--out", "runs/r", *tiny)
    assert code == 2 and "already holds a run" in out
    code, out = _invoke("run", "--resume", "--set", "eval.problems_per_level=3", "--set", "seed=5")  # the latest run
    out = " ".join(out.split())
    assert code == 2 and "eval.problems_per_level shapes the stored eval" in out and "seed shapes the stored work" in out
    # round 0 evaluated, nothing rolled out yet: the rollout's settings may still change
    code, out = _invoke("run", "--resume", "--set", "rounds=1", "--set", "rollout.temperature=0.5")
    assert code == 0, out
    assert (tmp_path / "runs/r/rounds/1/checkpoint/config.json").exists()
    saved = (tmp_path / "runs/r/config.toml").read_text()
    assert "rounds = 1" in saved and "temperature = 0.5" in saved
    code, out = _invoke("run", "--resume", "--set", "rounds=2", "--set", "rollout.temperature=0.9")
    assert code == 2 and "rollout.temperature shapes the stored rollout" in " ".join(out.split())


def test_eval_prints_accuracy_per_level(tiny_model):
    code, out = _invoke("eval", tiny_model, "--env", "arithmetic-v0", "--n", "2", "--levels", "1,3",
                        "--max-new-tokens", "3")
    assert code == 0, out
    assert "mean" in out and "0.0" in out


def test_a_full_disk_stops_the_run_clearly_and_resume_finishes(tmp_path, tiny_model, monkeypatch):
    import errno

    from sparring.rundir import RunDir

    monkeypatch.chdir(tmp_path)
    settings = [f"model='{tiny_model}'", "rounds=1", "eval.levels=[1]", "eval.problems_per_level=2",
                "eval.max_new_tokens=4", "rollout.problems_per_round=2", "rollout.max_new_tokens=4",
                "rest_em.min_reward=0.0", "backend.dtype='float32'"]
    real_write = RunDir.write_metrics

    def full_disk(self, r, metrics):
        if r == 1:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.metrics_path(r)))
        real_write(self, r, metrics)

    monkeypatch.setattr(RunDir, "write_metrics", full_disk)
    code, out = _invoke("run", "--out", "runs/r", *[a for s in settings for a in ("--set", s)])
    out = " ".join(out.split())
    assert code == 2 and "No space left on device" in out and "--resume --out runs/r" in out
    assert (tmp_path / "runs/r/rounds/0/metrics.json").exists()  # the earlier round is intact
    monkeypatch.setattr(RunDir, "write_metrics", real_write)
    code, out = _invoke("run", "--resume", "--out", "runs/r")
    assert code == 0, out
    assert (tmp_path / "runs/r/rounds/1/metrics.json").exists()


def test_a_disk_that_fills_while_weights_are_saved_stops_the_run_clearly(tmp_path, tiny_model, monkeypatch):
    from safetensors import SafetensorError

    from sparring.recipes import training

    monkeypatch.chdir(tmp_path)
    settings = [f"model='{tiny_model}'", "rounds=1", "eval.levels=[1]", "eval.problems_per_level=2",
                "eval.max_new_tokens=4", "rollout.problems_per_round=2", "rollout.max_new_tokens=4",
                "rest_em.min_reward=0.0", "backend.dtype='float32'"]

    def full_disk(out, save):  # what safetensors raised when the disk filled during `make run`
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(training, "save_atomically", full_disk)
    code, out = _invoke("run", "--out", "runs/r", *[a for s in settings for a in ("--set", s)])
    out = " ".join(out.split())
    assert code == 2 and "could not write: Error while serializing: I/O error: No space left on device" in out
    assert "--resume --out runs/r" in out and "Traceback" not in out


def test_runs_started_in_the_same_second_get_their_own_directories(tmp_path, monkeypatch):
    from sparring.config import load_config
    from sparring.rundir import RunDir

    monkeypatch.chdir(tmp_path)
    first, second = (RunDir.create(None, load_config(None, ["name=same"])) for _ in range(2))
    assert first.root != second.root and first.root.parent == second.root.parent == Path("runs")
    assert first.run_id != second.run_id and second.root.name.startswith(first.root.name)
    first.close(), second.close()


def test_a_run_that_failed_on_a_setting_resumes_once_it_is_fixed(tmp_path, tiny_model, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = [f"model='{tiny_model}'", "rounds=1", "seed=100000000000", "eval.levels=[1]",
                "eval.problems_per_level=2", "eval.max_new_tokens=4", "rollout.problems_per_round=2",
                "rollout.max_new_tokens=4", "rest_em.min_reward=0.0", "rest_em.max_length=16", "backend.dtype='float32'"]
    code, out = _invoke("run", "--out", "runs/r", *[a for s in settings for a in ("--set", s)])
    assert code == 2 and "rest_em.max_length = 16 leaves no room for the answer" in " ".join(out.split())
    code, out = _invoke("run", "--resume", "--out", "runs/r", "--set", "rest_em.max_length=256")
    assert code == 0, out  # training had not run, so its settings may change; the huge seed is fine
    assert (tmp_path / "runs/r/rounds/1/checkpoint/training.json").exists()


def test_league_prints_ratings_and_results_per_opponent(tmp_path, game_episode):
    from sparring.store import EpisodeStore

    store = EpisodeStore(tmp_path / "episodes.sqlite")
    store.write([game_episode(f"g{i}", ("round-1", "random-legal"), (1.0, -1.0) if i < 3 else (0.0, 0.0)) for i in range(4)])
    store.close()
    code, out = _invoke("league", str(tmp_path))
    assert code == 0, out
    assert "4 matches" in out and "round-1" in out and "3/1/0" in out and "0/1/3" in out


@pytest.mark.parametrize("make,message", [
    (lambda d: None, "not a run directory"),
    (lambda d: __import__("sparring.store", fromlist=["x"]).EpisodeStore(d / "episodes.sqlite").close(), "no matches"),
])
def test_league_without_matches_says_why(tmp_path, make, message):
    make(tmp_path)
    code, out = _invoke("league", str(tmp_path))
    assert code == 2 and message in out



def test_compare_runs_each_recipe_from_the_same_base_and_resumes_the_unfinished(tmp_path, tiny_model, monkeypatch):
    import json

    monkeypatch.chdir(tmp_path)
    tiny = ["--set", f"model='{tiny_model}'", "--set", "rounds=1", "--set", "rollout.problems_per_round=4",
            "--set", "rollout.max_new_tokens=6", "--set", "rollout.max_in_flight=2", "--set", "eval.levels=[1]", "--set", "eval.problems_per_level=3",
            "--set", "eval.max_new_tokens=4", "--set", "backend.dtype='float32'", "--set", "rest_em.min_reward=0.0",
            "--set", "rest_em.batch_size=4", "--set", "spin.batch_size=4"]
    code, out = _invoke("compare", "--recipes", "rest-em,spin", "--budget-tokens", "40", "--out", "cmp", *tiny)
    assert code == 0, out
    summaries = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert [s["name"] for s in summaries] == ["rest-em", "spin"]
    for s in summaries:
        # the budget stops new episodes (16 planned), not the two in flight
        assert len(s["scores"]) == 2 and 0 < s["tokens"] <= 40 + 2 * 6
        assert s["rows"] > 0 and s["minutes"]["train"] > 0
    assert "| rest-em |" in (tmp_path / "cmp" / "compare.md").read_text() and "gain per CPU-min" in out
    spin_config = (tmp_path / "cmp" / "spin" / "config.toml").read_text()
    assert "recipe = \"spin\"" in spin_config and "max_tokens_per_round = 40" in spin_config

    code, out = _invoke("compare", "--recipes", "rest-em,spin", "--out", "cmp", *tiny)  # already there
    assert code == 2 and "add --resume" in " ".join(out.split())
    finished = (tmp_path / "cmp" / "rest-em" / "rounds" / "1" / "metrics.json").stat().st_mtime_ns
    import shutil
    shutil.rmtree(tmp_path / "cmp" / "spin" / "rounds" / "1")  # as if stopped in spin's round 1
    code, out = _invoke("compare", "--recipes", "rest-em,spin", "--budget-tokens", "40", "--out", "cmp", "--resume",
                        *tiny)
    assert code == 0, out
    assert (tmp_path / "cmp" / "rest-em" / "rounds" / "1" / "metrics.json").stat().st_mtime_ns == finished
    assert json.loads((tmp_path / "cmp" / "compare.json").read_text())[1]["name"] == "spin"
