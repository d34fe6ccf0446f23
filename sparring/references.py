"""Reference answers a user gives in a file: JSONL or Parquet rows of "prompt" and "answer" text
(SPIN's chosen answers, real data mixed into a round by the curate stage)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from sparring.errors import SparringError
from sparring.types import Episode


@lru_cache(maxsize=4)
def load_references(path: str, key: str) -> dict[str, str]:
    """{prompt: answer} from a JSONL or Parquet file of rows with "prompt" and "answer" (text)."""
    from datasets import Dataset

    file = Path(path)
    if not file.is_file():
        raise SparringError(f"{key}: no file {path}")
    try:
        rows = (Dataset.from_parquet(str(file)).to_list() if file.suffix == ".parquet"
                else [json.loads(line) for line in file.read_text().splitlines() if line.strip()])
    except (ValueError, OSError) as e:
        raise SparringError(f"{key}: {path} is neither JSONL nor Parquet of prompt/answer rows ({e})") from e
    bad = next((i for i, row in enumerate(rows) if not isinstance(row, dict)
                or not isinstance(row.get("prompt"), str) or not isinstance(row.get("answer"), str)), None)
    if bad is not None:
        raise SparringError(f"{key}: row {bad + 1} of {path} needs text 'prompt' and 'answer' fields")
    return {row["prompt"].strip(): row["answer"] for row in rows}


def env_reference(e: Episode) -> str:
    """The env's reference solution to the problem `e` played."""
    from sparring.envs import make_env

    env = make_env(e.env_id, **({"level": e.info["level"]} if e.info.get("level") is not None else {}))
    env.reset(e.seed)
    return env.reference_solution()
