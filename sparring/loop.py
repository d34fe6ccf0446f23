"""The round loop, top to bottom: [probe ->] rollout -> curate -> build -> train -> evaluate -> report.

Round 0 evaluates the base model. Round r >= 1 samples with the model round r-1 promoted (with
`balance` on, at the temperature a probe chose), curates the samples (sparring/curate.py), builds
the recipe's rows from what it kept, fine-tunes, evaluates, raises the round's alarms and writes
report.html. Every stage's output lands in the run directory as soon as it exists, so `--resume`
continues from the first incomplete stage and never repeats or loses a stored episode.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from pathlib import Path
from typing import Any, Callable

from datasets import Dataset
from rich.console import Console
from rich.markup import escape

from sparring import balance, curate
from sparring.alarms import alarms
from sparring.balance import choose, probe_specs, round_balance
from sparring.config import RunConfig
from sparring.curate import CurateConfig, curate_round, mixed_rows
from sparring.engine import EpisodeSpec, run_episodes, run_missing
from sparring.envs import ENVS, check_outside_env
from sparring.errors import SparringError
from sparring.files import save_atomically
from sparring.models import BACKENDS
from sparring.models.paths import check_model
from sparring.models.precision import resolve_dtype
from sparring.models.vllm_backend import check_vllm_installed
from sparring.launch import check_launch, train_launched
from sparring.workers import Players, check_ray, play_on_workers, start_workers, stop_workers
from sparring.ratings import checkpoint_round, served_name
from sparring.policies import POLICIES, TRAINED, TRAINED_GREEDY, Policy
from sparring.policies.checkpoints import Model, load_run_model, served_model
from sparring.recipes import RECIPES, TrainResult
from sparring.recipes.base import BuildContext
from sparring.recipes.training import keep_weights, train_roles
from sparring.qdc import qdc_metrics
from sparring.reports.console import percent_text, progress_bar, rounds_table
from sparring.reports.html import html_report
from sparring.rundir import RunDir, code_version
from sparring.search.player import SearchPlayer, searched_player
from sparring.search.priors import PolicyPriors
from sparring.seeds import derive_seed
from sparring.store import EpisodeStore
from sparring.tasks import Task, make_task
from sparring.tasks.solo import TRAIN_SEED_LIMIT
from sparring.trackers import RunTrackers
from sparring.trackers import check as check_trackers
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
    trackers = RunTrackers(cfg.report_to, run_dir.root, run_id, cfg.model_dump(mode="json", exclude_none=True),
                           warn=lambda message: console.print(f"[yellow]warning:[/] {escape(message)}"))
    train_step = sum(m.get("train", {}).get("steps", 0) for m in history)  # the trackers' training axis
    # a seat whose reward is above its env's line passed (every registered env, propose plays two, and the
    # run's own, which may be family members such as reasoning-gym/chain_sum)
    pass_line = {env_id: sum(ENVS.load(env_id).reward_range) / 2 for env_id in {*ENVS.ids(), *cfg.env_ids}}
    loaded = None  # the latest model, loaded once per round
    for r in range(cfg.rounds + 1):
        if run_dir.is_complete(r):
            continue
        console.rule(f"round {r}" + (" (base model)" if r == 0 else ""))
        seconds: dict[str, float] = {}
        provenance = {"run_id": run_id, "round": r, "code_version": code_version()}
        metrics: dict[str, Any] = {"round": r}
        parent_round, parent_score = None, None
        if r == 0:
            model = cfg.model
        else:
            parent_round, parent_score = starting_point(history[-1])
            parent = model_of_round(cfg, run_dir, parent_round)
            loaded = loaded or load_run_model(cfg, parent, dtype)
            temperature, round_cfg = cfg.rollout.temperature, recipe_cfg
            if cfg.balance.enabled:
                with run_dir.stage(r, "probe", seconds), progress_bar(console, "probe") as bar:
                    metrics["probe"] = probe(cfg, r, task.plan(r, history)[0], loaded, store, provenance, balance_thresholds(cfg, recipe_cfg),
                                             pass_line, bar)
                temperature = metrics["probe"]["temperature"]
                if metrics["probe"]["threshold"] is not None:
                    round_cfg = recipe_cfg.model_copy(update={"min_reward": metrics["probe"]["threshold"]})
            with run_dir.stage(r, "rollout", seconds):
                players = Players(cfg.model_dump(mode="json", exclude_none=True), run_dir.root, parent, dtype,
                                  rollout_sampling(cfg, temperature))
                episodes, specs, chosen = rollout(cfg, r, lambda played: task.plan(r, history, played), loaded, players,
                                                  store, provenance, console)
            episodes, training = task.score(r, episodes)
            metrics["rollout"] = {**chosen, "planned": len(specs), "temperature": temperature,
                                  **task.rollout_metrics(episodes),
                                  **rollout_metrics(cfg.env_ids, episodes, store.failures(r, "train"), seconds["rollout"])}

            with run_dir.stage(r, "curate", seconds):
                curated = curate_round(run_dir, r, training, cfg.curate, task.evaluation_texts(), pass_line)
                metrics["curate"] = curated.counts()
                readable = [e for e in episodes if e.id not in curated.ids("error")]  # a filter failed on the others
                metrics["qdc"] = qdc_metrics(readable, pass_line, curated.ids("near_duplicate"))

            # a bar where the recipe uses the model to build (reference log-probabilities, a tree search)
            build_bar = progress_bar(console, "build") if recipe.with_model else contextlib.nullcontext()
            with run_dir.stage(r, "build", seconds), build_bar as bar:
                rows = build_dataset(recipe, round_cfg, curated.kept, run_dir.dataset_path(r), BuildContext(
                    r, loaded, previous_rows(run_dir, r), bar), cfg.curate, derive_seed(cfg.seed, "mix", r))
            metrics["dataset"] = {"rows": len(rows), "problems": len({(x["env_id"], x["seed"]) for x in rows}),
                                  **(recipe.counts(curated.kept, rows, round_cfg) if recipe.counts else {})}
            metrics["balance"] = round_balance(episodes, rows, pass_line, cfg.balance.n_star)
            if not rows:
                console.print(f"[yellow]warning:[/] round {r}: {recipe.name} kept no training row from "
                              f"{len(curated.kept)} curated episodes (no verified sample, no pair, or no turn with a "
                              "positive advantage), so the round trains on nothing and the next starts from the same "
                              "model. More samples per problem, more problems, or easier levels give it something "
                              "to learn.")

            loaded = None  # the rollout model is done: free it before training loads its own copy
            checkpoint = run_dir.checkpoint_path(r)
            if not checkpoint.exists():
                with run_dir.stage(r, "train", {}), progress_bar(console, "train") as bar:
                    seed = derive_seed(cfg.seed, "train", r, bits=32)
                    if rows and cfg.launch.launcher == "accelerate":
                        log = run_dir.round_dir(r) / "train.log"
                        console.print(f"train: accelerate launch, {cfg.launch.num_processes} process(es); log {log}")
                        train_launched(cfg.launch, recipe, round_cfg, parent, run_dir.dataset_path(r),
                                       row_indices(rows, task.training_roles(rows)), checkpoint, seed, dtype, log)
                    elif rows:
                        train(recipe, round_cfg, parent, rows, task.training_roles(rows), checkpoint, seed, bar, dtype)
                    else:
                        keep_weights(parent, checkpoint)
            trained = TrainResult.read(checkpoint)  # also when the checkpoint was found on resume
            seconds["train"] = trained.seconds
            metrics["train"] = {"losses": trained.losses, "steps": len(trained.losses), **trained.curves}
            model = str(checkpoint)
        loaded = loaded or load_run_model(cfg, model, dtype)
        with run_dir.stage(r, "eval", seconds), progress_bar(console, "evaluate") as bar:
            metrics["eval"] = task.evaluate(loaded, store, provenance, bar)
        score = metrics["eval"]["score"]
        promoted = parent_round is None or cfg.promote == "always" or score >= parent_score
        if not promoted:
            loaded = None  # the next round starts from the parent, not from this checkpoint
            console.print(f"[yellow]not promoted:[/] round {r}'s checkpoint scores {percent_text(score)}, below its "
                          f"parent's {percent_text(parent_score)}; round {r + 1} starts from the parent")
        metrics.update(model=model, seconds=seconds, promoted=promoted, next_from=r if promoted else parent_round,
                       next_score=score if promoted else parent_score)
        metrics["alarms"] = alarms(history[-1] if history else None, metrics, cfg.alarms)
        for alarm in metrics["alarms"]:
            console.print(f"[yellow]alarm:[/] {escape(alarm)}")
        run_dir.write_metrics(r, metrics)
        history.append(metrics)
        train_step = trackers.round(metrics, train_step)
        console.print(rounds_table(history))
        write_report(run_dir, console)
    trackers.finish(history)
    return history


def starting_point(previous: dict[str, Any]) -> tuple[int, float | None]:
    """The round whose model a round starts from, and its held-out score: the previous round's, or
    (`promote = "if-better"`) the round before it where the previous checkpoint scored below it."""
    return previous.get("next_from", previous["round"]), previous.get("next_score", previous["eval"]["score"])


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
    BACKENDS.entry(cfg.backend.name)  # unknown: fails with the closest names
    if cfg.backend.name == "openai":
        raise SparringError("backend.name: 'openai' serves one fixed model, and a run trains new checkpoints that the "
                            "server does not have; train on 'transformers' and seat a served model as a player: "
                            "[servers.<name>] and matches.opponents = ['served:<name>']")
    if cfg.backend.name == "vllm" and not cfg.vllm.base_url:
        check_vllm_installed()
    check_ray(cfg.rollout, cfg.ray)
    check_trackers(cfg.report_to)
    for env_id in cfg.env_ids:
        check_outside_env(env_id)  # unknown: fails with the closest ids; a plugin's must keep the contract
    recipe = RECIPES.load(cfg.recipe)
    check_launch(cfg.launch, recipe)
    task = make_task(cfg)
    task.check()
    if recipe.check is not None:
        recipe.check(cfg)
    curate.check(cfg, recipe)
    balance.check(cfg, getattr(cfg, recipe.config_key))
    return task


def model_of_round(cfg: RunConfig, run_dir: RunDir, r: int) -> str:
    return cfg.model if r == 0 else str(run_dir.checkpoint_path(r))


def player_model(cfg: RunConfig, run_dir: RunDir, player: str, dtype: str) -> Model:
    """The model a league player is: a checkpoint of the run (`base`, `round-<r>`) or a served model
    (`served:<name>`)."""
    server = served_name(player)
    if server is not None:
        return served_model(cfg.servers, server)
    return load_run_model(cfg, model_of_round(cfg, run_dir, checkpoint_round(player)), dtype)


def rollout(cfg: RunConfig, r: int, plan: Callable[[list[Episode]], tuple[list[EpisodeSpec], dict[str, Any]]],
            model: Model, players: Players, store: EpisodeStore, provenance,
            console) -> tuple[list[Episode], list[EpisodeSpec], dict[str, Any]]:
    """Play the round's missing episodes: `model` in the trained seats, past checkpoints of the league
    (`players.load(name)`) and scripted players in the others, here or on `rollout.workers` Ray
    workers (sparring/workers.py). The plan is asked again with what was played until it stops growing
    (propose plans its solver's episodes once the proposals exist). Every episode of the round,
    stored; the last plan, and what it chose."""
    rc = cfg.rollout
    played = store.episodes(r, "train")
    specs, chosen = plan(played)
    workers = start_workers(rc.workers, players, cfg.ray) if rc.workers > 1 else []
    try:
        with progress_bar(console, "rollout", len(specs)) as bar:
            while True:
                done = {e.id for e in played}
                todo = [s for s in specs if s.id not in done]
                bar.start(len(specs), completed=len(specs) - len(todo))
                spent = sum(len(t.completion.token_ids) for e in played for t in e.turns)
                engine = dict(seed=derive_seed(cfg.seed, "rollout", r), max_in_flight=rc.max_in_flight,
                              max_turns=rc.max_turns, max_failures=int(rc.max_failed_fraction * len(specs)),
                              on_finished=bar)
                if todo and workers:
                    play_on_workers(todo, workers, provenance, store, **engine)
                elif todo:
                    run_episodes(todo, seat_policies(todo, model, players.sampling, players.load), provenance,
                                 store=store, **engine,
                                 max_tokens=None if rc.max_tokens_per_round is None else rc.max_tokens_per_round - spent)
                played = store.episodes(r, "train")
                more, chosen = plan(played)
                if len(more) == len(specs):
                    return played, specs, chosen
                specs = more
    finally:
        if workers:
            stop_workers(workers)


def rollout_sampling(cfg: RunConfig, temperature: float) -> SamplingParams:
    """The rollout's sampling settings at `temperature` (the configured one, or the one a probe chose)."""
    rc = cfg.rollout
    return SamplingParams(temperature=temperature, top_k=rc.top_k, top_p=rc.top_p, max_new_tokens=rc.max_new_tokens)


def seat_policies(specs: list[EpisodeSpec], trained: Model, sampling: SamplingParams,
                  checkpoint: Callable[[str], Model]) -> dict[str, Policy]:
    """A policy for every id the specs seat: the trained model, a past checkpoint of the league
    (`base`, `round-<r>`) or a served model (`served:<name>`), both loaded by `checkpoint`, a registered
    scripted player, `mcts(<model>)`: a search with that model's priors (sparring/search/player.py), or
    the trained model decoding greedily (`policy-greedy`)."""
    @functools.cache  # `base` and `mcts(base)` share one loaded model
    def model(name: str) -> Model:
        return trained if name == TRAINED else checkpoint(name)

    def player(policy_id: str) -> Policy:
        inner = searched_player(policy_id)
        if inner is not None:
            return SearchPlayer(priors=PolicyPriors(model(inner).backend), priors_from=inner)
        if policy_id == TRAINED_GREEDY:
            return trained.policy(dataclasses.replace(sampling, temperature=0.0))
        if policy_id == TRAINED or checkpoint_round(policy_id) is not None or served_name(policy_id) is not None:
            return model(policy_id).policy(sampling)
        return POLICIES.make(policy_id)

    return {policy_id: player(policy_id) for policy_id in {p for spec in specs for p in spec.policies}}


def rollout_metrics(env_ids: list[str], episodes: list[Episode], failures: list[Episode], seconds: float
                    ) -> dict[str, Any]:
    scored = [e for e in episodes if e.has_outcome]
    rewards = [e.rewards[seat] for e in scored if e.env_id in env_ids for seat in e.seats_of(TRAINED)]
    tokens = sum(len(t.completion.token_ids) for e in episodes + failures for t in e.turns)
    return {
        "episodes": len(episodes),
        "pass_rate": sum(rewards) / max(1, len(rewards)),  # mean reward of the trained policy's seats in the run's env(s)
        "illegal": sum(not t.legal for e in episodes for t in e.turns),
        "cut": len(episodes) - len(scored),  # truncated by the turn cap: no outcome
        "failed": len(failures),
        "tokens": tokens, "tokens_per_s": tokens / seconds if seconds else None,
    }


def previous_rows(run_dir: RunDir, r: int) -> list[dict[str, Any]]:
    path = run_dir.dataset_path(r - 1)
    return Dataset.from_parquet(str(path)).to_list() if r > 1 and path.exists() else []


def build_dataset(recipe, recipe_cfg, episodes, path, context: BuildContext, curate_cfg: CurateConfig,
                  mix_seed: int) -> list[dict[str, Any]]:
    if path.exists():
        return Dataset.from_parquet(str(path)).to_list()
    rows = recipe.build(episodes, recipe_cfg)
    if rows and curate_cfg.mix_fraction:
        rows = mixed_rows(rows, episodes, curate_cfg, mix_seed)
    if rows and recipe.with_model:
        rows = recipe.with_model(rows, recipe_cfg, context)
    if rows:
        save_atomically(path, lambda tmp: Dataset.from_list(rows).to_parquet(str(tmp)))
    return rows


def train(recipe, recipe_cfg, parent: str, rows: list[dict[str, Any]], rows_by_role: dict[str, list] | None,
          out: Path, seed: int, progress, dtype: str) -> TrainResult:
    """The round's checkpoint: the recipe trained on every row, or (`rows_by_role`, a task whose roles
    have checkpoints of their own) once per role on that role's rows."""
    def train_one(base: str, mine: list[dict[str, Any]], path: Path, role_seed: int) -> TrainResult:
        return recipe.train(base, mine, recipe_cfg, path, seed=role_seed, progress=progress, dtype=dtype)

    if rows_by_role is None:
        return train_one(parent, rows, out, seed)
    return train_roles(parent, rows_by_role, out, seed, train_one)


def row_indices(rows: list[dict[str, Any]], rows_by_role: dict[str, list] | None) -> dict[str, list[int]] | None:
    """Each role's rows as indices into the round's rows (a launched train stage reads them from disk)."""
    if rows_by_role is None:
        return None
    index = {id(row): i for i, row in enumerate(rows)}
    return {role: [index[id(row)] for row in mine] for role, mine in rows_by_role.items()}


def balance_thresholds(cfg: RunConfig, recipe_cfg) -> list[float | None]:
    """The selection thresholds the balance probe scores: the configured grid, else the recipe's own
    `min_reward`, else None (the samples that pass are the selected)."""
    return cfg.balance.thresholds or [getattr(recipe_cfg, "min_reward", None)]


def probe(cfg: RunConfig, r: int, specs: list[EpisodeSpec], model: Model, store: EpisodeStore, provenance,
          thresholds: list[float | None], pass_line: dict[str, float], progress) -> dict[str, Any]:
    """B-STaR's probe (sparring/balance.py): a dev slice of the round's plan played at every temperature
    of the grid within the probe budget; the temperature and threshold of the best balance."""
    bc, rc = cfg.balance, cfg.rollout
    problems = max(1, bc.probe_episodes // (len(bc.temperatures) * rc.samples_per_problem))
    probed = {}
    progress.start(problems * rc.samples_per_problem * len(bc.temperatures))
    for i, temperature in enumerate(bc.temperatures):
        dev = probe_specs(specs, r, i, problems, lambda p: derive_seed(cfg.seed, "probe", r, p) % TRAIN_SEED_LIMIT)
        sampler = model.policy(rollout_sampling(cfg, temperature))
        probed[temperature] = run_missing(dev, {TRAINED: sampler}, provenance, store, "probe",
                                          on_finished=progress, seed=derive_seed(cfg.seed, "probe", r, i),
                                          max_in_flight=rc.max_in_flight, max_turns=rc.max_turns)
    return {"problems": problems, **choose(probed, thresholds, pass_line, bc.n_star)}


def write_report(run_dir: RunDir, console: Console) -> None:
    """report.html after every round; a report that fails to render warns and never stops the run."""
    try:
        html_report(run_dir.root)
    except Exception as e:  # the report is a view of the run; the run's data is already stored
        console.print(f"[yellow]warning:[/] report.html was not written: {escape(f'{type(e).__name__}: {e}')}")
