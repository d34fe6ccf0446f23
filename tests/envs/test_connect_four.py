from sparring.envs import make_env


def test_four_in_a_column_wins_and_a_full_column_is_illegal():
    env = make_env("connect-four-v1")
    first = env.reset(0)
    assert first.legal_actions == tuple("1234567") and "1 2 3 4 5 6 7" in first.messages[-1].content
    for move in "1212121":
        result = env.step(move)
    assert result.terminated and result.rewards == (1.0, -1.0)
    env.reset(0)
    for move in "111111":
        env.step(move)
    assert "1" not in env.legal_moves()
    assert not env.step("1").legal  # a full column


def test_four_on_a_diagonal_win():
    env = make_env("connect-four-v1")
    env.reset(0)
    results = [env.step(move) for move in "12233434474"]  # X ends on (1,0) (2,1) (3,2) (4,3)
    assert not any(r.done for r in results[:-1])
    assert results[-1].terminated and results[-1].rewards == (1.0, -1.0)
