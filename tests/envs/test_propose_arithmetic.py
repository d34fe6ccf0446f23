import pytest

from sparring.envs.propose_arithmetic import ProposeArithmetic, proposed_expressions, proposer_messages


@pytest.mark.parametrize("reply, expressions", [
    ("Problem: (23 + 45) * 3", ["(23 + 45) * 3"]), ("Sure!\nProblem: 12 * 7 = ?", ["12 * 7"]),
    ("problem: `8 % 3`.", ["8 % 3"]), ("Here is one.\n\n$45 - 17$", ["45 - 17"]), ("", []), ("I don't know", []),
    ("Problem: 1 + 1\nProblem: 2 * 3 =", ["2 * 3", "1 + 1"]), ("Solve: 28 + 52 + 47 * 81.", ["28 + 52 + 47 * 81"]),
    ("1. 10 * 3; 20 / 7", ["10 * 3", "20 / 7"]), ("Problem: 2**99", ["2**99"]),
])
def test_the_expressions_a_reply_may_mean_labelled_first(reply, expressions):
    assert proposed_expressions(reply) == expressions


def test_proposer_messages_show_seeds_failed_and_edge_problems_as_its_own_turns():
    messages = proposer_messages(["3 + 4"], ["12 * 13"], ["5 - 2", "7 * 8"])
    assert [m.role for m in messages] == ["system", "user"] + ["assistant", "user"] * 4
    assert [m.content for m in messages[2::2]] == ["Problem: 5 - 2", "Problem: 7 * 8", "Problem: 12 * 13", "Problem: 3 + 4"]
    assert "failed it" in messages[7].content and "easier" in messages[7].content
    assert "only sometimes" in messages[-1].content and "as hard" in messages[-1].content  # the edge problems come last
    assert not any("failed" in m.content for m in proposer_messages(["3 + 4"], [], ["5 - 2"]))
    with pytest.raises(ValueError, match="seed examples"):
        proposer_messages([], [], [])


def test_an_admitted_proposal_ends_legally_with_its_facts():
    env = ProposeArithmetic(edge=["3 + 4"], failed=["12 * 13"])
    request = env.reset(7)
    assert request.seat == 0 and "Problem: 12 * 13" in request.messages[-4].content
    assert env.reset(7) == request and env.reset(8) != request  # the seed examples come from the seed
    result = env.step("Problem: (7 + 5) * 3 = ?")
    assert result.legal and result.done and result.rewards == (0.0,)
    assert result.info["proposal"] == "(7 + 5) * 3" and result.info["answer"] == 36
    assert result.info["canonical"] == "3 * (5 + 7)" and result.info["shape"] == "1 * (1 + 1)"
    assert result.info["operations"] == 2 and result.info["literals"] == [3, 5, 7] and not result.info["copied"]
    # the first admissible expression is the proposal; copying a shown problem is marked
    env.reset(7)
    result = env.step("Here: 7 / 2, or better 4 + 3 = 7")
    assert result.legal and result.info["proposal"] == "4 + 3" and result.info["copied"]  # the edge problem 3 + 4
    # restating the shown problems first: the first admissible one it did not copy is the proposal
    env.reset(7)
    result = env.step("The student solved: 3 + 4\nThe student failed: 13 * 12\nNew: 7 / 2; 9 - 14 * 2")
    assert result.legal and result.info["proposal"] == "9 - 14 * 2" and not result.info["copied"]


@pytest.mark.parametrize("reply, reason", [("Problem: 2**99", "exponent"), ("I don't know", "no arithmetic expression"),
                                           ("Problem: 7 / 2", "remainder"), ("", "no arithmetic expression"), ("Problem: 7 / 2 or 9 %", "remainder")])
def test_an_inadmissible_proposal_is_an_illegal_action_with_its_reason(reply, reason):
    env = ProposeArithmetic()
    env.reset(0)
    result = env.step(reply)
    assert not result.legal and result.done and result.rewards == (-1.0,) and reason in result.reason


def test_limits_and_seed_examples_are_settings():
    env = ProposeArithmetic(limits={"max_operations": 1}, seed_examples=8)
    assert sum(m.role == "assistant" for m in env.reset(0).messages) == 8
    assert "more than 1 operations" in env.step("Problem: 1 + 2 + 3").reason
    with pytest.raises(ValueError, match="seed_examples must be 1..8"):
        ProposeArithmetic(seed_examples=0)
    # the seeds come from the seed levels alone: here levels 1 and 2, one-digit and two-digit sums
    for seed in range(20):
        request = ProposeArithmetic(seed_examples=2, seed_levels=[1, 2]).reset(seed)
        one, two = (m.content.removeprefix("Problem: ") for m in request.messages if m.role == "assistant")
        assert len(one) == 5 and len(two) == 7 and "+" in one and "+" in two, (one, two)
    with pytest.raises(ValueError, match="seed_levels must be distinct levels"):
        ProposeArithmetic(seed_levels=[2, 2, 3])
    with pytest.raises(ValueError, match=r"seed_levels must be distinct levels .*got \[\]"):
        ProposeArithmetic(seed_levels=[])  # none: an error, not every level
