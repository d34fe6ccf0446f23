"""The round loop, top to bottom: rollout -> build -> train -> evaluate -> report, once per round.

Round 0 evaluates the base model. Round r >= 1 samples with round r-1's model, keeps the verified
samples, fine-tunes, and evaluates the result. Every stage's output lands in the run directory as
soon as it exists, so `--resume` continues from the first incomplete stage and never repeats or
loses a stored episode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from datasets import Dataset
from rich.console import Console
from rich.markup import escape

from sparring.config import RunConfig
from sparring.engine import EpisodeSpec, run_episodes
from sparring.envs import ENVS
from sparring.errors import SparringError
from sparring.files import save_atomically
from sparring.models.paths import check_model
from sparring.models.precision import resolve_dtype
from sparring.league import checkpoint_round
from sparring.policies import POLICIES, TRAINED, Policy
from sparring.policies.checkpoints import Model, load_model
from sparring.recipes import RECIPES, TrainResult
from sparring.recipes.base import BuildContext
from sparring.recipes.training import keep_weights
from sparring.report import progress_bar, rounds_table
from sparring.rundir import RunDir, code_version
from sparring.seeds import derive_seed
from sparring.store import EpisodeStore
from sparring.tasks import Task, make_task
from sparring.types import Episode, SamplingParams


def run(cfg: RunConfig, run_dir: RunDir, console: Console) -> list[dict[str, Any]]:
    task = check_run_config(cfg)
    dtype, _ = resolve_dtype(cfg.backend.dtype)  # the CLI stores the resolved dtype; "auto" resolves the same here
    recipe = RECIPES.load(cfg.recipe)
    recipe_cfg = getattr(cfg, recipe.config_key)
    store = run_dir.store
    note = task.prepare(run_dir)
    if note:
        console.print(f"[yellow]warning:[/] {escape(note)}")
    history = [run_dir.metrics(r) for r in range(cfg.rounds + 1) if run_dir.is_complete(r)]
    if history:
        console.print(rounds_table(history))
    run_id = run_dir.run_id
    loaded = None  # the latest model, loaded once per round
    for r in range(cfg.rounds + 1):
        if run_dir.is_complete(r):
            continue
        console.rule(f"round {r}" + (" (base model)" if r == 0 else ""))
        seconds: dict[str, float] = {}
        provenance = {"run_id": run_id, "round": r, "code_version": code_version()}
        metrics: dict[str, Any] = {"round": r}
        if r == 0:
            model = cfg.model
        else:
            loaded = loaded or _load(cfg, model_of_round(cfg, run_dir, r - 1), dtype)
            specs, chosen = task.plan(r, history)
            with run_dir.stage(r, "rollout", seconds):
                episodes = rollout(cfg, r, specs, loaded, store, provenance, console, lambda player: _load(
                    cfg, model_of_round(cfg, run_dir, checkpoint_round(player)), dtype))
            metrics["rollout"] = {**chosen, "planned": len(specs), **task.rollout_metrics(episodes),
                                  **rollout_metrics(episodes, store.failures(r, "train"), seconds["rollout"])}

            with run_dir.stage(r, "build", seconds):
                rows = build_dataset(recipe, recipe_cfg, episodes, run_dir.dataset_path(r), BuildContext(
                    r, loaded, previous_rows(run_dir, r)))
            metrics["dataset"] = {"rows": len(rows), "problems": len({(x["env_id"], x["seed"]) for x in rows}),
                                  **(recipe.counts(episodes, recipe_cfg) if recipe.counts else {})}
            if not rows:
                console.print(f"[yellow]warning:[/] round {r}: {recipe.name} kept no training row from "
                              f"{len(episodes)} episodes (no verified sample, no pair, or no turn with a positive "
                              "advantage), so the round trains on nothing and the next starts from the same model. "
                              "More samples per problem, more problems, or easier levels give it something to learn.")

            loaded = None  # the rollout model is done: free it before training loads its own copy
            checkpoint, start = run_dir.checkpoint_path(r), model_of_round(cfg, run_dir, r - 1)
            if not checkpoint.exists():
                with run_dir.stage(r, "train", {}), progress_bar(console, "train") as bar:
                    if rows:
                        recipe.train(start, rows, recipe_cfg, checkpoint,
                                     seed=derive_seed(cfg.seed, "train", r, bits=32), progress=bar, dtype=dtype)
                    else:
                        keep_weights(start, checkpoint)
            trained = TrainResult.read(checkpoint)  # also when the checkpoint was found on resume
            seconds["train"] = trained.seconds
            metrics["train"] = {"losses": trained.losses, "steps": len(trained.losses), **trained.curves}
            model = str(checkpoint)
        loaded = loaded or _load(cfg, model, dtype)
        with run_dir.stage(r, "eval", seconds), progress_bar(console, "evaluate") as bar:
            metrics["eval"] = task.evaluate(loaded, store, provenance, bar)
        metrics.update(model=model, seconds=seconds)
        run_dir.write_metrics(r, metrics)
        history.append(metrics)
        console.print(rounds_table(history))
    return history


def start_run(config: Path | None, out: Path | None, overrides: list[str], resume: bool) -> tuple[RunConfig, RunDir, str]:
    """A new run from a config file and `--set` overrides, checked before any work, or (`resume`) the
    run at `out` (else the latest) with its saved config; the resolved config, the locked run
    directory, and why the backend runs in its dtype."""
    from sparring.config import apply_overrides, build_config, load_config
    from sparring.rundir import latest_run

    if resume:
        if config is not None:
            raise SparringError("--resume continues with the run's saved config; drop the CONFIG argument")
        run_dir = RunDir.open(out or latest_run())
        saved = run_dir.config()
        cfg = build_config(apply_overrides(saved.model_dump(mode="json", exclude_none=True), overrides))
        cfg.backend.dtype, dtype_reason = resolve_dtype(cfg.backend.dtype)
        try:
            run_dir.check_resume_changes(saved, cfg)
            if cfg != saved:
                run_dir.save_config(cfg, (f"changed on resume: {' '.join(overrides)}",))
        except BaseException:
            run_dir.close()
            raise
        return cfg, run_dir, dtype_reason
    cfg = load_config(config, overrides)
    check_run_config(cfg)
    asked = cfg.backend.dtype
    cfg.backend.dtype, dtype_reason = resolve_dtype(asked)
    run_dir = RunDir.create(out, cfg, (f"backend.dtype: {asked} -> {cfg.backend.dtype} ({dtype_reason})",))
    return cfg, run_dir, dtype_reason


def check_run_config(cfg: RunConfig) -> Task:
    """Fail before any work on what the config names but cannot exist; the run's task."""
    check_model(cfg.model)
    ENVS.entry(cfg.env)  # unknown env id: fails with the closest ids
    recipe = RECIPES.load(cfg.recipe)
    task = make_task(cfg)
    task.check()
    if recipe.check is not None:
        recipe.check(cfg)
    return task


