"""dpo: pairs from the model's own answers (hand-worked), reference log-probabilities, training."""

import math

import pytest
import torch
from transformers import AutoModelForCausalLM

from sparring.policies.checkpoints import load_model
from sparring.recipes.base import BuildContext, TrainResult
from sparring.recipes.dpo import DPOSettings, build, counts, preference_pairs, train, with_reference
from sparring.types import Completion, Episode, Message, Turn


def _answer(i, problem, answer, reward, env="arithmetic-v0"):
    prompt = (Message("user", f"problem {problem}"),)
    return Episode(id=f"e{i}", env_id=env, env_version=0, seed=problem, policies=("policy",),
                   turns=[Turn(0, prompt, Completion(answer, (1,), "stop"), True)], rewards=(reward,), terminated=True,
                   info={"level": 1}, provenance={"run_id": "r", "round": 1, "policies": {"policy": {"model_id": "m"}}})


def _texts(rows):
    return [(r["prompt"][0]["content"], r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in rows]


def test_a_verified_answer_is_chosen_over_a_failed_one_of_the_same_problem():
    episodes = [_answer(0, 1, "6", 0.0), _answer(1, 1, "5", 1.0), _answer(2, 1, " 5 ", 1.0), _answer(3, 1, "7", 0.0),
                _answer(4, 2, "9", 1.0), _answer(5, 2, "9", 1.0),   # one distinct answer
                _answer(6, 3, "1", 1.0), _answer(7, 3, "01", 1.0),  # all right
                _answer(8, 4, "x", 0.0), _answer(9, 4, "y", 0.0)]   # all wrong
    rows, counted = preference_pairs(episodes, DPOSettings())
    # problem 1: answers 6 (0), 5 (1), 7 (0); best 5 with the worst played last, 7
    assert _texts(rows) == [("problem 1", "5", "7")]
    assert rows[0]["chosen_score"] == 1.0 and rows[0]["rejected_score"] == 0.0
    assert rows[0]["chosen_episode"] == "e1" and rows[0]["rejected_episode"] == "e3"
    assert rows[0]["episode_id"] == "e1" and rows[0]["seat"] == 0 and rows[0]["round"] == 1 and rows[0]["level"] == 1
    assert counted == {"prompts": 4, "pairs": 1, "one_answer": 1, "all_rewarded": 1, "none_rewarded": 1,
                       "within_margin": 0}
    assert build(episodes, DPOSettings()) == rows and counts(episodes, rows, DPOSettings()) == counted


def test_pairs_per_prompt_pairs_best_with_worst_then_next_best_with_next_worst():
    episodes = [_answer(i, 1, a, r) for i, (a, r) in enumerate([("a", 1.0), ("b", 0.0), ("c", 1.0), ("d", 0.0),
                                                                 ("e", 0.0)])]
    assert _texts(build(episodes, DPOSettings(pairs_per_prompt=5))) == [("problem 1", "a", "e"), ("problem 1", "c", "d")]
    assert _texts(build(episodes, DPOSettings(pairs_per_prompt=1))) == [("problem 1", "a", "e")]
    assert build(episodes, DPOSettings(min_margin=1.0)) == []  # a margin of exactly 1 is not above 1
    # ties may be paired where asked (the tiny test model's answers all score alike)
    tied = [_answer(0, 1, "a", 0.0), _answer(1, 1, "b", 0.0), _answer(2, 1, "c", 0.0)]
    assert _texts(build(tied, DPOSettings(min_margin=-1))) == [("problem 1", "a", "c")]


def _game(i, moves, rewards, policies=("policy", "policy")):
    """A game whose turns are (seat, board, reply, legal)."""
    turns = [Turn(seat, (Message("user", board),), Completion(reply, (1,), "stop"), legal)
             for seat, board, reply, legal in moves]
    return Episode(id=f"g{i}", env_id="tictactoe-v1", env_version=1, seed=i, policies=policies, turns=turns,
                   rewards=rewards, terminated=True, provenance={"policies": {}})


def test_in_games_a_reply_scores_the_mean_outcome_of_the_games_it_was_played_in():
    games = [
        _game(0, [(0, "empty", "5", True), (1, "X5", "1", True)], (1.0, -1.0)),
        _game(1, [(0, "empty", "5", True), (1, "X5", "2", True)], (-1.0, 1.0)),
        _game(2, [(0, "empty", "1", True), (1, "X1", "5", True)], (-1.0, 1.0)),
        _game(3, [(0, "empty", "9", False), (0, "empty", "3", True), (1, "X3", "5", True)], (0.0, 0.0)),
        _game(4, [(0, "empty", "7", True), (1, "X7", "5", True)], (1.0, -1.0), policies=("random-legal", "policy")),
    ]
    rows, counted = preference_pairs(games, DPOSettings(pairs_per_prompt=2))
    # seat 0 at "empty": 5 -> mean(1, -1) = 0, 1 -> -1, 9 -> illegal, 3 -> 0 (game 4's seat 0 was not ours)
    # best: 5 (0), 3 (0), 1 (-1), 9 (illegal); pairs 5 vs 9, then 3 vs 1. Seat 1 at "X5": 1 (-1) vs 2 (+1).
    assert _texts(rows) == [("empty", "5", "9"), ("empty", "3", "1"), ("X5", "2", "1")]
    assert rows[0]["rejected_score"] == -1e9 and rows[2]["seat"] == 1
    assert counted["prompts"] == 5 and counted["one_answer"] == 3  # X1, X3 and X7 were met once


def test_an_illegal_reply_is_never_chosen_over_a_legal_one():
    illegal = [_game(0, [(0, "empty", "99", False)], (-1.0, 1.0)), _game(1, [(0, "empty", "hi", False)], (-1.0, 1.0))]
    rows, counted = preference_pairs(illegal, DPOSettings())
    assert rows == [] and counted["none_rewarded"] == 1
    losing = _game(2, [(0, "empty", "5", True), (1, "X5", "1", True)], (-1.0, 1.0))
    assert _texts(build([*illegal, losing], DPOSettings())) == [("empty", "5", "hi")]  # a loss beats a forfeit
    # only where ties are asked for (the tiny test model, never legal) are illegal replies paired
    assert _texts(build(illegal, DPOSettings(min_margin=-1))) == [("empty", "99", "hi")]


def test_reference_logprobs_come_from_the_rounds_starting_model(tiny_model):
    model = load_model("transformers", tiny_model, dtype="float32")
    rows = build([_answer(0, 1, "6", 0.0), _answer(1, 1, "5", 1.0)], DPOSettings())
    scored = with_reference(rows, DPOSettings(), BuildContext(round=1, model=model))
    direct = model.backend.logprobs([(Message("user", "problem 1"),)] * 2, ["5", "6"])
    assert scored[0]["ref_chosen_logps"] == pytest.approx(direct[0].total)
    assert scored[0]["ref_rejected_logps"] == pytest.approx(direct[1].total)
    assert "ref_chosen_logps" not in rows[0]  # the built rows are left as they were


@pytest.mark.parametrize("finetune", ["lora", "full"])
def test_dpo_trains_the_tiny_model_towards_the_chosen_answers(tiny_model, tmp_path, finetune):
    model = load_model("transformers", tiny_model, dtype="float32")
    episodes = [_answer(2 * p, p, f"Answer: {p}", 1.0) for p in range(8)] + \
               [_answer(2 * p + 1, p, "I do not know", 0.0) for p in range(8)]
    cfg = DPOSettings(finetune=finetune, epochs=3, batch_size=4, learning_rate=5e-3 if finetune == "lora" else 1e-3)
    rows = with_reference(build(episodes, cfg), cfg, BuildContext(round=1, model=model))
    assert len(rows) == 8
    result = train(tiny_model, rows, cfg, tmp_path / "checkpoint")
    assert TrainResult.read(tmp_path / "checkpoint").losses == result.losses and len(result.losses) == 6
    assert result.losses[0] == pytest.approx(math.log(2), abs=0.02)  # policy = reference at the first step
    margins = result.curves["rewards/margins"]
    assert len(margins) == 6 and margins[-1] > margins[0]
    trained = load_model("transformers", str(tmp_path / "checkpoint"), dtype="float32").backend
    before, after = (b.logprobs([(Message("user", "problem 3"),)] * 2, ["Answer: 3", "I do not know"])
                     for b in (model.backend, trained))
    assert after[0].total - after[1].total > before[0].total - before[1].total  # the chosen answer gained on the other
    assert isinstance(AutoModelForCausalLM.from_pretrained(tmp_path / "checkpoint"), torch.nn.Module)


def test_sft_weight_adds_the_chosen_answers_negative_log_likelihood_to_the_loss(tiny_model, tmp_path):
    model = load_model("transformers", tiny_model, dtype="float32")
    episodes = [_answer(2 * p, p, f"Answer: {p}", 1.0) for p in range(4)] + \
               [_answer(2 * p + 1, p, "I do not know", 0.0) for p in range(4)]
    cfg = DPOSettings(batch_size=4, sft_weight=0.5)  # one step over all four pairs
    rows = with_reference(build(episodes, cfg), cfg, BuildContext(round=1, model=model))
    chosen = model.backend.logprobs([(Message("user", f"problem {p}"),) for p in range(4)],
                                    [f"Answer: {p}" for p in range(4)])
    nll = -sum(c.total for c in chosen) / sum(len(c.per_token) for c in chosen)  # TRL's: mean over the batch's tokens
    result = train(tiny_model, rows, cfg, tmp_path / "checkpoint")
    assert result.losses == [pytest.approx(math.log(2) + 0.5 * nll, abs=0.02)]
