"""solo: one seat against a verifier (arithmetic-v0 and the like).

Each round plays `problems_per_round` problems, `samples_per_problem` samples each, spread over the
levels the curriculum picks (sparring/curriculum.py) where the env has difficulty levels. A
checkpoint is judged by greedy accuracy on a fixed held-out set (per level where there are levels),
stored in the run as heldout.jsonl. Training seeds stay below TRAIN_SEED_LIMIT and held-out seeds
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
from sparring.evaluate import HELDOUT_SEED_BASE, evaluate, run_heldout
from sparring.policies import TRAINED
from sparring.policies.checkpoints import Model
from sparring.store import EpisodeStore
from sparring.tasks import as_played, one_model
from sparring.types import Episode

TRAIN_SEED_LIMIT = HELDOUT_SEED_BASE


class SoloTask:
    def __init__(self, cfg: RunConfig):
        self.cfg = cfg
        self.env_levels = getattr(ENVS.load(cfg.env), "levels", None)
        self.heldout: list[dict[str, Any]] = []

    def check(self) -> None:
        seats = ENVS.load(self.cfg.env).num_seats
        if seats != 1:
            raise SparringError(f"task 'solo' plays one-seat envs; {self.cfg.env} has {seats} seats")
        for name, levels in (("curriculum.levels", self.cfg.curriculum.levels), ("eval.levels", self.cfg.eval.levels)):
            if levels is not None and self.env_levels is None:
                raise SparringError(f"{name}: {self.cfg.env} has no difficulty levels; leave {name} out")
            bad = [lv for lv in levels or [] if lv not in self.env_levels]
            if bad:
                raise SparringError(f"{name}: {self.cfg.env} has no level(s) {bad}; its levels are "
                                    f"{list(self.env_levels)}")

    def prepare(self, run_dir) -> str:
        """Write (or check) the run's held-out set; a note when the stored one had to be written again."""
        levels = self.cfg.eval.levels or (list(self.env_levels) if self.env_levels else None)
        self.heldout, note = run_heldout(run_dir.heldout_path, self.cfg.env, levels, self.cfg.eval.problems_per_level)
        return note

    def plan(self, r: int, history: list[dict[str, Any]], played: Sequence[Episode] = ()
             ) -> tuple[list[EpisodeSpec], dict[str, Any]]:
        """Round r's episodes, and what the plan chose (the levels). Ids and seeds derive from what is
        played (round, problem, sample), never from the run's directory."""
        levels: list[int | None] = [None]
        if self.env_levels:
            measured = ({int(lv): rate for lv, rate in m["rollout"]["pass_rate_by_level"].items()}
                        for m in history if "rollout" in m)
            curriculum = self.cfg.curriculum
            levels = choose_levels(latest_pass_rates(measured), curriculum.levels or list(self.env_levels),
                                   curriculum.band, curriculum.probes)
        rng = random.Random(f"{self.cfg.seed}/round{r}")
        specs = []
        for p in range(self.cfg.rollout.problems_per_round):
            level, seed = levels[p % len(levels)], rng.randrange(TRAIN_SEED_LIMIT)
            kwargs = {} if level is None else {"level": level}
            for k in range(self.cfg.rollout.samples_per_problem):
                specs.append(EpisodeSpec(id=f"r{r}/train/{p}/{k}", env_id=self.cfg.env, seed=seed, policies=(TRAINED,),
                                         env_kwargs=kwargs, tags={"stage": "train", "problem": p, "sample": k, **kwargs}))
        return specs, {"levels": [lv for lv in levels if lv is not None]}

    def rollout_metrics(self, episodes) -> dict[str, Any]:
        return {"pass_rate_by_level": {str(k): v for k, v in pass_rates_by_level(episodes).items()}}

    score = staticmethod(as_played)
    training_roles = staticmethod(one_model)

    def evaluation_texts(self) -> list[str]:
        return [item["prompt"] for item in self.heldout]

    def evaluate(self, model: Model, store: EpisodeStore, provenance: dict[str, Any],
                 progress=None) -> dict[str, Any]:
        """Greedy accuracy on the held-out set; "score" is the mean over levels."""
        if progress is not None:
            progress.start(len(self.heldout))
        result = evaluate(model.backend, self.cfg.env, self.heldout, self.cfg.eval.max_new_tokens, provenance, store,
                          progress, max_failures=int(self.cfg.rollout.max_failed_fraction * len(self.heldout)))
        columns = {f"L{k}" if k.isdigit() else k: v for k, v in result["accuracy_by_level"].items()}
        return {**result, "columns": columns, "score": result["accuracy"], "score_name": "held-out accuracy"}
