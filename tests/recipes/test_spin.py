"""spin: the reference answer over the model's own, the previous round's pairs mixed in, the schedule."""

import json

import pytest

from sparring.config import load_config
from sparring.envs import make_env
from sparring.errors import SparringError
from sparring.policies.checkpoints import load_model
from sparring.recipes.base import BuildContext
from sparring.references import load_references
from sparring.recipes.spin import SPINSettings, check, schedule, spin_pairs, train, with_reference
from sparring.types import Completion, Episode, Turn


def _answer(i, seed, answer, reward=0.0, level=1, round=1):
    prompt = make_env("arithmetic-v0", level=level).reset(seed).messages
    return Episode(id=f"r{round}/train/{seed}/{i}", env_id="arithmetic-v0", env_version=0, seed=seed,
                   policies=("policy",), turns=[Turn(0, prompt, Completion(answer, (1,), "stop"), True)],
                   rewards=(reward,), terminated=True, info={"level": level},
                   provenance={"run_id": "r", "round": round, "policies": {}})


def _reference(seed, level=1):
    env = make_env("arithmetic-v0", level=level)
    env.reset(seed)
    return env.reference_solution()


def test_the_envs_reference_solution_is_chosen_over_each_own_answer():
    episodes = [_answer(0, 11, "Answer: 3"), _answer(1, 11, "Answer: 3 "), _answer(2, 11, "Answer: 4"),
                _answer(0, 12, _reference(12), reward=1.0)]  # word for word the reference: no pair
    rows, counts = spin_pairs(episodes, SPINSettings(pairs_per_prompt=2))
    assert [(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in rows] == [
        (_reference(11), "Answer: 3"), (_reference(11), "Answer: 4")]
    assert rows[0]["rejected_episode"] == "r1/train/11/0" and rows[0]["round"] == 1 and rows[0]["level"] == 1
    assert counts == {"prompts": 2, "pairs": 2, "no_reference": 0, "same_as_reference": 1}
    assert len(spin_pairs(episodes, SPINSettings())[0]) == 1  # one pair per problem by default


def test_a_user_dataset_gives_the_reference_answers_by_prompt(tmp_path):
    asked = make_env("arithmetic-v0", level=1).reset(11).messages[-1].content
    path = tmp_path / "refs.jsonl"
    path.write_text(json.dumps({"prompt": asked, "answer": "Answer: 42"}) + "\n")
    rows, counts = spin_pairs([_answer(0, 11, "Answer: 3"), _answer(0, 12, "Answer: 3")],
                              SPINSettings(references=str(path)))
    assert [r["chosen"][0]["content"] for r in rows] == ["Answer: 42"]
    assert counts["no_reference"] == 1
    from datasets import Dataset
    Dataset.from_list([{"prompt": asked, "answer": "Answer: 43"}]).to_parquet(str(tmp_path / "refs.parquet"))
    assert load_references(str(tmp_path / "refs.parquet"), "spin.references") == {asked: "Answer: 43"}


def test_bad_reference_files_and_envs_without_references_fail_before_any_generation(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"prompt": "p"}\n')
    (tmp_path / "junk.jsonl").write_text("not json\n")
    for path, message in [(tmp_path / "bad.jsonl", "row 1 .* needs text 'prompt' and 'answer'"),
                          (tmp_path / "junk.jsonl", "neither JSONL nor Parquet"), (tmp_path / "none.jsonl", "no file")]:
        with pytest.raises(SparringError, match=message):
            check(load_config(None, ["recipe=spin", f"spin.references='{path}'"]))
    with pytest.raises(SparringError, match="tictactoe-v1 has no reference_solution.*arithmetic-v0"):
        check(load_config(None, ["recipe=spin", "env=tictactoe-v1"]))
    check(load_config(None, ["recipe=spin"]))  # arithmetic has reference solutions


def test_the_schedule_follows_the_rounds_and_repeats_its_last_value():
    assert [schedule([1.0, 1.0, 0.2, 0.2], r) for r in (1, 2, 3, 4, 7)] == [1.0, 1.0, 0.2, 0.2, 0.2]
    assert [schedule(SPINSettings().betas, r) for r in (1, 4, 5)] == [0.1, 5.0, 5.0]


def test_the_previous_rounds_own_pairs_are_mixed_in_and_rescored(tiny_model, tmp_path):
    model = load_model("transformers", tiny_model, dtype="float32")
    old, _ = spin_pairs([_answer(0, 11, "Answer: 3", round=1)], SPINSettings())
    older = [{**old[0], "round": 0}]  # what round 1 had itself mixed in: not carried further
    stale = [{**row, "ref_chosen_logps": 0.0, "ref_rejected_logps": 0.0} for row in old + older]
    new, _ = spin_pairs([_answer(0, 12, "Answer: 5", round=2)], SPINSettings())
    mixed = with_reference(new, SPINSettings(), BuildContext(round=2, model=model, previous_rows=stale))
    assert [r["round"] for r in mixed] == [2, 1]
    assert all(r["ref_chosen_logps"] < 0 and r["ref_rejected_logps"] < 0 for r in mixed)  # scored again
    assert len(with_reference(new, SPINSettings(mix_previous=False), BuildContext(2, model, stale))) == 1

    result = train(tiny_model, mixed, SPINSettings(batch_size=2, betas=[0.1, 5.0]), tmp_path / "checkpoint")
    assert len(result.losses) == 1 and result.losses[0] == pytest.approx(0.693, abs=0.02)
    assert (tmp_path / "checkpoint" / "config.json").exists()
