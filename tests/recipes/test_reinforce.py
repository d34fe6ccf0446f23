"""reinforce: PPO-clip and the KL term by hand, advantages (RAE on games, the group mean on solo envs,
the illegal-reply credit), old log-probabilities from the round's model, and training that raises
the likelihood of advantaged replies and lowers that of disadvantaged ones."""

import math

import pytest
import torch

from sparring.config import load_config
from sparring.errors import SparringError
from sparring.policies.checkpoints import load_model
from sparring.recipes.base import BuildContext
from sparring.recipes.reinforce import (ReinforceConfig, build, check, counts, group_baselines, kl_k3, ppo_clip_loss,
                                        train, with_old_logprobs)
from sparring.types import Completion, Episode, Message, Turn


def test_ppo_clip_on_two_tokens_inside_and_outside_the_clip():
    # token 1: r = 1.1 (inside 0.8..1.2); token 2: r = 1.5 (outside, clipped to 1.2)
    old = torch.tensor([math.log(0.5), math.log(0.2)])
    new = torch.tensor([math.log(0.55), math.log(0.3)])
    # A = +2: -(min(1.1·2, 1.1·2) + min(1.5·2, 1.2·2)) = -(2.2 + 2.4)
    assert float(ppo_clip_loss(new, old, 2.0, 0.2)) == pytest.approx(-4.6)
    # A = -1: -(min(-1.1, -1.1) + min(-1.5, -1.2)) = 1.1 + 1.5: a negative advantage is not clipped from below
    assert float(ppo_clip_loss(new, old, -1.0, 0.2)) == pytest.approx(2.6)


def test_with_r_equal_to_one_the_gradient_is_reinforces():
    logp = torch.tensor([-0.5, -2.0], requires_grad=True)
    ppo_clip_loss(logp, logp.detach(), 3.0, 0.2).backward()
    assert logp.grad.tolist() == pytest.approx([-3.0, -3.0])  # d(-A·Σ log π)/d log π


def test_kl_k3_is_zero_at_the_reference_and_positive_elsewhere():
    logp = torch.tensor([-1.0, -2.0])
    assert float(kl_k3(logp, logp)) == 0.0
    # delta = ln 2: e^delta - delta - 1 = 2 - 0.6931 - 1
    assert float(kl_k3(torch.tensor([-1.0]), torch.tensor([-1.0 + math.log(2)]))) == pytest.approx(1 - math.log(2))


def _solo(id, seed, reward, texts=("Answer: 3",), legal=None):
    legal = legal or [True] * len(texts)
    turns = [Turn(0, (Message("user", f"problem {seed}"),), Completion(t, (1,), "stop"), ok) for t, ok in zip(texts, legal)]
    return Episode(id=id, env_id="arithmetic-v0", env_version=0, seed=seed, policies=("policy",), turns=turns,
                   rewards=(reward,), terminated=True, info={"level": 1}, provenance={"run_id": "r", "round": 1})


def test_solo_advantage_is_the_reward_minus_the_problems_mean():
    episodes = [_solo("a", 1, 1.0), _solo("b", 1, 0.0), _solo("c", 1, 0.0), _solo("d", 2, 1.0)]
    assert group_baselines(episodes, -1.5) == {("a", 0): pytest.approx(1 / 3), ("b", 0): pytest.approx(1 / 3),
                                               ("c", 0): pytest.approx(1 / 3), ("d", 0): 1.0}
    rows = build(episodes, ReinforceConfig())
    assert [(r["episode_id"], round(r["advantage"], 3)) for r in rows] == [("a", 0.667), ("b", -0.333), ("c", -0.333)]


def test_an_illegal_reply_is_credited_with_the_illegal_reward_in_the_problems_mean_too():
    episodes = [_solo("a", 1, 1.0, texts=("no idea", "Answer: 3"), legal=[False, True]), _solo("b", 1, 0.0),
                _solo("c", 2, 0.0, texts=("?",), legal=[False]), _solo("d", 2, 1.0)]
    rows = build(episodes, ReinforceConfig(illegal_reward=-1.5))
    # problem 1: a is credited -1.5 (it replied illegally once), b 0: baseline -0.75; a's illegal turn
    # -1.5 + 0.75, its legal one 1 + 0.75, and b's wrong but legal answer 0 + 0.75
    assert [(r["episode_id"], r["turn"], r["advantage"], r["legal"]) for r in rows if r["seed"] == 1] == [
        ("a", 0, -0.75, False), ("a", 1, 1.75, True), ("b", 0, 0.75, True)]
    # problem 2: -1.5 and 1, baseline -0.25: the advantages sum to zero
    assert [r["advantage"] for r in rows if r["seed"] == 2] == [-1.25, 1.25]
    assert counts(episodes, rows, ReinforceConfig())["illegal_rows"] == 2


def test_game_rows_carry_the_role_conditioned_advantage_of_the_trained_seats_only():
    turns = [Turn(s, (Message("user", f"t{i}"),), Completion(str(i + 1), (1,), "stop"), True)
             for i, s in enumerate((0, 1, 0))]
    game = Episode(id="g", env_id="tictactoe-v1", env_version=1, seed=0, policies=("policy", "random-legal"),
                   turns=turns, rewards=(-1.0, 1.0), terminated=True, provenance={})
    rows = build([game], ReinforceConfig())
    assert [(r["turn"], r["advantage"]) for r in rows] == [(0, -1.0), (2, -1.0)]  # a loss is kept, negative


def test_a_solo_env_with_one_sample_per_problem_is_refused_by_key():
    with pytest.raises(SparringError, match="rollout.samples_per_problem"):
        check(load_config(None, ["recipe=reinforce", "rollout.samples_per_problem=1"]))
    check(load_config(None, ["recipe=reinforce", "env=tictactoe-v1", "rollout.samples_per_problem=1"]))


def test_reinforce_raises_advantaged_replies_and_lowers_the_others(tiny_model, tmp_path):
    model = load_model("transformers", tiny_model, dtype="float32")
    episodes = []
    for p in range(4):
        episodes += [_solo(f"{p}w", p, 1.0, texts=(f"Answer: {p}",)), _solo(f"{p}l", p, 0.0, texts=("I do not know",))]
    cfg = ReinforceConfig(learning_rate=5e-3, batch_size=4, epochs=4.0, token_divisor=8.0)
    rows = with_old_logprobs(build(episodes, cfg), cfg, BuildContext(round=1, model=model))
    direct = model.backend.logprobs([(Message("user", "problem 0"),)], ["Answer: 0"])[0]
    [won] = [r for r in rows if r["episode_id"] == "0w"]
    assert won["old_logps"] == pytest.approx(list(direct.per_token), abs=1e-4)
    result = train(tiny_model, rows, cfg, tmp_path / "checkpoint")
    assert len(result.losses) == 8 and set(result.curves) == {"advantage", "clip_fraction", "entropy"}
    assert result.curves["clip_fraction"][0] == 0.0  # the first step: r = 1
    trained = load_model("transformers", str(tmp_path / "checkpoint"), dtype="float32").backend
    before, after = (b.logprobs([(Message("user", "problem 2"),)] * 2, ["Answer: 2", "I do not know"])
                     for b in (model.backend, trained))
    assert after[0].total > before[0].total and after[1].total < before[1].total