def model_of_round(cfg: RunConfig, run_dir: RunDir, r: int) -> str:
    return cfg.model if r == 0 else str(run_dir.checkpoint_path(r))


def _load(cfg: RunConfig, model: str, dtype: str) -> Model:
    return load_model(cfg.backend.name, model, dtype=dtype, batch_size=cfg.backend.batch_size)


def rollout(cfg: RunConfig, r: int, specs: list[EpisodeSpec], model: Model, store: EpisodeStore, provenance, console,
            load_player: Callable[[str], Model]) -> list[Episode]:
    """Play the round's missing episodes: `model` in the trained seats, past checkpoints of the league
    (`load_player(name)`) and scripted players in the others; every episode of the round, stored."""
    played = store.episodes(r, "train")
    done = {e.id for e in played}
    todo = [s for s in specs if s.id not in done]
    rc = cfg.rollout
    sampling = SamplingParams(temperature=rc.temperature, top_k=rc.top_k, top_p=rc.top_p, max_new_tokens=rc.max_new_tokens)
    spent = sum(len(t.completion.token_ids) for e in played for t in e.turns)
    with progress_bar(console, "rollout", len(specs)) as bar:
        bar.advance(len(specs) - len(todo))
        players = seat_policies(todo, model.policy(sampling), lambda name: load_player(name).policy(sampling))
        run_episodes(todo, players, provenance, seed=derive_seed(cfg.seed, "rollout", r),
                     store=store, max_in_flight=rc.max_in_flight,
                     max_turns=rc.max_turns,
                     max_tokens=None if rc.max_tokens_per_round is None else rc.max_tokens_per_round - spent,
                     max_failures=int(rc.max_failed_fraction * len(specs)), on_finished=bar)
    return store.episodes(r, "train")


def seat_policies(specs: list[EpisodeSpec], trained: Policy, checkpoint: Callable[[str], Policy]) -> dict[str, Policy]:
    """A policy for every id the specs seat: the trained one, a past checkpoint of the league
    (`base`, `round-<r>`: loaded by `checkpoint`), or a registered scripted player."""
    ids = {policy_id for spec in specs for policy_id in spec.policies}
    return {policy_id: trained if policy_id == TRAINED
            else checkpoint(policy_id) if checkpoint_round(policy_id) is not None
            else POLICIES.make(policy_id) for policy_id in ids}


def rollout_metrics(episodes: list[Episode], failures: list[Episode], seconds: float) -> dict[str, Any]:
    scored = [e for e in episodes if e.has_outcome]
    rewards = [e.rewards[seat] for e in scored for seat in e.seats_of(TRAINED)]
    tokens = sum(len(t.completion.token_ids) for e in episodes + failures for t in e.turns)
    return {
        "episodes": len(episodes),
        "pass_rate": sum(rewards) / max(1, len(rewards)),  # mean reward of the trained policy's seats
        "illegal": sum(not t.legal for e in episodes for t in e.turns),
        "cut": len(episodes) - len(scored),  # truncated by the turn cap: no outcome
        "failed": len(failures),
        "tokens": tokens, "tokens_per_s": tokens / seconds if seconds else None,
    }


def previous_rows(run_dir: RunDir, r: int) -> list[dict[str, Any]]:
    path = run_dir.dataset_path(r - 1)
    return Dataset.from_parquet(str(path)).to_list() if r > 1 and path.exists() else []


def build_dataset(recipe, recipe_cfg, episodes, path, context: BuildContext) -> list[dict[str, Any]]:
    if path.exists():
        return Dataset.from_parquet(str(path)).to_list()
    rows = recipe.build(episodes, recipe_cfg)
    if rows and recipe.with_reference:
        rows = recipe.with_reference(rows, recipe_cfg, context)
    if rows:
        save_atomically(path, lambda tmp: Dataset.from_list(rows).to_parquet(str(tmp)))
    return rows
