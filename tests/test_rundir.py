"""The run directory: one owner at a time, a fixed run id, atomic writes cleaned up, resume rules."""

import json
import shutil

import pytest
from rich.console import Console

from sparring import loop
from sparring.config import load_config
from sparring.errors import SparringError
from sparring.harness.kill import tiny_run_settings
from sparring.rundir import RunDir
from sparring.store import EpisodeStore


def _finished(tmp_path, tiny_model, extra=()):
    cfg = load_config(None, [*tiny_run_settings(tiny_model, rounds=1), *extra])
    run_dir = RunDir.create(tmp_path / "run", cfg)
    history = loop.run(cfg, run_dir, Console(quiet=True))
    run_dir.close()
    return cfg, run_dir.root, history


def test_one_process_owns_a_run_directory(tmp_path):
    cfg = load_config(None, [])
    owner = RunDir.create(tmp_path / "run", cfg)
    with pytest.raises(SparringError, match="another sparring process .* is using"):
        RunDir.open(tmp_path / "run")
    owner.close()
    RunDir.open(tmp_path / "run").close()  # released


def test_a_moved_run_resumes_as_the_same_run_without_replaying(tmp_path, tiny_model):
    cfg, root, _ = _finished(tmp_path, tiny_model)
    moved = tmp_path / "elsewhere" / "renamed"
    shutil.move(root, moved)
    cfg2 = load_config(None, tiny_run_settings(tiny_model, rounds=2))
    run_dir = RunDir.open(moved)
    assert run_dir.run_id == "run"
    loop.run(cfg2, run_dir, Console(quiet=True))
    run_dir.close()
    store = EpisodeStore(moved / "episodes.sqlite")
    assert len(store.ids(1, "train")) == 32 and len(store.ids(2, "train")) == 32  # round 1 was not played again
    assert store.count() == 3 * 16 + 2 * 32


def test_a_checkpoint_found_on_resume_keeps_its_training_metrics(tmp_path, tiny_model):
    cfg, root, history = _finished(tmp_path, tiny_model)
    (root / "rounds/1/metrics.json").unlink()  # as if killed between saving the checkpoint and the metrics
    (root / "rounds/1/checkpoint.tmp-999").mkdir()  # and an older save interrupted midway
    (root / "rounds/1/metrics.json.tmp-998").write_text("{")
    run_dir = RunDir.open(root)
    assert not list(root.glob("rounds/1/*.tmp*"))  # what interrupted writes left is removed
    again = loop.run(cfg, run_dir, Console(quiet=True))
    run_dir.close()
    assert again[1]["train"] == history[1]["train"] and again[1]["train"]["losses"]
    assert again[1]["seconds"]["train"] == history[1]["seconds"]["train"]


def test_events_log_every_stage_of_every_round(tmp_path, tiny_model):
    _, root, _ = _finished(tmp_path, tiny_model)
    events = [json.loads(line) for line in (root / "events.jsonl").read_text().splitlines()]
    ended = [(e["round"], e["stage"]) for e in events if e["event"] == "end"]
    assert ended == [(0, "eval"), (1, "rollout"), (1, "curate"), (1, "build"), (1, "train"), (1, "eval")]
