import pytest
from transformers import AutoModelForCausalLM

from sparring.config import load_config
from sparring.errors import SparringError
from sparring.models.transformers_backend import checkpoint_hash
from sparring.policies.checkpoints import model_dirs, role_dirs
from sparring.recipes.base import TrainResult
from sparring.recipes.selfplay import RECIPE, SelfPlayConfig, advantages, balance, build, train
from sparring.types import Completion, Episode, Message, Turn


def _game(id, policies, rewards, seats=(0, 1, 0, 1), legal=None, opponent=None, env="tictactoe-v1"):
    legal = legal or [True] * len(seats)
    turns = [Turn(seat, (Message("user", f"{id} turn {i} seat {seat}"),), Completion(f" {i + 1} ", (1,), "stop"), ok)
             for i, (seat, ok) in enumerate(zip(seats, legal))]
    tags = {"opponent": opponent or ("policy" if policies[0] == policies[1] else policies[1 - policies.index("policy")])}
    return Episode(id=id, env_id=env, env_version=0, seed=1, policies=policies, turns=turns, rewards=rewards,
                   terminated=bool(rewards), tags=tags, provenance={"run_id": "r", "round": 1, "policies": {}})


def test_advantage_is_the_reward_minus_the_role_baseline_before_the_episode():
    # decay 0.5, baselines start at 0 and follow the episodes in id order (9 before 10)
    episodes = [_game("r1/train/10", ("policy", "policy"), (-1.0, 1.0)),
                _game("r1/train/9", ("policy", "policy"), (1.0, -1.0))]
    got = advantages(episodes, decay=0.5)
    assert got == {("r1/train/9", 0): 1.0, ("r1/train/9", 1): -1.0,  # b0 = 0, b1 = 0
                   ("r1/train/10", 0): -1.5, ("r1/train/10", 1): 1.5}  # b0 = 0.5, b1 = -0.5


def test_only_the_trained_policys_seats_with_an_outcome_get_credit():
    episodes = [_game("g1", ("policy", "random-legal"), (1.0, -1.0)),
                _game("g2", ("round-1", "policy"), (1.0, -1.0)),
                _game("g3", ("policy", "policy"), ())]  # cut: no outcome
    assert advantages(episodes, decay=0.95) == {("g1", 0): 1.0, ("g2", 1): -1.0}


def test_build_keeps_the_legal_turns_of_seats_with_a_positive_advantage():
    episodes = [_game("g1", ("policy", "policy"), (1.0, -1.0), legal=[True, True, False, True]),
                _game("g2", ("policy", "random-legal"), (0.0, 0.0))]  # advantage 0 - 0.05 < 0: dropped
    rows = build(episodes, SelfPlayConfig(balance_roles=False))
    assert [(r["episode_id"], r["seat"], r["turn"]) for r in rows] == [("g1", 0, 0)]  # turn 2 was illegal
    row = rows[0]
    assert row["completion"] == [{"role": "assistant", "content": "1"}] and row["prompt"][0]["content"] == "g1 turn 0 seat 0"
    assert (row["role"], row["opponent"], row["advantage"], row["reward"]) == ("seat 0", "self", 1.0, 1.0)
    assert row["run_id"] == "r" and row["round"] == 1 and row["env_id"] == "tictactoe-v1"


def test_build_never_trains_on_the_turns_of_scripted_or_past_players():
    episodes = [_game("g1", ("random-legal", "policy"), (1.0, -1.0)), _game("g2", ("policy", "round-2"), (-1.0, 1.0))]
    rows = build(episodes, SelfPlayConfig(min_advantage=-10, balance_roles=False))  # keep even the losses
    assert [(r["episode_id"], r["seat"], r["turn"], r["opponent"]) for r in rows] == [
        ("g1", 1, 1, "random-legal"), ("g1", 1, 3, "random-legal"), ("g2", 0, 0, "round-2"), ("g2", 0, 2, "round-2")]


def test_min_advantage_and_legal_only_widen_what_is_kept():
    episodes = [_game("g1", ("policy", "policy"), (0.0, 0.0), legal=[False, True, True, True])]
    assert build(episodes, SelfPlayConfig()) == []  # a draw at baseline 0: zero advantage
    rows = build(episodes, SelfPlayConfig(min_advantage=-1, legal_only=False, balance_roles=False))
    assert len(rows) == 4


