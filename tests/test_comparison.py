"""The comparison's numbers and tables, from hand-made round metrics."""

import pytest

from sparring.comparison import cells, markdown, result_cells, summarize, tables


def _round(r, score, columns=None, tokens=0, rows=0, seconds=None):
    return {"round": r, "eval": {"score": score, "score_name": "mean reward vs random-legal",
                                 **({"columns": columns} if columns is not None else {})},
            "rollout": {"tokens": tokens}, "dataset": {"rows": rows}, "seconds": seconds or {"eval": 30.0}}


def _game(recipe, wins):
    return summarize(recipe, [_round(r, w / 100, {"vs random-legal w/d/l %": f"{w}/0/{100 - w}", "illegal %": 0.025},
                                     tokens=100 * r, rows=10 * r,
                                     seconds={"rollout": 60.0, "build": 6.0, "train": 114.0, "eval": 60.0})
                             for r, w in enumerate(wins)])


def test_summary_counts_what_came_after_round_0_and_the_gain_per_minute():
    s = _game("selfplay", [50, 60, 80])
    assert s["scores"] == [0.5, 0.6, 0.8] and s["gain"] == pytest.approx(30.0)
    assert s["tokens"] == 300 and s["rows"] == 30  # round 0's evaluation is the base model's, the same for all
    assert s["minutes"] == {"probe": 0.0, "rollout": 2.0, "curate": 0.0, "build": 0.2, "train": 3.8, "eval": 2.0}
    assert s["gain_per_minute"] == pytest.approx(30.0 / 8.0)


def test_a_games_results_get_a_table_of_their_own_one_row_per_recipe_and_round():
    summaries = [_game("selfplay", [50, 60]), _game("dpo", [50, 45])]
    header, rows = result_cells(summaries)
    assert header == ["run", "round", "vs random-legal w/d/l %", "illegal %"]
    assert rows == [["selfplay", "0", "50/0/50", "2.5"], ["selfplay", "1", "60/0/40", "2.5"],
                    ["dpo", "0", "50/0/50", "2.5"], ["dpo", "1", "45/0/55", "2.5"]]
    assert cells(summaries, "CPU")[1][1][:4] == ["dpo", "50.0", "45.0", "-5.0"]
    assert len(tables(summaries)) == 2
    text = markdown(summaries)
    assert "| selfplay | 1 | 60/0/40 | 2.5 |" in text and "| dpo | 50.0 | 45.0 | -5.0 |" in text


def test_a_task_without_columns_of_its_own_gets_the_comparison_only():
    summaries = [summarize("rest-em", [_round(0, 0.3), _round(1, 0.4)])]
    assert result_cells(summaries)[1] == [] and len(tables(summaries)) == 1
    assert markdown(summaries).count("| run |") == 1


def test_resuming_a_comparison_applies_the_common_overrides_and_refuses_what_stored_work_was_made_with(
        tmp_path, tiny_model, monkeypatch):
    from rich.console import Console

    from sparring import loop
    from sparring.comparison import compare
    from sparring.errors import SparringError

    seen = []
    monkeypatch.setattr(loop, "run", lambda cfg, run_dir, console: seen.append(cfg) or [_round(0, 0.3)])
    runs = {"a": ["rollout.temperature=0.9"]}
    common = [f"model='{tiny_model}'", "rounds=1"]
    compare(None, runs, tmp_path, common, False, Console(quiet=True))
    compare(None, runs, tmp_path, [*common, "rounds=2"], True, Console(quiet=True))
    assert [(c.rounds, c.rollout.temperature) for c in seen] == [(1, 0.9), (2, 0.9)]  # the run's own override kept
    (tmp_path / "a" / "rounds" / "1").mkdir(parents=True)
    (tmp_path / "a" / "rounds" / "1" / "checkpoint").mkdir()  # round 1 trained: what shaped it may not change
    with pytest.raises(SparringError, match="rest_em.max_length shapes the stored"):
        compare(None, runs, tmp_path, [*common, "rest_em.max_length=384"], True, Console(quiet=True))
