"""report.html over a real (tiny) run, drawn by headless Chromium; and over runs that lack parts."""

import json
import re
import shutil
import sqlite3
import subprocess

import pytest
from rich.console import Console

from sparring import loop
from sparring.config import load_config
from sparring.reports.html import html_report
from sparring.rundir import RunDir

TINY = ["rounds=2", "rollout.problems_per_round=4", "rollout.samples_per_problem=2", "rollout.max_new_tokens=6",
        "eval.levels=[1, 2]", "eval.problems_per_level=3", "eval.max_new_tokens=6", "rest_em.min_reward=0.0",
        "rest_em.batch_size=4", "backend.dtype='float32'", "balance.enabled=true", "balance.temperatures=[0.5, 1.0]",
        "balance.probe_episodes=8"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_model):
    cfg = load_config(None, [*TINY, f"model='{tiny_model}'"])
    run_dir = RunDir.create(tmp_path_factory.mktemp("report") / "run", cfg)
    loop.run(cfg, run_dir, Console(quiet=True))
    run_dir.close()
    return run_dir.root


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "headless Chromium is needed (Debian: apt-get install chromium; `make test` installs it)"
    return found


def _browse(page, *args) -> subprocess.CompletedProcess:
    return subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
                           "--virtual-time-budget=10000", *args, page.as_uri()], capture_output=True, text=True,
                          timeout=120)


def test_every_plot_draws_in_a_browser_with_no_network(finished_run, tmp_path):
    page = finished_run / "report.html"  # written by the run at the end of every round
    text = page.read_text()
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=\"?http", text)  # nothing fetched
    keys = re.findall(r'<div class="plot" data-plot="([^"]+)">', text)
    assert {"heldout", "quality-arithmetic-v0", "diversity-arithmetic-v0", "vendi-arithmetic-v0",
            "complexity-arithmetic-v0", "balance", "probe", "curation", "seconds"} <= set(keys)
    dom = _browse(page, "--dump-dom").stdout
    for key in keys:
        drawn = dom.split(f'data-plot="{key}"', 1)[1].split('<div class="plot"', 1)[0]
        assert 'class="main-svg"' in drawn and re.search(r'class="trace (scatter|bars)', drawn), f"{key} did not draw"
    shot = tmp_path / "report.png"
    _browse(page, f"--screenshot={shot}", "--window-size=1400,2600")
    assert shot.stat().st_size > 50_000  # a page of plots, not a blank one
    assert "round 2: 8 episodes" in text and "turn 1 · seat 0 · policy" in text


def test_a_game_run_plots_its_results_per_opponent_and_its_rating(tmp_path, tiny_model):
    cfg = load_config(None, [f"model='{tiny_model}'", "rounds=1", "env='tictactoe-v1'", "recipe='selfplay'",
                             "rollout.problems_per_round=4", "rollout.samples_per_problem=1", "rollout.max_new_tokens=4",
                             "eval.max_new_tokens=4", "matches.eval_games=4", "backend.dtype='float32'",
                             "selfplay.batch_size=4", "selfplay.min_advantage=-1e9", "selfplay.legal_only=false"])
    run_dir = RunDir.create(tmp_path / "game", cfg)
    loop.run(cfg, run_dir, Console(quiet=True))
    run_dir.close()
    page = run_dir.root / "report.html"
    text = page.read_text()
    heldout = text.split('data-plot="heldout"', 1)[1].split('<div class="plot"', 1)[0]
    assert "vs random-legal: win" in heldout and "vs tictactoe-minimax: loss" in heldout
    dom = _browse(page, "--dump-dom").stdout
    for key in ("heldout", "rating", "quality-tictactoe-v1"):
        drawn = dom.split(f'data-plot="{key}"', 1)[1].split('<div class="plot"', 1)[0]
        assert 'class="main-svg"' in drawn and 'class="trace scatter' in drawn, f"{key} did not draw"


def test_a_run_from_an_older_version_or_cut_short_renders_what_exists(finished_run, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(finished_run, old)
    metrics = json.loads((old / "rounds/1/metrics.json").read_text())
    for key in ("qdc", "balance", "probe", "curate", "alarms", "promoted"):
        metrics.pop(key)
    (old / "rounds/1/metrics.json").write_text(json.dumps(metrics))
    (old / "rounds/2/metrics.json").unlink()
    db = sqlite3.connect(old / "episodes.sqlite")
    with db:  # an episode as an older version stored it, with a field this version does not know
        db.execute("UPDATE episodes SET data = json_set(data, '$.turns[0].completion.logprob_sum', -1.0) "
                   "WHERE rowid = (SELECT MIN(rowid) FROM episodes WHERE stage = 'train')")
    db.close()
    text = html_report(old).read_text()
    missing = text.split("<h2>Missing</h2>", 1)[1]
    assert "round 2 is not finished (no metrics.json; stored: curation, dataset, checkpoint)" in missing
    assert "round 1: 1 stored episodes could not be read (TypeError" in missing and "round 1: 7 episodes" in text
    assert "no data for: quality-arithmetic-v0" not in missing and "balance" in missing and "curation" in missing
    assert 'data-plot="heldout"' in text

    empty = tmp_path / "empty"
    empty.mkdir()
    text = html_report(empty).read_text()
    assert "has no config.toml" in text and "no round has finished yet" in text
