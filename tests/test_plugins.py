"""Plugins from a real `pip install`: the README's own env package (examples/my-env) and a package of
good and broken plugins (tests/plugins), installed into a directory each command puts on its path."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    for package in (ROOT / "examples/my-env", ROOT / "tests/plugins"):
        source = tmp_path_factory.mktemp("src") / package.name  # setuptools builds in the tree: not in ours
        shutil.copytree(package, source)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                        "--target", str(site), str(source)], check=True)
    return site


def sparring(site, *args, cwd=None):
    env = {**os.environ, "PYTHONPATH": "" if site is None else str(site), "COLUMNS": "250"}
    done = subprocess.run([sys.executable, "-m", "sparring.cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=600)
    text = re.sub("[│┃]", " ", done.stdout + done.stderr)  # a table's cells, their wrapped lines joined
    return done.returncode, " ".join(text.split())


def tiny_run(tiny_model, env, *extra):
    settings = [f"model='{tiny_model}'", f"env='{env}'", "rounds=1", "eval.levels=[1]", "eval.problems_per_level=4",
                "eval.max_new_tokens=8", "rollout.problems_per_round=8", "rollout.max_new_tokens=8",
                "rest_em.min_reward=0.0", "rest_em.max_steps=2", "backend.dtype='float32'", *extra]
    return [arg for s in settings for arg in ("--set", s)]


def test_installed_plugins_are_listed_and_broken_ones_left_out_with_their_package(site):
    code, out = sparring(site, "envs")
    assert code == 0, out
    assert ("larger-number-v0 1..3 Which of two numbers is larger? Reward 1 for naming it; a reply with no number is "
            "illegal. (plugin package sparring-larger-number)") in out
    assert "tictactoe-v1 - two seats" in out and "arithmetic-v0 1..8 procedural" in out  # the built-ins are all there
    for problem in ("environment 'missing-module-v0' from plugin package sparring-test-plugins",
                    "importing it failed: ModuleNotFoundError: No module named 'sparring_test_plugins_missing'",
                    "environment 'arithmetic-v0' from plugin package sparring-test-plugins",
                    "is left out: the id is already registered (built-in, sparring.envs.arithmetic:ArithmeticEnv)",
                    "'not-a-target-v0' from plugin package sparring-test-plugins",
                    "its target must look like 'package.module:attribute'"):
        assert problem in out


def test_a_broken_plugin_named_by_a_run_is_one_clear_error(site, tmp_path):
    code, out = sparring(site, "run", "--set", "env=missing-module-v0", cwd=tmp_path)
    assert code == 2 and "ModuleNotFoundError" in out and "sparring-test-plugins" in out and "Traceback" not in out
    code, out = sparring(site, "run", "--set", "env=raises-in-reset-v0", cwd=tmp_path)
    assert code == 2 and "Traceback" not in out
    assert ("environment 'raises-in-reset-v0' (plugin package sparring-test-plugins) breaks the env contract: "
            "RuntimeError: the plugin's own bug") in out
    assert not (tmp_path / "runs").exists()  # refused before any work


def test_check_reports_a_contract_break_and_runs_nothing_after_it(site):
    code, out = sparring(site, "check", "reward-out-of-range-v0")
    assert code == 1, out
    assert "contract FAILED" in out and "outside" in out and "fuzz" not in out.split("FAILED")[1]


def test_plugin_players_and_objectives_are_registered_from_their_entry_points(site):
    script = ("from sparring.policies import POLICIES; from sparring.curate import SELECTIONS; "
              "print(POLICIES.entry('always-seven').origin, '|', POLICIES.make('always-seven').act([None], None)[0].text, "
              "'|', SELECTIONS.load('longest')('four', None))")
    done = subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(site)},
                          capture_output=True, text=True, check=True)
    assert done.stdout.split() == "plugin package sparring-test-plugins | Answer: 7 | 4".split()


def test_the_readme_env_is_checked_and_trained_on_as_a_plugin(site, tiny_model, tmp_path):
    code, out = sparring(site, "check", "larger-number-v0", "--actions", "60", "--kill-points", "1")
    assert code == 0, out
    assert "contract passed" in out and "kept at 3 level(s)" in out and "fuzz passed" in out
    assert "kill and resume passed" in out and "1 resumed runs equal to the run left alone" in out
    # one round on it, curated by the package of plugins' selection objective
    code, out = sparring(site, "run", "--out", str(tmp_path / "run"),
                         *tiny_run(tiny_model, "larger-number-v0", "curate.select='longest'", "curate.select_top=1"))
    assert code == 0, out
    metrics = json.loads((tmp_path / "run/rounds/1/metrics.json").read_text())
    assert metrics["train"]["steps"] > 0 and metrics["rollout"]["episodes"] == 8 * 4  # problems, samples
    assert "larger-number-v0" in metrics["eval"]["by_env"] and metrics["curate"]["dropped"]["selection"] > 0
    rows = pq.read_table(tmp_path / "run/rounds/1/dataset.parquet").to_pylist()
    assert rows and {(r["env_id"], r["env_version"]) for r in rows} == {("larger-number-v0", 0)}


def test_an_env_named_by_its_import_path_comes_from_the_working_directory(tiny_model, tmp_path):
    shutil.copy(ROOT / "examples/my-env/larger_number.py", tmp_path)  # not installed: beside the command
    code, out = sparring(None, "eval", tiny_model, "--env", "larger_number:LargerNumber", "--n", "3",
                         "--levels", "1,2", "--max-new-tokens", "4", cwd=tmp_path)
    assert code == 0, out
    assert re.search(r"level accuracy % \S+ 1 \d+\.\d 2 \d+\.\d mean \d+\.\d", out), out  # levels 1 and 2 scored
    for env, message in (("larger_number.LargerNumber:", "looks like an import path but is not one"),
                         ("no_such_module:Env", "cannot import the environment 'no_such_module:Env': ModuleNotFoundError")):
        code, out = sparring(None, "eval", tiny_model, "--env", env, cwd=tmp_path)
        assert code == 2 and message in out and "Traceback" not in out


def test_the_readme_shows_the_tutorial_env_as_the_tests_run_it():
    assert (ROOT / "examples/my-env/larger_number.py").read_text() in (ROOT / "README.md").read_text()
