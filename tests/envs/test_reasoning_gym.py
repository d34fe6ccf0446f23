"""reasoning-gym/<task>: ids through the registry's family, what reaches reasoning-gym's scorer, levels, bad input."""

import sys

import pytest

from sparring.envs import ENVS, check_env, env_version, make_env
from sparring.envs.reasoning_gym import NO_ANSWER, read_reply
from sparring.errors import SparringError, UnknownIdError

FAMILY = next(f for f in ENVS.families() if f.prefix == "reasoning-gym/")


@pytest.mark.parametrize("text, numeric, passed", [
    ("The sum is 12.", True, "12"), ("Answer: -4", True, "-4"), ("\\boxed{2.50}", True, "2.5"),
    ("12 or 13", True, None), ("no idea", True, None),
    ("Answer: cab, abc", False, "cab, abc"), ("answer: first\nAnswer:  1 2\n3 4 ", False, "1 2\n3 4"),
    ("abc", False, None), ("Answer:   ", False, None),
])
def test_what_is_passed_to_the_scorer(text, numeric, passed):
    assert read_reply(text, numeric)[0] == passed


def test_an_episode_asks_reasoning_gyms_question_for_its_seed_and_scores_with_its_scorer():
    env = make_env("reasoning-gym/chain_sum", level=2)
    request = env.reset(3)
    assert request.messages[-1].content.startswith("State the final answer") and "Answer:" in request.messages[-1].content
    assert env.reset(3) == request and env.reset(4) != request
    import reasoning_gym

    entry = reasoning_gym.create_dataset("chain_sum", **env._config, seed=3, size=1)[0]
    env.reset(3)
    assert entry["question"] in request.messages[-1].content and env.answer == entry["answer"]
    result = env.step(f"First I add. The result is {entry['answer']}.")  # read as a number, then scored
    assert result.legal and result.rewards == (1.0,) and result.info["reasoning_gym"] == "0.1.25"
    env.reset(3)
    assert env.step("Answer: 100000").rewards == (0.0,)
    env.reset(3)
    result = env.step("I am not sure")
    assert not result.legal and result.rewards == (0.0,) and "no single number" in result.reason


def test_partial_credit_is_kept():
    env = make_env("reasoning-gym/letter_jumble")
    env.reset(0)
    words = env.answer.split()
    result = env.step("Answer: " + " ".join([*words[:-1], "zzzz"]))
    assert result.legal and 0 < result.rewards[0] < 1


def test_levels_come_from_the_tasks_curriculum():
    chain_sum = ENVS.load("reasoning-gym/chain_sum")
    assert chain_sum.levels == tuple(range(1, 12))  # num_terms has 11 levels, num_digits 10
    easy, hard = make_env("reasoning-gym/chain_sum", level=1), make_env("reasoning-gym/chain_sum", level=11)
    assert easy._config["max_digits"] == 1 and hard._config["max_digits"] == 10 and hard._config["max_terms"] == 12
    with pytest.raises(ValueError, match="level must be one of 1..11"):
        make_env("reasoning-gym/chain_sum", level=12)
    assert env_version("reasoning-gym/chain_sum") == 0


def test_a_task_without_a_curriculum_has_no_levels():
    without = [m for m in ENVS.members(FAMILY) if ENVS.load(m).levels is None]
    assert without, "reasoning-gym 0.1.25 has tasks without a curriculum"
    with pytest.raises(ValueError, match="no difficulty levels"):
        make_env(without[0], level=1)


def test_unknown_tasks_suggest_the_closest_and_the_listing_has_every_task():
    with pytest.raises(UnknownIdError, match="Did you mean 'reasoning-gym/chain_sum'"):
        make_env("reasoning-gym/chain_summ")
    import reasoning_gym

    assert {f"reasoning-gym/{name}" for name in reasoning_gym.factory.DATASETS} - set(ENVS.members(FAMILY)) \
        == {"reasoning-gym/composite"}  # it poses nothing without the datasets it mixes


def test_a_missing_package_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "reasoning_gym.factory", None)  # importing it now raises ImportError
    with pytest.raises(SparringError, match=r"pip install -e '.\[reasoning-gym\]'"):
        make_env("reasoning-gym/chain_sum")


def test_a_scorer_that_raises_makes_the_answer_illegal(monkeypatch):
    env = make_env("reasoning-gym/chain_sum")
    env.reset(0)
    monkeypatch.setattr(type(env._dataset), "score_answer", lambda self, answer, entry: 1 / 0)
    result = env.step("Answer: 3")
    assert not result.legal and result.rewards == (0.0,) and "ZeroDivisionError" in result.reason


@pytest.mark.parametrize("env_id", ENVS.members(FAMILY))
def test_every_task_keeps_the_contract_at_its_easiest_level(env_id):
    env = make_env(env_id)
    check_env(env, seeds=range(1))  # one seed: a few tasks take seconds a question (sokoban, arc_agi)
    env.reset(0)
    # a task gives its answer (and the env a reference solution that wins) unless listed as not
    assert (env._entry["answer"] is None) == (env_id.removeprefix("reasoning-gym/") in NO_ANSWER)
    assert hasattr(env, "reference_solution") == (env._entry["answer"] is not None)
