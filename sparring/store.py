"""episodes.sqlite: every episode of a run, append-only, WAL mode so a kill never corrupts it.

Played episodes go to `episodes`, one row per id. Failures (episodes an exception ended) go to
`failures`, which may hold an id several times: a resumed run plays a failed episode again, since
its id is not among the played ones.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Iterable

from sparring.errors import SparringError
from sparring.ratings import Match
from sparring.types import Episode

_SCHEMA = """
CREATE TABLE IF NOT EXISTS episodes (
    id TEXT PRIMARY KEY,
    round INTEGER NOT NULL,
    stage TEXT NOT NULL,
    env_id TEXT NOT NULL,
    env_version INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    rewards TEXT,
    data TEXT NOT NULL,
    created TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX IF NOT EXISTS episodes_round_stage ON episodes (round, stage);
CREATE TABLE IF NOT EXISTS failures (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    round INTEGER NOT NULL,
    stage TEXT NOT NULL,
    error TEXT NOT NULL,
    data TEXT NOT NULL,
    created TEXT NOT NULL DEFAULT (datetime('now'))
);
-- The league's match log: every played game whose spec named its players (sparring/league.py).
CREATE VIEW IF NOT EXISTS matches AS
SELECT id, round, stage, env_id, json_extract(data, '$.tags.players') AS players, rewards,
       json_extract(data, '$.info.illegal_by_seat') AS illegal_by_seat,
       (SELECT json_group_array(json_extract(t.value, '$.seat')) FROM json_each(data, '$.turns') t) AS turn_seats
FROM episodes WHERE json_extract(data, '$.tags.players') IS NOT NULL AND rewards != '[]';
"""


class EpisodeStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._db = sqlite3.connect(self.path)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable against process kill
            self._db.executescript(_SCHEMA)
            check = self._db.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as e:
            check = str(e)
        if check != "ok":
            self._db.close()
            raise SparringError(f"{self.path} is damaged ({check}); its episodes cannot be read. Restore it from a "
                                "copy, or start a new run")

    def write(self, episodes: Iterable[Episode]) -> None:
        played, failed = [], []
        for e in episodes:
            data = json.dumps(e.to_dict())
            if e.error:
                failed.append((e.id, e.provenance["round"], e.tags["stage"], e.error, data))
            else:
                played.append((e.id, e.provenance["round"], e.tags["stage"], e.env_id, e.env_version, e.seed,
                               json.dumps(list(e.rewards)), data))
        with self._db:  # one transaction per batch; append-only, so an existing id is an error
            self._db.executemany(
                "INSERT INTO episodes (id, round, stage, env_id, env_version, seed, rewards, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", played)
            self._db.executemany("INSERT INTO failures (id, round, stage, error, data) VALUES (?, ?, ?, ?, ?)", failed)

    def ids(self, round: int, stage: str) -> set[str]:
        cur = self._db.execute("SELECT id FROM episodes WHERE round = ? AND stage = ?", (round, stage))
        return {r[0] for r in cur}

    def has_stage(self, stage: str) -> bool:
        return self._db.execute("SELECT 1 FROM episodes WHERE stage = ? LIMIT 1", (stage,)).fetchone() is not None

    def episodes(self, round: int, stage: str) -> list[Episode]:
        cur = self._db.execute(
            "SELECT data FROM episodes WHERE round = ? AND stage = ? ORDER BY rowid", (round, stage))
        return [Episode.from_dict(json.loads(r[0])) for r in cur]

    def failures(self, round: int, stage: str) -> list[Episode]:
        """Failed attempts of episodes that were never played to their end (the latest attempt of each)."""
        cur = self._db.execute(
            "SELECT data FROM failures f WHERE round = ? AND stage = ? AND id NOT IN (SELECT id FROM episodes) "
            "AND rowid = (SELECT MAX(rowid) FROM failures g WHERE g.id = f.id) ORDER BY rowid", (round, stage))
        return [Episode.from_dict(json.loads(r[0])) for r in cur]

    def matches(self) -> list[Match]:
        """The league's match log: every game with an outcome whose players were named."""
        matches = []
        for id_, round_, stage, players, rewards, illegal, turn_seats in self._db.execute(
                "SELECT id, round, stage, players, rewards, illegal_by_seat, turn_seats FROM matches"):
            players, seats = json.loads(players), json.loads(turn_seats)
            matches.append(Match(id_, round_, stage, tuple(players), tuple(json.loads(rewards)),
                                 tuple(json.loads(illegal)) if illegal else (0,) * len(players),
                                 tuple(seats.count(s) for s in range(len(players)))))
        return matches

    def count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM episodes").fetchone()[0]

    def close(self) -> None:
        self._db.close()
