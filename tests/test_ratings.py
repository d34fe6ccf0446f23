import pytest
from openskill.models import PlackettLuce

from sparring.ratings import Match, checkpoint_round, past_players, player_name, rate, standings


def _match(id, players, rewards, round=1, stage="train", illegal=(0, 0), replies=(4, 4)):
    return Match(id, round, stage, tuple(players), tuple(rewards), tuple(illegal), tuple(replies))


def test_pool_names():
    assert [player_name(r) for r in (0, 1, 12)] == ["base", "round-1", "round-12"]
    assert [checkpoint_round(n) for n in ("base", "round-3", "random-legal", "round-0", "round-x")] == [0, 3, None, None,
                                                                                                       None]
    assert past_players(1, 3) == [] and past_players(2, 3) == ["base"]
    assert past_players(6, 3) == ["round-4", "round-3", "round-2"]


def test_a_win_moves_ratings_as_openskill_does():
    model = PlackettLuce()
    [[a], [b]] = model.rate([[model.rating()], [model.rating()]], scores=[1.0, -1.0])
    ratings = rate([_match("r1/eval/0", ["round-1", "random-legal"], [1.0, -1.0])])
    assert ratings["round-1"]["mu"] == pytest.approx(a.mu) and ratings["random-legal"]["mu"] == pytest.approx(b.mu)
    assert ratings["round-1"]["ordinal"] == pytest.approx(a.mu - 3 * a.sigma) and ratings["round-1"]["games"] == 1


def test_a_new_checkpoint_starts_from_its_parents_mean_with_a_wider_uncertainty():
    history = [_match(f"r1/eval/{g}", ["base", "random-legal"], [1.0, -1.0], round=0, stage="eval") for g in range(6)]
    parent = rate(history)["base"]
    # round-1 plays one draw against an equal: its mean barely moves, its sigma starts wider than its parent's
    child = rate(history + [_match("r1/eval/x", ["round-1", "round-1x"], [0.0, 0.0], round=1, stage="eval")])
    assert child["round-1"]["mu"] != 25.0 and abs(child["round-1"]["mu"] - parent["mu"]) < 3
    assert parent["sigma"] < child["round-1"]["sigma"] <= 25 / 3


def test_games_against_oneself_are_not_rated_and_input_order_does_not_matter():
    matches = [_match("r1/train/0", ["round-1", "round-1"], [1.0, -1.0]),
               _match("r1/train/2", ["base", "random-legal"], [1.0, -1.0]),
               _match("r1/train/10", ["base", "random-legal"], [-1.0, 1.0]),
               _match("r1/eval/1", ["round-1", "random-legal"], [0.0, 0.0], stage="eval")]
    forward, backward = rate(matches), rate(matches[::-1])
    assert forward == backward
    assert forward["base"]["games"] == 2 and forward["round-1"]["games"] == 1


def test_standings_count_results_per_opponent_and_illegal_replies():
    rows = standings([_match("a", ["round-1", "random-legal"], [1.0, -1.0], illegal=(1, 0), replies=(5, 4)),
                      _match("b", ["random-legal", "round-1"], [0.0, 0.0], illegal=(0, 0), replies=(5, 4)),
                      _match("c", ["round-1", "round-1"], [1.0, -1.0], illegal=(0, 2), replies=(3, 3))])
    by_player = {row["player"]: row for row in rows}
    assert by_player["round-1"]["vs"] == {"random-legal": (1, 1, 0)}
    assert by_player["random-legal"]["vs"] == {"round-1": (0, 1, 1)}
    assert by_player["round-1"]["illegal_rate"] == pytest.approx(3 / 15)
    assert by_player["round-1"]["games"] == 2 and rows[0]["player"] == "round-1"  # best rated first
