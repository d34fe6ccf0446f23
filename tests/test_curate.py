"""The curate stage's filters, each against a hand-worked case, and the stage over made-up episodes."""

import math
from collections import Counter
from types import SimpleNamespace

import pytest

from sparring.config import load_config
from sparring.curate import (CurateConfig, check, contamination, curate, curate_round, exact_key, mixed_rows, ngrams,
                             quota_keep, rarest, shingles, shortest)
from sparring.envs.arithmetic import ArithmeticEnv
from sparring.errors import SparringError
from sparring.recipes import RECIPES
from sparring.types import Completion, Episode, Message, Turn

PASS = {"arithmetic-v0": 0.5}


def _episode(id, seed, answer, reward=1.0, level=1, question=None):
    prompt = (Message("system", "Be brief."), Message("user", question or f"Compute problem {seed}."))
    return Episode(id=id, env_id="arithmetic-v0", env_version=0, seed=seed, policies=("policy",),
                   turns=[Turn(0, prompt, Completion(answer, (1, 2), "stop"), True)], rewards=(reward,),
                   terminated=True, info={"level": level}, tags={"stage": "train"},
                   provenance={"run_id": "run", "round": 1, "policies": {"policy": {"model_id": "m"}}})


def test_ngrams_and_contamination_by_hand():
    assert ngrams("a b", 3) == {("a", "b")} and ngrams("", 3) == set()
    evaluation = ngrams("Compute 3 + 4. Stop", 3)  # (compute 3 +), (3 + 4.), (+ 4. stop)
    # "compute 3 + 4. end with x" has 5 trigrams, of which (compute 3 +) and (3 + 4.) are in the evaluation set
    assert contamination(["Compute 3 + 4. End with x"], evaluation, 3) == pytest.approx(2 / 5)
    assert contamination([], evaluation, 3) == 0.0


def test_duplicates_are_judged_within_one_prompt():
    one = [("Compute 1 + 2.", "The answer is 3. Answer: 3")]
    assert exact_key(one) == exact_key([("compute 1  + 2.", " the answer is 3. answer: 3 ")])
    assert exact_key(one) != exact_key([("Compute 1 + 3.", "The answer is 3. Answer: 3")])
    # the same answer to another prompt shares no shingle
    assert not shingles(one, 5) & shingles([("Compute 1 + 3.", "The answer is 3. Answer: 3")], 5)
    assert len(shingles([("p", "abc")], 5)) == 1  # shorter than a shingle: the whole text


def test_quota_keeps_the_first_of_each_group():
    assert quota_keep(["a", "b", "a", "a", "b"], 2) == [True, True, True, False, True]


def test_selection_objectives_by_hand():
    assert shortest("  Answer: 5 ", Counter()) == -9
    # x is 1 of 4 words (2 bits), y 3 of 4 (0.415 bits)
    assert rarest("x y", Counter(x=1, y=3)) == pytest.approx((2 + math.log2(4 / 3)) / 2)


def test_curate_drops_each_episode_for_the_first_reason_that_applies():
    earlier = [_episode("r0/a", 9, "Answer: 1")]
    episodes = [
        _episode("e0", 1, "Answer: 5"),
        _episode("e1", 1, " answer:  5"),  # e0 after normalising
        _episode("e2", 1, "The answer is five, so: Answer: 5"),
        _episode("e3", 1, "The answer is five, so: Answer: 5."),  # one character more than e2
        _episode("e4", 1, "Answer: 6", reward=0.0),
        _episode("e5", 2, "Answer: 7", question="Compute 3 + 4. End with 'Answer: <number>'."),
        _episode("e6", 9, "Answer: 1"),  # kept in an earlier round
        _episode("e7", 4, None),  # malformed: no text
        _episode("e8", 5, "Answer: 2", level=2),
    ]
    cfg = CurateConfig(select="shortest", select_top=2, quota_by=["level"], quota=2)
    curated = curate(episodes, earlier, cfg, ["Compute 3 + 4. End with 'Answer: <number>'."], PASS)
    reasons = {i: why.split(":")[0] for i, why in curated.dropped.items()}
    assert reasons == {"e1": "duplicate", "e3": "near_duplicate", "e5": "contaminated", "e6": "duplicate",
                       "e7": "error", "e4": "selection"}  # e4 is wrong: after e0 and e2 on problem 1
    assert "AttributeError" in curated.dropped["e7"]
    assert [e.id for e in curated.kept] == ["e0", "e2", "e8"]  # problem 1 shortest first; quota 2 of level 1 holds
    assert curated.counts() == {"kept": 3, "dropped": {"contaminated": 1, "duplicate": 2, "near_duplicate": 1,
                                                       "selection": 1, "error": 1}}
    tight = curate(episodes, earlier, cfg.model_copy(update={"quota": 1}), [], PASS)
    # every problem's best before any second best: e0, e5 (level 1), e8 (level 2), then e2 (level 1)
    assert tight.dropped["e5"] == tight.dropped["e2"] == "quota" and [e.id for e in tight.kept] == ["e0", "e8"]


