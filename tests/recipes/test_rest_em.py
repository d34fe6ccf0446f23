import torch
from transformers import AutoModelForCausalLM

from sparring.recipes.rest_em import RestEMConfig, build, train
from sparring.types import Completion, Episode, Message, Turn


def _episode(i, seed, answer, reward, truncated=False):
    prompt = (Message("system", "Be brief."), Message("user", f"Compute problem {seed}."))
    return Episode(id=f"e{i}", env_id="arithmetic-v0", env_version=0, seed=seed, policies=("policy",),
                   turns=[Turn(0, prompt, Completion(answer, (1,), "stop"), True)], rewards=(reward,),
                   terminated=not truncated, truncated=truncated, info={"level": 2},
                   provenance={"run_id": "r", "round": 1, "policies": {"policy": {"model_id": "m"}}})


def test_build_keeps_verified_distinct_answers_up_to_m_per_problem():
    episodes = [
        _episode(0, 1, "Answer: 5", 1.0), _episode(1, 1, " Answer: 5 ", 1.0),  # same after stripping
        _episode(2, 1, "2+3=5\nAnswer: 5", 1.0), _episode(3, 1, "5", 1.0),     # third distinct: over m=2
        _episode(4, 1, "Answer: 6", 0.0),                                      # not verified
        _episode(5, 2, "Answer: 9", 1.0, truncated=True),                      # errored episode
        _episode(6, 3, "Answer: 1", 1.0),
    ]
    rows = build(episodes, RestEMConfig(max_per_problem=2))
    assert [r["episode_id"] for r in rows] == ["e0", "e2", "e6"]
    assert rows[0]["prompt"][1] == {"role": "user", "content": "Compute problem 1."}
    assert rows[0]["completion"] == [{"role": "assistant", "content": "Answer: 5"}]
    assert rows[0]["run_id"] == "r" and rows[0]["round"] == 1 and rows[0]["level"] == 2 and '"m"' in rows[0]["policy"]


def test_build_keeps_only_the_winning_seats_the_trained_policy_played():
    def game(i, policies, rewards):
        turns = [Turn(seat, (Message("user", f"board {i}, seat {seat}"),), Completion(f"move {seat}", (1,), "stop"), True)
                 for seat in (0, 1, 0, 1)]
        return Episode(id=f"g{i}", env_id="game-v0", env_version=0, seed=i, policies=policies, turns=turns,
                       rewards=rewards, terminated=True, provenance={"policies": {}})

    rows = build([game(0, ("policy", "random-legal"), (1.0, -1.0)),   # the trained policy won in seat 0
                  game(1, ("random-legal", "policy"), (1.0, -1.0)),   # it lost in seat 1: nothing kept
                  game(2, ("policy", "policy"), (-1.0, 1.0))], RestEMConfig())  # self-play: seat 1 won
    assert [(r["episode_id"], r["seat"], r["completion"][0]["content"]) for r in rows] == [
        ("g0", 0, "move 0"), ("g2", 1, "move 1")]
    assert rows[0]["prompt"] == [{"role": "user", "content": "board 0, seat 0"}]


def test_build_with_min_reward_zero_keeps_failures_too():
    rows = build([_episode(0, 1, "Answer: 6", 0.0)], RestEMConfig(min_reward=0.0))
    assert len(rows) == 1


def _rows(n=8):
    return [{"prompt": [{"role": "system", "content": "Be brief."},
                        {"role": "user", "content": f"Compute {i} + {i}. End with 'Answer: <number>'."}],
             "completion": [{"role": "assistant", "content": f"{i} + {i} = {2 * i}\nAnswer: {2 * i}"}]}
            for i in range(n)]


def _weights(path):
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_lora_training_lowers_loss_changes_weights_and_saves_a_loadable_checkpoint(tiny_model, tmp_path):
    cfg = RestEMConfig(finetune="lora", learning_rate=5e-3, epochs=6, batch_size=8)
    result = train(tiny_model, _rows(), cfg, tmp_path / "ckpt", seed=0)
    assert len(result.losses) == 6  # one step per epoch: the same batch every step
    assert result.losses[-1] < result.losses[0] - 0.5
    before, after = _weights(tiny_model), _weights(result.checkpoint)
    assert before.keys() == after.keys()  # merged: a plain checkpoint, no adapter keys
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert any("q_proj" in k for k in changed) and any("mlp" in k for k in changed)
    assert (result.checkpoint / "tokenizer_config.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]  # no temp directory left behind


def test_full_finetuning_changes_every_trained_matrix(tiny_model, tmp_path):
    cfg = RestEMConfig(finetune="full", learning_rate=1e-3, epochs=4, batch_size=8)
    result = train(tiny_model, _rows(), cfg, tmp_path / "ckpt", seed=0)
    assert result.losses[-1] < result.losses[0]
    before, after = _weights(tiny_model), _weights(result.checkpoint)
    assert not torch.equal(before["model.embed_tokens.weight"], after["model.embed_tokens.weight"])
    assert not torch.equal(before["model.layers.1.mlp.down_proj.weight"], after["model.layers.1.mlp.down_proj.weight"])
