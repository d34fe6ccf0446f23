import pytest

from sparring.envs import make_env, taboo
from sparring.envs.taboo import K, heldout_words, measures, says, train_words, words
from sparring.errors import SparringError
from sparring.heldout import HELDOUT_SEED_BASE
from sparring.policies import POLICIES, TRAINED
from sparring.types import Episode


def test_the_words_and_the_held_out_fifth():
    assert len(words()) > 700 and "horse" in words() and "europe" not in words()  # proper nouns left out
    assert len(heldout_words()) == len(words()[4::5]) and not set(heldout_words()) & set(train_words())
    env = make_env("taboo-v1")
    met = set()
    for seed in range(300):
        env.reset(seed)
        met |= set(env.candidates)
        assert env.word in env.candidates and len(set(env.candidates)) == K
        assert sorted(env.shown[0]) == sorted(env.shown[1]) == sorted(env.candidates)
    assert met <= set(train_words())
    env.reset(HELDOUT_SEED_BASE + 7)
    assert env.word == heldout_words()[7] and set(env.candidates) <= set(heldout_words())


@pytest.mark.parametrize("text,word,said", [
    ("It neighs. Horses!", "horse", True),
    ("a H o r s e", "horse", True),
    ("h-o-r-s-e", "horse", True),
    ("HORSE", "horse", True),
    ("a sea-horse", "horse", True),
    ("a horseman rides", "horse", False),
    ("three mice", "mouse", True),
    ("she ran home", "run", True),
    ("a runway", "run", False),
])
def test_saying_the_word(text, word, said):
    assert says(text, word) == said


def _game(word="horse", candidates=("horse", "chair", "apple", "river")):
    env = make_env("taboo-v1")
    env.reset(1)
    env.word, env.candidates, env.shown = word, candidates, (candidates, candidates[::-1])
    return env


def test_the_attacker_who_says_the_word_loses():
    final = _game().step("It is a big HORSE.")
    assert final.terminated and final.rewards == (-1.0, 1.0) and final.info["ending"] == "attacker said it"


@pytest.mark.parametrize("guess,rewards,ending", [
    ("Is it a horse?", (-1.0, 1.0), "right guess"),
    ("Chairs!", (1.0, -1.0), "wrong guess"),
])
def test_a_guess_ends_the_game(guess, rewards, ending):
    env = _game()
    assert env.step("It runs in fields.").next_request.seat == 1
    final = env.step(guess)
    assert final.terminated and final.rewards == rewards and final.info["ending"] == ending


def test_naming_two_candidates_is_illegal_and_no_guess_draws():
    env = _game()
    env.step("It runs in fields.")
    retry = env.step("horse or apple?")
    assert not retry.legal and "names several candidates" in retry.reason
    for text in ("What colour is it?", "Brown, often.", "Is it big?", "Yes.", "Does it fly?"):
        final = env.step(text)
    assert final.terminated and final.rewards == (0.0, 0.0) and final.info["ending"] == "draw"


def test_the_definer_gives_clues_without_the_word_and_reads_them():
    definer = POLICIES.make("taboo-definer")
    right = 0
    for k in range(40):
        env = make_env("taboo-v1")
        request = env.reset(HELDOUT_SEED_BASE + k)
        (clue,) = definer.act([request], [0])
        assert not says(clue.text, env.word)
        result = env.step(clue.text)
        while not result.terminated:
            result = env.step(definer.act([result.next_request], [0])[0].text)
        right += result.info["ending"] == "right guess"
    assert right >= 36  # measured: 40 of 40


def test_measures_by_hand():
    def played(ending):
        return Episode(id="e", env_id="taboo-v1", env_version=1, seed=0, policies=(TRAINED, TRAINED),
                       rewards=(0.0, 0.0), terminated=True, info={"ending": ending})
    shares = measures([played("right guess"), played("right guess"), played("draw"), played(None)], TRAINED)
    assert shares == {"right_guess": 2 / 3, "wrong_guess": 0.0, "attacker_said_it": 0.0, "draw": 1 / 3}


def test_a_missing_word_list_names_the_install(monkeypatch):
    monkeypatch.setattr(taboo.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SparringError, match=r"pip install -e '.\[taboo\]'"):
        taboo._wordnet()
