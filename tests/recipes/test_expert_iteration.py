"""expert-iteration: the listwise loss by hand, packed move scoring equal to Backend.logprobs, positions
found by replay, search targets with the round's model, and training that moves the tiny model
towards the search's moves."""

import math

import pytest
import torch

from sparring.config import load_config
from sparring.engine import EpisodeSpec, run_episodes
from sparring.errors import SparringError
from sparring.policies import POLICIES
from sparring.policies.checkpoints import load_model
from sparring.recipes.base import BuildContext, TrainResult
from sparring.recipes.expert_iteration import (RECIPE, ExpertIterationConfig, build, check, counts, distance,
                                               listwise_loss, positions, train, with_search)
from sparring.models.transformers_backend import answers_token_logprobs
from sparring.search.mcts import SearchConfig
from sparring.types import Message


def test_distance_counts_the_probability_off_the_legal_moves_by_hand():
    # the policy gives the legal moves 0.5 and 0.25 (0.25 elsewhere): towards a one-hot target on the
    # first, KL over the renormalised softmax is -ln(0.5/0.75) = 0.405, plus -ln 0.75 = 0.288 off them
    assert distance([1.0, 0.0], [math.log(0.5), math.log(0.25)]) == pytest.approx(math.log(2), abs=1e-9)
    # π = (0.5, 0.5) against the same scores: 0.5(ln 0.5 - ln 0.5) + 0.5(ln 0.5 - ln 0.25) = 0.5 ln 2
    assert distance([0.5, 0.5], [math.log(0.5), math.log(0.25)]) == pytest.approx(0.5 * math.log(2), abs=1e-9)
    # a policy that gives the legal moves all its mass: the plain KL
    assert distance([0.5, 0.5], [math.log(0.5), math.log(0.5)]) == pytest.approx(0.0, abs=1e-12)


def test_listwise_loss_on_three_moves_by_hand():
    # s = (1, 2, 0): log-softmax = s - ln(e + e^2 + 1) = (-1.4076, -0.4076, -2.4076)
    s = torch.tensor([1.0, 2.0, 0.0])
    assert float(listwise_loss(s, [0.2, 0.8, 0.0])) == pytest.approx(0.2 * 1.4076 + 0.8 * 0.4076, abs=1e-4)
    assert float(listwise_loss(s, [0.5, 0.25, 0.25])) == pytest.approx(0.5 * 1.4076 + 0.25 * 0.4076 + 0.25 * 2.4076,
                                                                       abs=1e-4)


def test_the_legal_mass_term_by_hand():
    s = torch.tensor([1.0, 2.0, 0.0])  # log-sum-exp = ln(e + e^2 + 1) = 2.4076
    assert float(listwise_loss(s, [0.2, 0.8, 0.0], 0.5)) == pytest.approx(0.6076 - 0.5 * 2.4076, abs=1e-4)
    # w = 1: SFT on the soft target, -Σ π_i s_i
    assert float(listwise_loss(s, [0.2, 0.8, 0.0], 1.0)) == pytest.approx(-(0.2 * 1.0 + 0.8 * 2.0), abs=1e-5)


def test_listwise_loss_with_a_one_hot_target_is_the_moves_negative_log_softmax():
    s = torch.tensor([-3.0, -1.5, -7.0, -2.0])
    for i in range(4):
        one_hot = [float(j == i) for j in range(4)]
        assert float(listwise_loss(s, one_hot)) == pytest.approx(float(-torch.log_softmax(s, -1)[i]))


def test_packed_moves_score_as_the_backend_scores_each(tiny_backend):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_backend.path, dtype=torch.float32, attn_implementation="sdpa")
    groups = [([{"role": "user", "content": "Free cells: 1, 5, 9. Which?"}], ["1", "5", "9"]),
              ([{"role": "user", "content": "Which do you choose? check or bet"}], ["check", "bet"])]
    with torch.no_grad():
        packed = answers_token_logprobs(model, tiny_backend.tokenizer, groups)
    for (prompt, moves), scored in zip(groups, packed):
        direct = tiny_backend.logprobs([(Message(**prompt[0]),)] * len(moves), moves)
        assert [len(s) for s in scored] == [len(d.per_token) for d in direct]
        assert [float(s.sum()) for s in scored] == pytest.approx([d.total for d in direct], abs=1e-4)


def _games(n=6, opponent="random-legal"):
    specs = [EpisodeSpec(id=f"r1/train/{i}", env_id="tictactoe-v1", seed=i,
                         policies=("policy", opponent) if i % 2 == 0 else (opponent, "policy"),
                         tags={"stage": "train", "opponent": opponent}) for i in range(n)]
    return run_episodes(specs, {"policy": POLICIES.make("random-legal"), opponent: POLICIES.make(opponent)},
                        {"run_id": "t", "round": 1}, seed=3)


def test_positions_are_the_trained_seats_turns_found_by_replay():
    episodes = _games()
    rows, counted = positions(episodes)
    met = sum(1 for e in episodes for t in e.turns if e.policies[t.seat] == "policy")
    assert counted["positions_met"] == met
    assert len(rows) + counted["one_move"] + counted["repeated"] == met
    by_id = {e.id: e for e in episodes}
    for row in rows:
        e = by_id[row["episode_id"]]
        turn = e.turns[row["turn"]]
        assert e.policies[turn.seat] == "policy" and row["seat"] == turn.seat
        assert row["prompt"] == [{"role": m.role, "content": m.content} for m in turn.prompt]
        assert len(row["moves"]) >= 2 and row["replies"] == [t.completion.text for t in e.turns[:row["turn"]]]
    # the empty board, met by the trained seat in every game it opened, is one position
    assert sum(r["turn"] == 0 for r in rows) == 1 and counted["repeated"] >= 2


