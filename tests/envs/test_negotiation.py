import pytest

from sparring.envs import make_env
from sparring.envs.negotiation import read_action
from sparring.policies import POLICIES


@pytest.mark.parametrize("text,action", [
    ("Deal? [Offer: 3 Wood -> 2 Gold] Think about it.", ("offer", (3, 0), (0, 2))),
    ("[offer 1 gold and 2 wood -> 3 gold]", None),  # gold on both sides
    ("[Offer: 2 Wood, 1 Gold -> ]", None),
    ("[Offer: 0 Wood -> 1 Gold]", None),
    ("[Offer: 3 Wood]", None),
    ("[Offer: 3 Apples -> 1 Gold]", None),
    ("[Offer: 2 Wood -> 1 Gold, 1 Gold]", None),
    ("[Accept] and [Deny]", None),
    ("[Accept now]", None),
    ("  [accept] ", ("accept",)),
    ("[Deny]. No thanks.", ("deny",)),
    ("I would like more gold.", ("talk",)),
])
def test_read_action(text, action):
    got, why = read_action(text)
    assert got == action and (why == "") == (action is not None)


def _game(seed=1):
    env = make_env("negotiation-v1")
    env.reset(seed)
    env.values, env.holdings = ((5, 15), (15, 5)), ((10, 10), (10, 10))  # SPIRAL's game
    env.start_holdings = env.holdings
    return env


def test_an_accepted_offer_trades_and_the_larger_gain_wins():
    env = _game()
    result = env.step("Let's trade. [Offer: 4 Wood -> 2 Gold]")
    assert result.legal and "Standing offer: Player 1 offered [Offer: 4 Wood -> 2 Gold]" in \
        result.next_request.messages[-1].content
    result = env.step("[Accept]")
    assert env.holdings == ((6, 12), (14, 8)) and env.offer is None
    assert result.info["gains"] == [-20 + 30, 60 - 10] and result.info["trades"] == 1  # (10, 50)
    for _ in range(8):
        result = env.step("hello")
    assert result.terminated and result.rewards == (-1.0, 1.0)


def test_no_trade_is_a_draw_and_a_counter_offer_replaces_the_standing_one():
    env = _game()
    env.step("[Offer: 1 Wood -> 3 Gold]")
    env.step("[Offer: 1 Wood -> 1 Gold]")  # a counter-offer
    assert env.offer == (1, (1, 0), (0, 1))
    result = env.step("[Deny]")
    assert result.legal and env.offer is None
    for _ in range(7):
        result = env.step("...")
    assert result.terminated and result.rewards == (0.0, 0.0)


@pytest.mark.parametrize("reply,why", [
    ("[Accept]", "there is no offer to accept"),
    ("[Deny]", "there is no offer to deny"),
    ("[Offer: 11 Wood -> 1 Gold]", "you offer more than you hold"),
    ("[Offer: 1 Wood -> 1 Wood]", "one resource on both sides"),
])
def test_illegal_messages_are_told_why_then_forfeit(reply, why):
    env = _game()
    retry = env.step(reply)
    assert not retry.legal and why in retry.reason and why in retry.next_request.messages[-1].content
    final = env.step(reply)
    assert final.terminated and final.rewards == (-1.0, 1.0)


def test_an_acceptance_it_cannot_pay_for_is_illegal():
    env = _game()
    env.step("[Offer: 1 Wood -> 11 Gold]")
    assert env.step("[Accept]").reason == "you do not hold what the offer asks for"


def test_the_legal_moves_listed_are_legal():
    env = _game()
    env.step("[Offer: 1 Wood -> 2 Gold]")
    for move in env.legal_moves():
        assert env.read(move) == (move, "")
    assert env.legal_moves()[:2] == ["[Accept]", "[Deny]"]


def test_the_trader_accepts_what_gains_it_value_and_asks_for_more_otherwise():
    trader = POLICIES.make("negotiation-trader")
    env = _game()
    env.step("[Offer: 1 Wood -> 1 Gold]")  # player 2 values wood at 15, gold at 5: +10 to it
    (answer,) = trader.act([env._request()], [0])
    assert answer.text == "[Accept]"
    env = _game()
    env.step("[Offer: 1 Gold -> 1 Wood]")  # -10 to player 2
    (answer,) = trader.act([env._request()], [0])
    assert answer.text == "[Offer: 1 Gold -> 2 Wood]"
