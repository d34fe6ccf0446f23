import random
import sys

import pytest

from sparring.engine import EpisodeSpec, run_episodes
from sparring.envs import ENVS, make_env
from sparring.errors import SparringError, UnknownIdError

pytest.importorskip("textarena")


def _transcript(env, replies):
    """The requests and results of playing `replies` in turn (as many as the game lasts)."""
    seen = []
    for reply in replies:
        result = env.step(reply)
        seen.append((result.legal, result.reason, result.rewards,
                     result.next_request and (result.next_request.seat, result.next_request.messages[-1].content)))
        if result.terminated:
            break
    return seen


REPLIES = ["[check]", "[bet]", "[call]", "[check]", "[check]", "[bet]", "[fold]", "[check]", "[check]", "[bet]",
           "[call]", "[check]", "[check]"]


def test_one_seed_gives_one_episode_whatever_plays_beside_it():
    alone = make_env("textarena/KuhnPoker-v0")
    first = alone.reset(7)
    played_alone = _transcript(alone, REPLIES)

    twin, other = make_env("textarena/KuhnPoker-v0"), make_env("textarena/KuhnPoker-v0")
    assert twin.reset(7) == first
    other.reset(8)
    played = []
    for reply in REPLIES:  # another episode steps between each of its steps, drawing from `random` too
        random.random()
        other.step(reply) if not other._done else None
        played += _transcript(twin, [reply])
        if played[-1][3] is None:
            break
    assert played == played_alone
    deals = {make_env("textarena/KuhnPoker-v0").reset(seed).messages[-1].content[-80:] for seed in range(8)}
    assert len(deals) > 1  # the seed decides the deal


def test_invalid_moves_follow_textarenas_rule_one_retry_then_a_loss():
    env = make_env("textarena/TicTacToe-v0")
    request = env.reset(1)
    retry = env.step("I pass.")
    assert not retry.legal and "format" in retry.reason and retry.next_request.seat == request.seat
    final = env.step("I pass again.")
    assert final.terminated and not final.legal
    assert final.rewards[request.seat] == -1.0 and final.rewards[1 - request.seat] == 1.0


def test_a_game_played_to_the_end_gives_textarenas_rewards():
    env = make_env("textarena/TicTacToe-v0")
    request = env.reset(2)
    for _ in range(9):
        moves = request.messages[-1].content.rsplit("Available Moves:", 1)[1]
        free = [cell for cell in range(9) if f"'[{cell}]'" in moves]
        result = env.step(f"[{free[0]}]")
        assert result.legal, result.reason
        if result.terminated:
            break
        request = result.next_request
    assert result.terminated and sorted(result.rewards) in ([-1.0, 1.0], [0.0, 0.0])
    assert result.info["game"] == "TicTacToe-v0" and result.info["textarena"]


def test_a_game_that_raises_fails_as_an_episode(monkeypatch):
    from textarena.envs.TicTacToe.env import TicTacToeEnv

    def broken(self, action):
        raise KeyError("inside TextArena")

    monkeypatch.setattr(TicTacToeEnv, "step", broken)
    specs = [EpisodeSpec(id="e", env_id="textarena/TicTacToe-v0", seed=0, policies=("a", "b"))]
    from sparring.policies.scripted import scripted_completion

    class Says:
        def act(self, requests, seeds):
            return [scripted_completion("[4]") for _ in requests]

        def provenance(self):
            return {"kind": "scripted", "name": "says"}

    (episode,) = run_episodes(specs, {"a": Says(), "b": Says()}, {"round": 0})
    assert "inside TextArena" in episode.error and not episode.has_outcome


def test_bad_ids_and_games_without_two_seats():
    with pytest.raises(UnknownIdError, match="Did you mean 'textarena/TicTacToe-v0'"):
        ENVS.entry("textarena/TicTacToe-v9")
    with pytest.raises(SparringError, match="cannot be played by two seats: .*number of players has to be 1"):
        make_env("textarena/GuessTheNumber-v0").reset(0)
    (family,) = [f for f in ENVS.families() if f.prefix == "textarena/"]
    assert "textarena/SimpleNegotiation-v0" in ENVS.members(family) and "textarena/TicTacToe-v0-train" not in \
        ENVS.members(family)  # a wrapper variant is not a game


def test_a_missing_package_names_the_install(monkeypatch):
    from sparring.envs import textarena

    monkeypatch.setitem(sys.modules, "textarena.envs.registration", None)
    with pytest.raises(SparringError, match=r"pip install -e '.\[textarena\]'"):
        textarena.members()


@pytest.mark.parametrize("game", ["TicTacToe-v0", "KuhnPoker-v0", "SimpleNegotiation-v0", "IteratedPrisonersDilemma-v0"])
def test_spirals_games_and_others_keep_the_env_contract(game):
    """SPIRAL's three games and one more: played through by legal moves where TextArena lists them, and
    junk (ConnectFour-v0 lists none: its first seat forfeits on junk, so the checker's every-seat-acts
    rule cannot be met by junk alone)."""
    from sparring.envs import check_env

    check_env(make_env(f"textarena/{game}"))


@pytest.mark.parametrize("text,moves", [
    ("Board...\nAvailable Moves: '[0]', '[1]', '[8]'", ("[0]", "[1]", "[8]")),
    ("### round 1\n\nYour available actions are: '[check]', '[bet]'", ("[check]", "[bet]")),
    ("Available Moves: '[0]'\nPlayer 1 said hello", ()),  # not the last line: no longer the moves
    ("Make an offer.", ()),
])
def test_listed_moves(text, moves):
    from sparring.envs.textarena import listed_moves

    assert listed_moves(text) == moves


def test_a_reply_that_makes_textarena_raise_fails_its_episode_with_a_typed_error():
    from sparring.errors import ForeignGameError

    env = make_env("textarena/TicTacToe-v0")
    env.reset(0)
    with pytest.raises(ForeignGameError, match="TextArena's TicTacToe-v0 raised on a 4303-character reply.*ValueError"):
        env.step("[" + "1" * 4301 + "]")  # past CPython's 4,300-digit limit on int()