def test_with_search_gives_targets_ordered_by_how_far_the_policy_is(tiny_model):
    model = load_model("transformers", tiny_model, dtype="float32")
    cfg = ExpertIterationConfig(search=SearchConfig(simulations=30), max_positions=5)

    class Bar:  # the build stage's progress bar: its total is the simulations, advanced once each
        total, done = None, 0

        def start(self, total):
            self.total = total

        def advance(self):
            self.done += 1

    bar = Bar()
    rows = with_search(build(_games(), cfg), cfg, BuildContext(round=1, model=model, progress=bar))
    assert (bar.total, bar.done) == (30, 30)
    assert len(rows) == 5
    gaps = [r["gap"] for r in rows]
    assert gaps == sorted(gaps, reverse=True)
    for row in rows:
        assert sum(row["target"]) == pytest.approx(1.0) and sum(row["policy"]) == pytest.approx(1.0)
        assert sum(row["visits"]) == 29 and row["best"] in row["moves"]
        assert row["agrees"] == (row["moves"][max(range(len(row["policy"])), key=row["policy"].__getitem__)]
                                 == row["best"])
    counted = counts(_games(), rows, cfg)
    assert counted["trained_positions"] == 5 and 0 <= counted["agreement"] <= 1


def test_replay_brings_back_the_previous_rounds_positions_the_policy_still_gets_wrong(tiny_model):
    model = load_model("transformers", tiny_model, dtype="float32")
    cfg = ExpertIterationConfig(search=SearchConfig(simulations=20), max_positions=100)
    games = _games(8)
    previous = with_search(build(games[:4], cfg), cfg, BuildContext(round=1, model=model))
    fresh = build(games[4:], cfg)
    alone = with_search(fresh, cfg, BuildContext(round=2, model=model, previous_rows=previous))
    mixed = with_search(fresh, cfg.model_copy(update={"replay": True}),
                        BuildContext(round=2, model=model, previous_rows=previous))
    again = [r for r in mixed if r["replayed"]]
    met = {str(r["prompt"]) for r in fresh}
    assert again and all(str(r["prompt"]) not in met for r in again)  # a position met again is searched anew
    assert len(mixed) == len(alone) + len(again) and not any(r["replayed"] for r in alone)
    old = {str(r["prompt"]): r for r in previous}
    for row in again:
        assert row["target"] == old[str(row["prompt"])]["target"]
    gaps = [r["gap"] for r in mixed]
    assert gaps == sorted(gaps, reverse=True)


def test_the_dpo_objective_pairs_the_best_move_over_the_worst_with_reference_logprobs(tiny_model):
    model = load_model("transformers", tiny_model, dtype="float32")
    cfg = ExpertIterationConfig(objective="dpo", search=SearchConfig(simulations=30), max_positions=3)
    rows = with_search(build(_games(), cfg), cfg, BuildContext(round=1, model=model))
    assert rows and all(r["best"] != r["worst"] for r in rows)
    row = rows[0]
    direct = model.backend.logprobs([tuple(Message(**m) for m in row["prompt"])], [row["best"]])[0].total
    assert row["chosen"] == [{"role": "assistant", "content": row["best"]}]
    assert row["ref_chosen_logps"] == pytest.approx(direct)


def test_listwise_training_moves_the_tiny_model_towards_the_targets(tiny_model, tmp_path):
    model = load_model("transformers", tiny_model, dtype="float32")
    prompt = [{"role": "user", "content": "Free cells: 1, 5, 9. Which cell?"}]
    rows = [{"prompt": prompt, "moves": ["1", "5", "9"], "target": [0.0, 1.0, 0.0], "best": "5"},
            {"prompt": [{"role": "user", "content": "check or bet?"}], "moves": ["check", "bet"],
             "target": [0.9, 0.1], "best": "check"}]
    cfg = ExpertIterationConfig(finetune="lora", learning_rate=5e-3, batch_size=2, epochs=8.0)
    result = train(tiny_model, rows, cfg, tmp_path / "checkpoint")
    assert len(result.losses) == 8 and result.losses[-1] < result.losses[0]
    assert set(result.curves) == {"agreement", "entropy", "legal_mass"} and len(result.curves["agreement"]) == 8
    assert TrainResult.read(tmp_path / "checkpoint").losses == result.losses
    trained = load_model("transformers", str(tmp_path / "checkpoint"), dtype="float32").backend

    def share_of_5(backend):
        s = [x.total for x in backend.logprobs([(Message(**prompt[0]),)] * 3, ["1", "5", "9"])]
        return math.exp(s[1]) / sum(math.exp(x) for x in s)

    assert share_of_5(trained) > share_of_5(model.backend) + 0.1


def test_expert_iteration_refuses_an_env_without_legal_moves():
    cfg = load_config(None, ["recipe=expert-iteration", "env=arithmetic-v0"])
    with pytest.raises(SparringError, match="legal moves"):
        check(cfg)
    check(load_config(None, ["recipe=expert-iteration", "env=tictactoe-v1"]))
    assert RECIPE.with_model is with_search
