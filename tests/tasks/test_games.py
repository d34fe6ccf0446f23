"""League matchmaking of the games task: shares of self-play, past checkpoints and anchors."""

from collections import Counter

import pytest

from sparring.config import load_config
from sparring.errors import ConfigError, SparringError
from sparring.tasks import make_task

LEAGUE = ["env=tictactoe-v1", "rollout.problems_per_round=20", "rollout.samples_per_problem=1",
          "matches.self_play_share=0.25", "matches.past_share=0.5", "matches.past_k=2",
          "matches.opponents=['random-legal', 'base']"]


def _plan(r, extra=()):
    return make_task(load_config(None, [*LEAGUE, *extra])).plan(r, [])


def test_shares_of_self_play_past_checkpoints_and_anchors():
    specs, chosen = _plan(4)
    assert chosen == {"self_play_games": 5, "past_games": 10, "anchor_games": 5}
    opponents = Counter(s.tags["opponent"] for s in specs)
    assert opponents == {"policy": 5, "round-2": 5, "round-1": 5, "random-legal": 2, "base": 3}
    for spec in specs:
        trained = [seat for seat, p in enumerate(spec.policies) if p == "policy"]
        assert all(spec.tags["players"][seat] == "round-3" for seat in trained)  # round 4 plays round 3's model
        if spec.tags["opponent"] != "policy":
            assert trained == [spec.tags["game"] % 2]  # the trained seat alternates
            assert spec.tags["players"][1 - trained[0]] == spec.tags["opponent"] == spec.policies[1 - trained[0]]


def test_without_a_past_its_games_are_self_play():
    _, chosen = _plan(1)
    assert chosen == {"self_play_games": 15, "past_games": 0, "anchor_games": 5}
    specs, chosen = _plan(2)
    assert chosen["past_games"] == 10 and {s.tags["opponent"] for s in specs} >= {"base"}


def test_the_plan_is_the_same_every_time():
    assert _plan(3) == _plan(3)


@pytest.mark.parametrize("settings,error,message", [
    (["matches.opponents=['round-2']"], SparringError, "matches.opponents: unknown policy 'round-2'.*or 'base'"),
    (["matches.eval_opponents=['round-1']"], SparringError, "matches.eval_opponents: unknown policy 'round-1'.*or 'base'"),
    (["matches.eval_opponents=['mcts(base)']"], SparringError, "matches.eval_opponents: unknown policy 'mcts\\(base\\)'"),
    (["matches.opponents=['mcts(round-1)']"], SparringError, "or mcts\\(base\\), the base model with search"),
    (["matches.past_share=0.8"], ConfigError, "self_play_share \\+ past_share must be at most 1"),
])
def test_bad_matchmaking_is_refused(settings, error, message):
    with pytest.raises(error, match=message):
        make_task(load_config(None, [*LEAGUE, *settings])).check()


def test_search_players_may_be_seated():
    make_task(load_config(None, [*LEAGUE, "matches.opponents=['mcts(base)', 'mcts']",
                                 "matches.eval_opponents=['random-legal', 'mcts']"])).check()


def test_a_matrix_game_reports_its_measures_per_round():
    from sparring.engine import EpisodeSpec, run_episodes
    from sparring.envs.matrix_games import HELDOUT_TYPES
    from sparring.heldout import HELDOUT_SEED_BASE
    from sparring.policies import POLICIES, TRAINED

    task = make_task(load_config(None, ["env=matrix-2x2-v1"]))
    specs = [EpisodeSpec(id=f"g{k}", env_id="matrix-2x2-v1", seed=HELDOUT_SEED_BASE + k, policies=(TRAINED, TRAINED),
                         tags={"opponent": TRAINED}) for k in range(4 * len(HELDOUT_TYPES))]
    episodes = run_episodes(specs, {TRAINED: POLICIES.make("matrix-nash")}, {"round": 0})
    measured = task.rollout_metrics(episodes)["measures"]
    # the equilibrium player ignores the phrasing; it meets itself in an equilibrium wherever there is one
    # only, and misses where two equilibria pay the seats in opposite orders
    assert measured["consistent"] == 1.0 and 27 / 31 <= measured["nash_outcome"] < 1
    assert "measures" not in make_task(load_config(None, ["env=tictactoe-v1"])).rollout_metrics(episodes)


def test_the_base_model_may_be_an_evaluation_opponent(tiny_model, tmp_path, monkeypatch):
    from sparring.policies.checkpoints import load_model
    from sparring.store import EpisodeStore
    from sparring.tasks import games

    cfg = load_config(None, ["env=tictactoe-v1", f"model='{tiny_model}'", "backend.dtype=float32",
                             "matches.eval_opponents=['base', 'random-legal']", "matches.eval_games=4",
                             "eval.max_new_tokens=4"])
    task = make_task(cfg)
    task.check()
    loads = []
    monkeypatch.setattr(games, "load_run_model", lambda *args: loads.append(args[1]) or load_model("transformers", tiny_model,
                                                                                                 dtype="float32"))
    model = load_model("transformers", tiny_model, dtype="float32")
    store = EpisodeStore(tmp_path / "episodes.sqlite")
    round0 = task.evaluate(model, store, {"round": 0})
    assert loads == []  # round 0 judges the base model itself: it is its own opponent
    round1 = task.evaluate(model, store, {"round": 1})
    assert loads == [tiny_model]
    for result in (round0, round1):
        base = result["vs"]["base"]
        assert base["games"] == 4 and set(base["win_by_seat"]) == {0, 1}
        assert base["win"] == sum(base["win_by_seat"].values()) / 2  # half the games in each seat
    players = {tuple(e.tags["players"]) for e in store.episodes(1, "eval") if e.tags["opponent"] == "base"}
    assert players == {("round-1", "base"), ("base", "round-1")}


def test_a_win_is_the_larger_reward_not_a_positive_one():
    from sparring.tasks.games import result, results_by_opponent
    from sparring.types import Episode

    assert [result((1.0, -1.0), 0), result((1.0, -1.0), 1), result((0.0, 0.0), 1)] == ["win", "loss", "draw"]
    assert result((0.1, 0.9), 0) == "loss"  # bargaining: an agreement leaving seat 0 a tenth of the coins
    assert [result((0.6, 0.4), 0), result((1 / 3, 1 / 3), 1)] == ["win", "draw"]

    def game(trained_seat: int, rewards: tuple[float, float]) -> Episode:
        policies = ("policy", "bargaining-concession")[::1 if trained_seat == 0 else -1]
        return Episode(id=f"{trained_seat}{rewards}", env_id="bargaining-v1", env_version=1, seed=0, policies=policies,
                       rewards=rewards, terminated=True, tags={"opponent": "bargaining-concession"})

    games = [game(0, (0.1, 0.9)), game(0, (0.6, 0.4)), game(1, (0.9, 0.1)), game(1, (0.0, 0.0))]
    results = results_by_opponent(games)["bargaining-concession"]
    assert (results["win"], results["draw"], results["loss"]) == (0.25, 0.25, 0.5)
    assert results["win_by_seat"] == {0: 0.5, 1: 0.0}
    assert results["mean_reward"] == pytest.approx((0.1 + 0.6 + 0.1 + 0.0) / 4)
