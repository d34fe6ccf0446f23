"""The CLI answers bad input with a clear message, never a traceback."""

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


def test_kill_mid_rollout_keeps_the_store_and_resume_finishes(tmp_path, tiny_model):
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    settings = [f"model='{tiny_model}'", "rounds=1", "rollout.problems_per_round=60", "rollout.samples_per_problem=2",
                "rollout.max_in_flight=8", "rollout.max_new_tokens=16", "eval.levels=[1]", "eval.problems_per_level=2",
                "eval.max_new_tokens=4", "rest_em.min_reward=0.0", "backend.dtype='float32'"]
    args = [sys.executable, "-m", "sparring.cli", "run", "--out", str(tmp_path / "r")]
    args += [arg for s in settings for arg in ("--set", s)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = tmp_path / "r" / "episodes.sqlite"

    def stored(stage):
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT COUNT(*) FROM episodes WHERE stage = ?", (stage,)).fetchone()[0]

    deadline = time.time() + 120
    while time.time() < deadline and not (db.exists() and stored("train") >= 16):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = stored("train")
    assert 16 <= killed_at < 120  # killed mid-rollout, and what was stored is readable

    code, out = _invoke("run", "--resume", "--out", str(tmp_path / "r"))
    assert code == 0, out
    assert stored("train") == 120 and stored("eval") == 4
    assert (tmp_path / "r" / "rounds" / "1" / "metrics.json").exists()
