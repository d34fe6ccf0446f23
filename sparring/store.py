"""episodes.sqlite: every episode of a run, append-only, WAL mode so a kill never corrupts it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Iterable

from sparring.types import Episode

_SCHEMA = """
CREATE TABLE IF NOT EXISTS episodes (
    id TEXT PRIMARY KEY,
    round INTEGER NOT NULL,
    stage TEXT NOT NULL,
    env_id TEXT NOT NULL,
    env_version INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    reward REAL,
    data TEXT NOT NULL,
    created TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX IF NOT EXISTS episodes_round_stage ON episodes (round, stage);
"""


class EpisodeStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable against process kill
        self._db.executescript(_SCHEMA)

    def write(self, episodes: Iterable[Episode]) -> None:
        rows = [
            (e.id, e.provenance["round"], e.tags["stage"], e.env_id, e.env_version, e.seed,
             e.rewards[0] if e.rewards else None, json.dumps(e.to_dict()))
            for e in episodes
        ]
        with self._db:  # one transaction per batch; append-only, so an existing id is an error
            self._db.executemany(
                "INSERT INTO episodes (id, round, stage, env_id, env_version, seed, reward, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def ids(self, round: int, stage: str) -> set[str]:
        cur = self._db.execute("SELECT id FROM episodes WHERE round = ? AND stage = ?", (round, stage))
        return {r[0] for r in cur}

    def episodes(self, round: int, stage: str) -> list[Episode]:
        cur = self._db.execute(
            "SELECT data FROM episodes WHERE round = ? AND stage = ? ORDER BY rowid", (round, stage))
        return [Episode.from_dict(json.loads(r[0])) for r in cur]

    def count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM episodes").fetchone()[0]

    def close(self) -> None:
        self._db.close()
