import pytest

from sparring.envs import make_env
from sparring.envs.games import read_move
from sparring.envs.tictactoe import TicTacToe

VOCABULARY = TicTacToe.vocabulary


@pytest.mark.parametrize("text,move", [
    ("5", "5"), ("I play 5.", "5"), ("Cell 5 (the centre)", "5"), ("5, final: 5", "5"),
    ("5 or 7", None), ("Legal moves: 1, 2, 3. I pick 5", None),  # several moves named: illegal
    ("the centre", None), ("15", None), ("", None), ("5️⃣", "5"),
])
def test_a_reply_names_exactly_one_move(text, move):
    assert read_move(text, VOCABULARY)[0] == move


def _play(env, *moves):
    result = None
    for move in moves:
        result = env.step(move)
    return result


def test_three_in_a_row_wins_and_a_full_board_draws():
    env = make_env("tictactoe-v1")
    first = env.reset(0)
    assert first.seat == 0 and first.legal_actions == tuple("123456789") and "You are X" in first.messages[-1].content
    won = _play(env, "1", "4", "2", "5", "3")
    assert won.terminated and won.rewards == (1.0, -1.0) and won.info["moves"] == list("14253")
    env.reset(0)
    drawn = _play(env, "1", "2", "3", "5", "4", "6", "8", "7", "9")
    assert drawn.terminated and drawn.rewards == (0.0, 0.0)


def test_an_illegal_reply_is_told_why_and_retried_once_then_forfeits():
    env = make_env("tictactoe-v1")
    env.reset(0)
    env.step("5")
    retry = env.step("5")  # taken
    assert not retry.legal and not retry.done and retry.next_request.seat == 1
    assert "Your last reply was illegal: 5 is not a legal move now" in retry.next_request.messages[-1].content
    forfeit = env.step("1 or 2")
    assert forfeit.terminated and not forfeit.legal and forfeit.rewards == (1.0, -1.0)
    assert forfeit.reason.startswith("seat 1 forfeits") and forfeit.info["illegal_by_seat"] == [0, 2]


def test_retries_are_per_turn_and_configurable():
    env = make_env("tictactoe-v1", illegal_retries=0)
    env.reset(0)
    assert env.step("nothing").rewards == (-1.0, 1.0)
    env = make_env("tictactoe-v1", illegal_retries=1)
    env.reset(0)
    assert not env.step("x").legal and env.step("1").legal  # seat 0 used its retry
    assert not env.step("x").done  # seat 1 has its own retry for its turn
