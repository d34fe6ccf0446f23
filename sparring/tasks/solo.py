"""solo: one seat against a verifier (arithmetic-v0 and the like).

Each round plays `problems_per_round` problems, `samples_per_problem` samples each, spread over the
levels the curriculum picks (sparring/curriculum.py) where the env has difficulty levels. A mixture
of envs (`env = {id = weight, ...}`) shares each round's problems out by weight, with a curriculum
per env. A checkpoint is judged by greedy accuracy on a fixed held-out set (per level where there
are levels; per env, weighted, for a mixture), stored in the run as heldout.jsonl. Training seeds stay below TRAIN_SEED_LIMIT and held-out seeds
start at HELDOUT_SEED_BASE, so the two never meet.
"""

from __future__ import annotations

import random
from typing import Any, Sequence

from sparring.config import RunConfig
from sparring.curriculum import choose_levels, latest_pass_rates, pass_rates_by_level
from sparring.engine import EpisodeSpec
from sparring.envs import ENVS
from sparring.errors import SparringError
from sparring.heldout import HELDOUT_SEED_BASE, evaluate, run_heldout
from sparring.policies import TRAINED
from sparring.policies.checkpoints import Model
from sparring.store import EpisodeStore
from sparring.tasks import as_played, one_model
from sparring.types import Episode

TRAIN_SEED_LIMIT = HELDOUT_SEED_BASE


class SoloTask:
    def __init__(self, cfg: RunConfig):
        self.cfg = cfg
        self.weights = cfg.env_weights
        self.env_levels = {env_id: getattr(ENVS.load(env_id), "levels", None) for env_id in self.weights}
        self.heldout: list[dict[str, Any]] = []

    def check(self) -> None:
        """One seat per env; `curriculum.levels` and `eval.levels` apply to each env of the run that has
        levels, and must be levels of each."""
        for env_id in self.weights:
            seats = ENVS.load(env_id).num_seats
            if seats != 1:
                raise SparringError(f"task 'solo' plays one-seat envs; {env_id} has {seats} seats")
        leveled = {env_id: levels for env_id, levels in self.env_levels.items() if levels}
        for name, levels in (("curriculum.levels", self.cfg.curriculum.levels), ("eval.levels", self.cfg.eval.levels)):
            if levels is not None and not leveled:
                raise SparringError(f"{name}: {' nor '.join(self.weights)} has no difficulty levels; leave {name} out")
            for env_id, env_levels in leveled.items():
                bad = [lv for lv in levels or [] if lv not in env_levels]
                if bad:
                    raise SparringError(f"{name}: {env_id} has no level(s) {bad}; its levels are {list(env_levels)}")

    def prepare(self, run_dir) -> str:
        """Write (or check) the run's held-out set; a note when the stored one had to be written again."""
        levels = {env_id: (self.cfg.eval.levels or list(env_levels)) if env_levels else None
                  for env_id, env_levels in self.env_levels.items()}
        self.heldout, note = run_heldout(run_dir.heldout_path, levels, self.cfg.eval.problems_per_level)
        return note

    def plan(self, r: int, history: list[dict[str, Any]], played: Sequence[Episode] = ()
             ) -> tuple[list[EpisodeSpec], dict[str, Any]]:
        """Round r's episodes, and what the plan chose (the levels of each env). The round's problems
        are shared out among the envs by weight. Ids and seeds derive from what is played (round,
        problem, sample), never from the run's directory."""
        rng = random.Random(f"{self.cfg.seed}/round{r}")
        counts = apportion(self.cfg.rollout.problems_per_round, self.weights)
        specs, chosen, p = [], {}, 0
        for env_id, count in counts.items():
            levels = self._levels(env_id, history)
            chosen[env_id] = [lv for lv in levels if lv is not None]
            for j in range(count):
                level, seed = levels[j % len(levels)], rng.randrange(TRAIN_SEED_LIMIT)
                kwargs = {} if level is None else {"level": level}
                for k in range(self.cfg.rollout.samples_per_problem):
                    specs.append(EpisodeSpec(id=f"r{r}/train/{p}/{k}", env_id=env_id, seed=seed, policies=(TRAINED,),
                                             env_kwargs=kwargs, tags={"stage": "train", "problem": p, "sample": k,
                                                                      **kwargs}))
                p += 1
        return specs, {"levels": chosen}

    def _levels(self, env_id: str, history: list[dict[str, Any]]) -> list[int | None]:
        """The levels the curriculum picks for `env_id` from the rounds' measured pass rates ([None]
        for an env without levels)."""
        env_levels = self.env_levels[env_id]
        if not env_levels:
            return [None]
        measured = ({int(lv): rate for lv, rate in m["rollout"]["pass_rate_by_level"].get(env_id, {}).items()}
                    for m in history if "rollout" in m)
        curriculum = self.cfg.curriculum
        return choose_levels(latest_pass_rates(measured), curriculum.levels or list(env_levels), curriculum.band,
                             curriculum.probes)

    def rollout_metrics(self, episodes) -> dict[str, Any]:
        return {"pass_rate_by_level": {env_id: {str(k): v for k, v in pass_rates_by_level(
            [e for e in episodes if e.env_id == env_id]).items()} for env_id in self.weights}}

    score = staticmethod(as_played)
    training_roles = staticmethod(one_model)

    def evaluation_texts(self) -> list[str]:
        return [item["prompt"] for item in self.heldout]

    def evaluate(self, model: Model, store: EpisodeStore, provenance: dict[str, Any],
                 progress=None) -> dict[str, Any]:
        """Greedy accuracy on the held-out set; "score" is the mean over levels."""
        if progress is not None:
            progress.start(len(self.heldout))
        result = evaluate(model.backend, self.heldout, self.cfg.eval.max_new_tokens, provenance, store,
                          progress, max_failures=int(self.cfg.rollout.max_failed_fraction * len(self.heldout)))
        by_env = result["by_env"]
        if len(by_env) == 1:
            (only,) = by_env.values()
            columns = {f"L{k}" if k.isdigit() else k: v for k, v in only["accuracy_by_level"].items()}
        else:
            columns = dict(zip(short_names(by_env), (r["accuracy"] for r in by_env.values())))
        score = sum(w * by_env[env_id]["accuracy"] for env_id, w in self.weights.items()) / sum(self.weights.values())
        return {**result, "columns": columns, "score": score, "score_name": "held-out accuracy"}


def apportion(total: int, weights: dict[str, float]) -> dict[str, int]:
    """`total` shared out in proportion to `weights` (largest remainders; ties to the earlier key), so
    a mixture's round plays its weights as closely as whole problems allow."""
    whole = sum(weights.values())
    exact = {key: total * w / whole for key, w in weights.items()}
    counts = {key: int(x) for key, x in exact.items()}
    by_remainder = sorted(weights, key=lambda key: counts[key] - exact[key])  # stable: earlier keys first
    for key in by_remainder[:total - sum(counts.values())]:
        counts[key] += 1
    return counts


def short_names(env_ids) -> list[str]:
    """Column names for env ids: the part after the last '/' (reasoning-gym/chain_sum -> chain_sum),
    the whole id where two would read the same."""
    tails = [env_id.rsplit("/", 1)[-1] for env_id in env_ids]
    return [tail if tails.count(tail) == 1 else env_id for tail, env_id in zip(tails, env_ids)]
