"""The Python API: the CLI's verbs as functions returning typed results."""

import pytest
from rich.console import Console

import sparring
from sparring.api import override_list
from sparring.config import load_config
from sparring.errors import SparringError


def test_overrides_from_a_mapping_are_the_set_items_a_user_would_type():
    items = override_list({"rollout.temperature": 0.7, "rounds": 2, "balance.enabled": True, "model": 'say "hi"',
                           "eval.levels": [1, 2], "env": {"reasoning-gym/chain_sum": 2, "arithmetic-v0": 1.5}})
    assert items == ["rollout.temperature=0.7", "rounds=2", "balance.enabled=true", 'model="say \\"hi\\""',
                     "eval.levels=[1, 2]", 'env={"reasoning-gym/chain_sum" = 2, "arithmetic-v0" = 1.5}']
    cfg = load_config(None, items)
    assert (cfg.rollout.temperature, cfg.rounds, cfg.balance.enabled, cfg.model) == (0.7, 2, True, 'say "hi"')
    assert cfg.env_weights == {"reasoning-gym/chain_sum": 2.0, "arithmetic-v0": 1.5}
    with pytest.raises(SparringError, match="list of 'key=value' strings or a mapping"):
        override_list("rounds=2")
    with pytest.raises(SparringError, match="must be a string, number"):
        override_list({"rounds": None})


def test_a_run_from_python_returns_its_rounds_and_its_checkpoint_scores_and_reports(tmp_path, tiny_model):
    quiet = Console(quiet=True)
    result = sparring.run(out=tmp_path / "run", console=quiet, overrides={
        "model": tiny_model, "rounds": 1, "eval.levels": [1], "eval.problems_per_level": 4, "eval.max_new_tokens": 4,
        "rollout.problems_per_round": 4, "rollout.max_new_tokens": 4, "rest_em.min_reward": 0.0,
        "rest_em.max_steps": 1, "backend.dtype": "float32"})
    assert isinstance(result, sparring.RunResult) and result.run_dir == tmp_path / "run"
    assert [m["round"] for m in result.rounds] == [0, 1] and result.score_name == "held-out accuracy"
    assert result.gain == pytest.approx(100 * (result.scores[1] - result.scores[0]))
    assert result.checkpoint == tmp_path / "run/rounds/1/checkpoint" and result.checkpoint.is_dir()
    scored = sparring.evaluate(result.checkpoint, "arithmetic-v0", n=4, levels=[1], max_new_tokens=4, console=quiet)
    assert scored.accuracy_by_level.keys() == {"1"} and scored.accuracy == result.scores[1]  # the same held-out set
    assert sparring.report(result.run_dir) == tmp_path / "run/report.html"


def test_verbs_answer_bad_input_with_the_clis_errors(tmp_path):
    with pytest.raises(SparringError, match="not a run directory"):
        sparring.league(tmp_path)
    with pytest.raises(SparringError, match="--recipes names no recipe"):
        sparring.compare(recipes=[" "])
    with pytest.raises(SparringError, match="Did you mean 'arithmetic-v0'"):
        sparring.evaluate("smollm2-135m-instruct", "arithmatic-v0")
    with pytest.raises(SparringError, match="has levels"):
        sparring.evaluate("smollm2-135m-instruct", "arithmetic-v0", levels=[9])
    with pytest.raises(SparringError, match="Did you mean 'tictactoe-v1'"):
        sparring.check("tic-tac-to-v0")
