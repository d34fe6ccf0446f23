import sqlite3

import pytest

from sparring.store import EpisodeStore
from sparring.types import Completion, Episode, Message, Turn


def _episode(i, round=1, stage="train"):
    turn = Turn(0, (Message("user", "2+2?"),), Completion("4", (19, 2), "stop"), True, {"level": 1})
    return Episode(id=f"e{i}", env_id="arithmetic-v0", env_version=0, seed=i, policies=("p",), turns=[turn],
                   rewards=(1.0,), terminated=True, tags={"stage": stage}, provenance={"round": round})


def test_round_trip_keeps_every_field(tmp_path):
    store = EpisodeStore(tmp_path / "e.sqlite")
    store.write([_episode(1), _episode(2), _episode(3, round=2), _episode(4, stage="eval")])
    assert store.episodes(1, "train") == [_episode(1), _episode(2)]
    assert store.ids(2, "train") == {"e3"} and store.count() == 4


def test_append_only_refuses_an_existing_id(tmp_path):
    store = EpisodeStore(tmp_path / "e.sqlite")
    store.write([_episode(1)])
    with pytest.raises(sqlite3.IntegrityError):
        store.write([_episode(1)])
    assert store.count() == 1


def test_wal_mode_and_reopen(tmp_path):
    store = EpisodeStore(tmp_path / "e.sqlite")
    store.write([_episode(1)])
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()
    assert EpisodeStore(tmp_path / "e.sqlite").episodes(1, "train") == [_episode(1)]


def test_the_match_log_is_a_view_of_the_games_that_named_their_players(tmp_path, game_episode):
    from sparring.ratings import Match

    store = EpisodeStore(tmp_path / "episodes.sqlite")
    store.write([game_episode("g1", ("round-2", "random-legal"), (1.0, -1.0)),
                 game_episode("g2", ("round-2", "random-legal"), ()),  # cut: no outcome, no match
                 _episode(3)])  # names no players
    assert store.matches() == [Match("g1", 2, "eval", ("round-2", "random-legal"), (1.0, -1.0), (1, 0), (3, 1))]
    import sqlite3

    raw = sqlite3.connect(tmp_path / "episodes.sqlite").execute("SELECT id, players, rewards FROM matches").fetchall()
    assert raw == [("g1", '["round-2","random-legal"]', "[1.0, -1.0]")]
