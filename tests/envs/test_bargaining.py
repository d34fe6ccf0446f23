import pytest

from sparring.envs import make_env
from sparring.envs.bargaining import fairness, measures
from sparring.policies import POLICIES, TRAINED
from sparring.types import Episode


def _game():
    env = make_env("bargaining-v1")
    env.reset(0)
    return env


def test_an_agreement_in_round_two_is_discounted_once():
    env = _game()
    assert env.step("I propose [Offer: 7000] for me.").next_request.seat == 1
    after = env.step("[Reject]")
    assert after.next_request.seat == 1 and "Propose a split" in after.next_request.messages[-1].content
    env.step("[Offer: 5,500]")
    final = env.step("[accept]")
    assert final.terminated and final.rewards == pytest.approx((0.95 * 0.45, 0.95 * 0.55))
    assert final.info["split"] == [4500, 5500] and final.info["agreed_round"] == 2
    assert final.info["efficiency"] == pytest.approx(0.95)


def test_no_agreement_in_twelve_rounds_gives_nothing():
    env = _game()
    for _ in range(12):
        env.step("[Offer: 9000]")
        result = env.step("[Reject]")
    assert result.terminated and result.rewards == (0.0, 0.0)
    assert result.info["agreed_round"] is None and result.info["efficiency"] == 0.0


@pytest.mark.parametrize("first,reply,why", [
    (None, "[Offer: 10001]", "a whole number of coins from 0 to 10000"),
    (None, "[Offer: 60%]", "a whole number of coins"),
    (None, "[Accept]", "you propose this round"),
    (None, "[Offer: 6000] or [Offer: 5000]", "several actions"),
    (None, "half each", "no action"),
    ("[Offer: 6000]", "[Offer: 5000]", "answer the offer first"),
    ("[Offer: 6000]", "[Accept it]", "takes nothing inside its brackets"),
])
def test_malformed_messages_are_illegal_then_forfeit(first, reply, why):
    env = _game()
    if first:
        env.step(first)
    retry = env.step(reply)
    assert not retry.legal and why in retry.reason
    final = env.step(reply)
    offender = 1 if first else 0
    assert final.terminated and final.rewards[offender] == -1.0 and final.rewards[1 - offender] == 1.0


def _episode(rewards, agreed_round, split, efficiency):
    return Episode(id="e", env_id="bargaining-v1", env_version=1, seed=0, policies=(TRAINED, "x"), rewards=rewards,
                   terminated=True, info={"agreed_round": agreed_round, "split": split, "efficiency": efficiency,
                                          "illegal_by_seat": [0, 0]})


def test_measures_by_hand():
    assert fairness(0.5) == 1 and fairness(0.45) == pytest.approx(0.99) and fairness(1.0) == 0
    episodes = [_episode((0.4275, 0.5225), 2, [4500, 5500], 0.95), _episode((1.0, 0.0), 1, [10000, 0], 1.0),
                _episode((0.0, 0.0), None, None, 0.0), _episode((-1.0, 1.0), None, None, 0.0)]  # the last forfeited
    assert measures(episodes, TRAINED) == pytest.approx({"agreement": 2 / 3, "fairness": (0.99 + 0) / 2,
                                                         "efficiency": 1.95 / 3, "share": 1.4275 / 3})


def test_the_concession_bargainer():
    player = POLICIES.make("bargaining-concession")
    env = _game()
    (offer,) = player.act([env._request()], [0])
    assert offer.text == "[Offer: 9000]"
    for kept, answer in ((1900, "[Accept]"), (2000, "[Reject]")):  # accepts 8,100 >= 0.95 * 8,500; not 8,000
        env = _game()
        env.step(f"[Offer: {kept}]")
        assert player.act([env._request()], [0])[0].text == answer
