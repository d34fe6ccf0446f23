"""Quality, diversity and complexity measures against hand-computed values."""

import numpy as np
import pytest

from sparring.qdc import compression_ratio, distinct_n, embed, qdc_metrics, vendi_score
from sparring.types import Completion, Episode, Message, Turn


def test_distinct_n_by_hand():
    assert distinct_n(["a b a b"], 1) == 0.5  # 2 distinct of 4
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)  # (a b), (b a) of 3
    assert distinct_n(["a b", "A B"], 2) == 0.5  # lower-cased
    assert distinct_n(["a"], 2) is None and distinct_n([], 1) is None


def test_compression_ratio_is_low_for_repetitive_text():
    assert compression_ratio(["Answer: 5"] * 200) < 0.05
    rng = np.random.default_rng(0)
    assert compression_ratio([" ".join(map(str, rng.integers(0, 10**6, 200)))]) > 0.4
    assert compression_ratio([]) is None


def test_vendi_score_by_hand():
    assert vendi_score(np.ones((4, 3))) == pytest.approx(1.0)  # one direction
    assert vendi_score(np.eye(3)) == pytest.approx(3.0)  # orthogonal: as many as there are rows
    # two clusters of two: eigenvalues of K/n are 1/2 and 1/2, entropy log 2
    assert vendi_score(np.array([[1, 0], [2, 0], [0, 1], [0, 3]], float)) == pytest.approx(2.0)
    assert vendi_score(np.zeros((0, 3))) is None


def test_embeddings_come_from_the_installed_package_and_mean_something():
    a, b, c = embed(["What is seven plus five?", "What is 7 + 5?", "The cat sat on the mat."])
    cos = lambda x, y: float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))  # noqa: E731
    assert cos(a, b) > cos(a, c)


def _episode(id, answers, reward, legal=True, level=3, tokens=(1, 2, 3)):
    turns = [Turn(0, (Message("user", "q"),), Completion(a, tokens, "stop"), legal) for a in answers]
    return Episode(id=id, env_id="arithmetic-v0", env_version=0, seed=0, policies=("policy",), turns=turns,
                   rewards=(reward,), terminated=True, info={"level": level})


def test_a_draw_is_not_a_pass():
    draw = Episode(id="d", env_id="tictactoe-v1", env_version=1, seed=0, policies=("policy", "random-legal"),
                   turns=[Turn(0, (Message("user", "board"),), Completion("I play 5", (1,), "stop"), True)],
                   rewards=(0.0, 0.0), terminated=True)
    assert qdc_metrics([draw], {"tictactoe-v1": 0.0})["tictactoe-v1"]["quality"]["pass_rate"] == 0.0


def test_qdc_metrics_by_hand():
    episodes = [_episode("e0", ["Answer: 5"], 1.0), _episode("e1", ["x", "Answer: 6 now"], 0.0, legal=False, level=5),
                Episode(id="cut", env_id="arithmetic-v0", env_version=0, seed=1, policies=("policy",))]  # no outcome
    m = qdc_metrics(episodes, {"arithmetic-v0": 0.5}, near_duplicates={"e1"})["arithmetic-v0"]
    assert m["quality"] == {"pass_rate": 0.5, "reward_mean": 0.5, "illegal_rate": 2 / 3}
    assert m["diversity"]["distinct_1"] == pytest.approx(5 / 6)  # answer: twice among 6 words
    assert m["diversity"]["near_duplicate_rate"] == 0.5 and m["diversity"]["vendi"] > 1
    assert m["complexity"] == {"turns": 1.5, "answer_words": 2.0, "answer_tokens": 3.0, "level": 4.0}