def test_balance_repeats_the_smaller_roles_rows_in_order():
    rows = [{"env_id": "e", "seat": 0, "n": i} for i in range(3)] + [{"env_id": "e", "seat": 1, "n": 9}]
    assert [(r["seat"], r["n"]) for r in balance(rows)] == [(0, 0), (0, 1), (0, 2), (1, 9), (1, 9), (1, 9)]
    assert balance([]) == []


def test_build_balances_roles_by_default():
    episodes = [_game("g1", ("policy", "policy"), (1.0, -1.0), seats=(0, 1, 0, 1, 0)),
                _game("g2", ("policy", "policy"), (-1.0, 1.0), seats=(0, 1, 0, 1, 0))]
    rows = build(episodes, SelfPlayConfig())
    # g1: seat 0 (advantage 1) has 3 turns; g2: seat 1 (advantage 1 - (-0.05)) has 2, repeated to 3
    assert [(r["episode_id"], r["seat"], r["turn"]) for r in rows] == [
        ("g1", 0, 0), ("g1", 0, 2), ("g1", 0, 4), ("g2", 1, 1), ("g2", 1, 3), ("g2", 1, 1)]


def _rows(seat, n=4):
    return [{"prompt": [{"role": "user", "content": f"board {i}, you are seat {seat}"}],
             "completion": [{"role": "assistant", "content": str(i + 1)}], "seat": seat, "env_id": "tictactoe-v1"}
            for i in range(n)]


def _train(tmp_path, tiny_model, rows, **settings):
    cfg = SelfPlayConfig(batch_size=4, **settings)
    return train(tiny_model, rows, cfg, tmp_path / "checkpoint", seed=0)


def test_shared_training_writes_one_checkpoint_that_loads(tmp_path, tiny_model):
    result = _train(tmp_path, tiny_model, _rows(0) + _rows(1))
    assert role_dirs(result.checkpoint) == {} and len(result.losses) == 2
    AutoModelForCausalLM.from_pretrained(result.checkpoint)
    assert checkpoint_hash(str(result.checkpoint)) != checkpoint_hash(tiny_model)


def test_per_role_training_gives_each_seat_its_own_checkpoint_trained_on_its_own_rows(tmp_path, tiny_model):
    first = _train(tmp_path / "a", tiny_model, _rows(0) + _rows(1, n=8), policies="per-role")
    seats = role_dirs(first.checkpoint)
    assert set(seats) == {"seat0", "seat1"} and len(first.losses) == 1 + 2  # 4 rows of seat 0, 8 of seat 1, batch 4
    assert TrainResult.read(first.checkpoint).losses == first.losses
    hashes = {seat: checkpoint_hash(str(path)) for seat, path in seats.items()}
    assert len(set(hashes.values()) | {checkpoint_hash(tiny_model)}) == 3  # two new models, both moved
    # the next round trains each role from its own checkpoint; a role without rows keeps its weights
    second = _train(tmp_path / "b", str(first.checkpoint), _rows(1), policies="per-role")
    assert checkpoint_hash(str(role_dirs(second.checkpoint)["seat0"])) == hashes["seat0"]
    assert checkpoint_hash(str(role_dirs(second.checkpoint)["seat1"])) not in (hashes["seat1"], hashes["seat0"])
    assert [p.name for p in model_dirs(second.checkpoint)] == ["seat0", "seat1"]


def test_per_role_needs_a_game_with_several_seats():
    cfg = load_config(None, ["recipe=selfplay", "selfplay.policies=per-role"])
    with pytest.raises(SparringError, match="per-role.*arithmetic-v0 has one seat"):
        RECIPE.check(cfg)
    RECIPE.check(load_config(None, ["recipe=selfplay", "env=tictactoe-v1", "selfplay.policies=per-role"]))


def test_no_rows_is_a_clear_error(tmp_path, tiny_model):
    with pytest.raises(ValueError, match="no turn had a positive advantage"):
        _train(tmp_path, tiny_model, [])