def test_curation_with_every_filter_off_keeps_every_played_episode():
    episodes = [_episode("e0", 1, "Answer: 5"), _episode("e1", 1, "Answer: 5")]
    curated = curate(episodes, [], CurateConfig(dedup=False, decontaminate=False), ["Compute problem 1."], PASS)
    assert [e.id for e in curated.kept] == ["e0", "e1"] and not curated.dropped


def test_a_round_is_curated_once_and_read_back(tmp_path):
    run_dir = SimpleNamespace(round_dir=lambda r: tmp_path / str(r), store=None)
    episodes = [_episode("e0", 1, "Answer: 5"), _episode("e1", 1, "Answer: 5")]
    first = curate_round(run_dir, 1, episodes, CurateConfig(), [], PASS)
    again = curate_round(run_dir, 1, episodes, CurateConfig(dedup=False), [], PASS)  # stored: not decided again
    assert [e.id for e in again.kept] == [e.id for e in first.kept] == ["e0"] and again.dropped == {"e1": "duplicate"}


def test_reference_rows_make_up_the_mixed_fraction():
    env = ArithmeticEnv(level=1)
    env.reset(5)
    episodes = [_episode(f"e{i}", 5, f"Answer: {i}") for i in range(3)]
    rows = [{"prompt": [], "completion": [], "episode_id": f"e{i}", "reward": 1.0} for i in range(3)]
    mixed = mixed_rows(rows, episodes, CurateConfig(mix_fraction=0.25), seed=0)
    assert [r["source"] for r in mixed] == ["model"] * 3 + ["reference"]  # 1 of 4 rows
    assert mixed[-1]["completion"] == [{"role": "assistant", "content": env.reference_solution()}]
    assert mixed[-1]["reward"] is None and mixed[-1]["episode_id"] == "e0"


def test_reference_rows_from_a_user_file(tmp_path):
    path = tmp_path / "real.jsonl"
    path.write_text('{"prompt": "2+2?", "answer": "4"}\n{"prompt": "3+3?", "answer": "6"}\n')
    rows = [{"prompt": [], "completion": [], "episode_id": "e0", "reward": 1.0}]
    mixed = mixed_rows(rows, [], CurateConfig(mix_fraction=0.5, mix_source=str(path)), seed=0)
    assert len(mixed) == 2 and mixed[1]["source"] == str(path) and mixed[1]["episode_id"] is None
    assert mixed[1]["prompt"][0]["content"] in ("2+2?", "3+3?")


def test_check_names_what_cannot_work():
    with pytest.raises(SparringError, match="curate.select: unknown selection objective 'shortst'.*shortest"):
        check(load_config(None, ["curate.select='shortst'"]), RECIPES.load("rest-em"))
    with pytest.raises(SparringError, match="curate.mix_fraction: dpo's rows"):
        check(load_config(None, ["curate.mix_fraction=0.2", "recipe='dpo'"]), RECIPES.load("dpo"))
    with pytest.raises(SparringError, match="curate.mix_source: tictactoe-v1 has no reference_solution"):
        check(load_config(None, ["curate.mix_fraction=0.2", "env='tictactoe-v1'"]), RECIPES.load("rest-em"))
    with pytest.raises(SparringError, match="curate.mix_source: no file"):
        check(load_config(None, ["curate.mix_fraction=0.2", "curate.mix_source='nope.jsonl'"]), RECIPES.load("rest-em"))
    with pytest.raises(SparringError, match="quota and quota_by go together"):
        load_config(None, ["curate.quota=3"])
