import pytest

from sparring.envs import make_env


def _deal(seed_cards):
    """A seed whose deal is `seed_cards` (seat 0's card, seat 1's card)."""
    env = make_env("kuhn-poker-v1")
    return next(s for s in range(100) if (env.reset(s), env.cards)[1] == seed_cards)


@pytest.mark.parametrize("cards,moves,rewards", [
    (("K", "J"), ["check", "check"], (1.0, -1.0)),
    (("J", "K"), ["bet", "call"], (-2.0, 2.0)),
    (("J", "K"), ["bet", "fold"], (1.0, -1.0)),
    (("Q", "J"), ["check", "bet", "call"], (2.0, -2.0)),
    (("Q", "K"), ["check", "bet", "fold"], (-1.0, 1.0)),
])
def test_showdowns_and_folds_pay_in_chips(cards, moves, rewards):
    env = make_env("kuhn-poker-v1")
    env.reset(_deal(cards))
    results = [env.step(f"I {move}.") for move in moves]
    assert [r.done for r in results] == [False] * (len(moves) - 1) + [True] and results[-1].rewards == rewards


def test_each_seat_sees_only_its_own_card():
    env = make_env("kuhn-poker-v1")
    first = env.reset(_deal(("K", "J")))
    assert "you hold the K" in first.messages[-1].content and "J" not in first.messages[-1].content.split("hold")[1]
    second = env.step("check").next_request
    seen = second.messages[-1].content.split("you hold")[1]
    assert second.seat == 1 and seen.startswith(" the J.") and "K" not in seen
    assert second.legal_actions == ("check", "bet") and "player 1 checks" in second.messages[-1].content


def test_a_reply_naming_two_actions_is_illegal():
    env = make_env("kuhn-poker-v1")
    env.reset(0)
    retry = env.step("check or bet?")
    assert not retry.legal and "several moves" in retry.reason
    assert env.step("call").rewards == (-2.0, 2.0)  # call is not legal when nobody bet: the seat forfeits 2 chips


def test_inflected_actions_name_their_move():
    env = make_env("kuhn-poker-v1")
    env.reset(0)
    assert env.step("Checking.").legal  # player 1 checks
    result = env.step("I'm betting 1 chip")
    assert result.legal and result.next_request.legal_actions == ("call", "fold")
    assert env.step("Folding.").rewards == (-1.0, 1.0)  # player 1 folds
