import random

import pytest

from sparring.envs import make_env
from sparring.envs.arithmetic import ArithmeticEnv, evaluate, generate_problem, render


@pytest.mark.parametrize("level", range(1, 9))
def test_rendered_problem_means_what_it_evaluates_to(level):
    rng = random.Random(level)
    for _ in range(200):
        expr = generate_problem(level, rng)
        assert eval(render(expr)) == evaluate(expr)  # the text the model sees has the checked answer


def test_levels_have_the_documented_shapes():
    def operands(level):
        return [int(x) for x in render(generate_problem(level, random.Random(1))).replace("(", "").replace(")", "").split()
                if x.lstrip("-").isdigit()]

    assert all(0 <= x <= 9 for x in operands(1))
    assert all(10 <= x <= 99 for x in operands(2))
    assert all(100 <= x <= 999 for x in operands(5))
    assert len(operands(7)) == 3 and len(operands(8)) == 4


def test_right_answer_wins_wrong_loses_and_no_number_is_illegal():
    env = make_env("arithmetic-v0", level=2)
    env.reset(5)
    right = env.step(f"I think it is {env.answer}.")
    assert right.terminated and right.rewards == (1.0,) and right.legal
    env.reset(5)
    wrong = env.step(f"Answer: {env.answer + 1}")
    assert wrong.terminated and wrong.rewards == (0.0,) and wrong.legal and wrong.reason == "wrong"
    env.reset(5)
    junk = env.step("I don't know")
    assert junk.terminated and not junk.legal and junk.rewards == (0.0,) and junk.reason.startswith("illegal")


def test_attempts_reprompt_with_the_conversation_so_far():
    env = ArithmeticEnv(level=1, max_attempts=2)
    first = env.reset(3)
    retry = env.step("banana")
    assert not retry.done and not retry.legal
    assert [m.role for m in retry.next_request.messages] == ["system", "user", "assistant", "user"]
    assert retry.next_request.messages[:2] == first.messages
    final = env.step(str(env.answer))
    assert final.terminated and final.rewards == (1.0,) and final.info["attempt"] == 2


def test_reference_solution_shows_the_steps():
    env = ArithmeticEnv(level=7)
    env.reset(11)
    lines = env.reference_solution().splitlines()
    assert len(lines) == 3 and lines[-1] == f"Answer: {env.answer}"


def test_same_seed_same_problem_different_seed_different_problem():
    env = ArithmeticEnv(level=5)
    assert env.reset(1) == env.reset(1)
    assert len({env.reset(s).messages[-1].content for s in range(20)}) > 15


def test_bad_level_is_a_clear_error():
    with pytest.raises(ValueError, match="1..8"):
        ArithmeticEnv(level=9)


def test_a_proposed_problem_replaces_the_generator():
    env = make_env("arithmetic-v0", problem="(12 + 3) * 4 / 6")
    for seed in (1, 2):
        request = env.reset(seed)
        assert "Compute (12 + 3) * 4 / 6." in request.messages[-1].content
    result = env.step("15 * 4 = 60, 60 / 6 = 10. Answer: 10")
    assert result.rewards == (1.0,) and result.info["level"] is None and result.info["answer"] == 10
    assert env.reference_solution().splitlines() == ["12 + 3 = 15", "15 * 4 = 60", "60 / 6 = 10", "Answer: 10"]
    twin = env.clone()
    twin.reset(3)
    assert twin.problem == env.problem


def test_a_problem_the_evaluator_rejects_is_an_error_naming_why():
    with pytest.raises(ValueError, match="exponent"):
        make_env("arithmetic-v0", problem="9**99")
