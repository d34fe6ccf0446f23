"""Held-out evaluation: a fixed problem set, greedy decoding, accuracy per difficulty level."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from sparring.curriculum import pass_rates_by_level
from sparring.engine import EpisodeSpec, run_episodes, run_missing
from sparring.files import write_atomically
from sparring.models.base import Backend
from sparring.policies import TRAINED, LLMPolicy
from sparring.store import EpisodeStore
from sparring.types import Episode, SamplingParams

# Training seeds are drawn below 10**12 (see loop.py); held-out seeds start here, so the two never meet.
HELDOUT_SEED_BASE = 10**12


def heldout_set(env_id: str, levels: Sequence[int] | None, per_level: int) -> list[dict[str, Any]]:
    """The same problems for every run and checkpoint of an env, so accuracies compare across runs;
    `per_level` of each level, or `per_level` in all when `levels` is None (an env without levels)."""
    from sparring.envs import make_env

    items = []
    for level in levels or [None]:
        env = make_env(env_id, **_level_kwargs(level))
        for i in range(per_level):
            seed = HELDOUT_SEED_BASE + (level or 0) * 1_000_000 + i
            request = env.reset(seed)
            items.append({"env": env_id, "level": level, "seed": seed, "prompt": request.messages[-1].content})
    return items


def run_heldout(path: Path, levels_by_env: dict[str, Sequence[int] | None], per_level: int
                ) -> tuple[list[dict[str, Any]], str]:
    """The run's held-out set (every env's, in turn), written atomically on first use, and a note when
    the stored file had to be written again because it was damaged or no longer matched the config."""
    items = [item for env_id, levels in levels_by_env.items() for item in heldout_set(env_id, levels, per_level)]
    text = "".join(json.dumps(item) + "\n" for item in items)
    stored = path.read_text(errors="replace") if path.exists() else None
    if stored != text:
        write_atomically(path, text)
    note = "" if stored in (None, text) else f"{path.name} did not match the config (damaged or edited): written again"
    return items, note


def evaluate(backend: Backend, heldout: list[dict[str, Any]], max_new_tokens: int,
             provenance: dict[str, Any], store: EpisodeStore | None = None, on_finished=None,
             max_failures: int | None = None) -> dict[str, Any]:
    """Greedy accuracy per env and level on `heldout`, in one batched rollout; episodes already in
    `store` for this round are reused."""
    round_ = provenance.get("round", 0)
    specs = [
        EpisodeSpec(id=f"r{round_}/eval/{i}", env_id=item["env"], seed=item["seed"], policies=(TRAINED,),
                    env_kwargs=_level_kwargs(item["level"]), tags={"stage": "eval", **_level_kwargs(item["level"])})
        for i, item in enumerate(heldout)
    ]
    greedy = {TRAINED: LLMPolicy(backend, SamplingParams(temperature=0.0, max_new_tokens=max_new_tokens))}
    if store is None:
        episodes = run_episodes(specs, greedy, provenance, on_finished=on_finished, max_failures=max_failures)
    else:
        episodes = run_missing(specs, greedy, {"round": round_, **provenance}, store, "eval", on_finished,
                               max_failures=max_failures)
    envs = dict.fromkeys(item["env"] for item in heldout)
    return {"by_env": {env_id: accuracy_by_level([e for e in episodes if e.env_id == env_id]) for env_id in envs},
            "episodes": len(episodes), "failed": sum(bool(e.error) for e in episodes)}


def _level_kwargs(level: int | None) -> dict[str, int]:
    return {} if level is None else {"level": level}


def accuracy_by_level(episodes: Sequence[Episode]) -> dict[str, Any]:
    """Accuracy per level ("all" for an env without levels) over the episodes with an outcome;
    failed episodes are counted apart."""
    by_level: dict[Any, float] = pass_rates_by_level(episodes)
    if not by_level:
        rewards = [e.rewards[s] for e in episodes if e.has_outcome for s in e.seats_of(TRAINED)]
        by_level = {"all": sum(rewards) / len(rewards)} if rewards else {}
    return {"accuracy_by_level": {str(k): v for k, v in by_level.items()},
            "accuracy": sum(by_level.values()) / len(by_level) if by_level else 0.0,
            "episodes": len(episodes), "failed": sum(bool(e.error) for e in episodes)}
