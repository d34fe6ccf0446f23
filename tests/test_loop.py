"""The whole round on the tiny model: run directory layout, provenance, resume after an interruption."""

import json
from pathlib import Path

import pytest
from datasets import Dataset
from rich.console import Console
from transformers import AutoModelForCausalLM

from sparring import loop
from sparring.config import load_config
from sparring.errors import SparringError
from sparring.models.adapters import ADAPTER, adapter_base
from sparring.rundir import RunDir
from sparring.store import EpisodeStore
from sparring.tasks import make_task

# The tiny random model never answers right, so keep every sample (min_reward=0) to exercise training.
TINY = ["rounds=2", "rollout.problems_per_round=6", "rollout.samples_per_problem=2", "rollout.max_new_tokens=6",
        "eval.levels=[1, 2]", "eval.problems_per_level=3", "eval.max_new_tokens=6", "rest_em.min_reward=0.0",
        "rest_em.batch_size=4", "backend.dtype='float32'"]


def _run(tmp_path, tiny_model, extra=(), without=()):
    """A run of TINY with `extra` settings, leaving out the TINY settings of the keys in `without`."""
    kept = [s for s in TINY if s.partition("=")[0] not in without]
    cfg = load_config(None, [*kept, f"model='{tiny_model}'", *extra])
    run_dir = RunDir.create(tmp_path / "run", cfg)
    return cfg, run_dir


def test_rounds_fill_the_run_directory(tmp_path, tiny_model):
    cfg, run_dir = _run(tmp_path, tiny_model)
    history = loop.run(cfg, run_dir, Console(quiet=True))
    assert [m["round"] for m in history] == [0, 1, 2]
    root = run_dir.root
    assert (root / "config.toml").exists() and (root / "heldout.jsonl").exists()
    for r in (1, 2):
        rows = Dataset.from_parquet(str(run_dir.dataset_path(r)))
        assert len(rows) == 12 and set(rows["round"]) == {r}  # 6 problems x 2 samples, all kept
        AutoModelForCausalLM.from_pretrained(run_dir.checkpoint_path(r))
        # its weights as one adapter on the run's model, for a server that loads adapters (vLLM)
        assert adapter_base(run_dir.checkpoint_path(r)) == str(Path(tiny_model).resolve())
        assert json.loads((run_dir.checkpoint_path(r) / ADAPTER / "adapter_config.json").read_text())["r"] == 16 * r
        metrics = json.loads(run_dir.metrics_path(r).read_text())
        assert metrics["dataset"]["rows"] == 12 and metrics["train"]["steps"] == 3
        assert set(metrics["seconds"]) == {"rollout", "curate", "build", "train", "eval"}
        assert metrics["curate"] == {"kept": 12, "dropped": {}}
        assert metrics["qdc"]["arithmetic-v0"]["diversity"]["vendi"] >= 1 and metrics["alarms"] == []
        assert metrics["balance"]["queries"] == 6 and metrics["balance"]["pass_at_k"] == 0
        assert metrics["promoted"] and metrics["next_from"] == r
    assert "plot-heldout" in (root / "report.html").read_text()
    assert set(history[0]["eval"]["columns"]) == {"L1", "L2"}
    store = EpisodeStore(run_dir.episodes_path)
    assert store.count() == 3 * 6 + 2 * 12  # eval every round, rollout in rounds 1 and 2
    (ep, *_) = store.episodes(2, "train")
    policy = ep.provenance["policies"]["policy"]
    assert policy["model_id"] == str(run_dir.checkpoint_path(1)) and policy["kind"] == "llm"
    assert ep.provenance["run_id"] == "run" and policy["sampling"]["temperature"] == cfg.rollout.temperature


def test_heldout_seeds_never_meet_training_seeds(tmp_path, tiny_model):
    cfg, run_dir = _run(tmp_path, tiny_model, ["rounds=1"])
    loop.run(cfg, run_dir, Console(quiet=True))
    store = EpisodeStore(run_dir.episodes_path)
    train_seeds = {e.seed for e in store.episodes(1, "train")}
    eval_seeds = {e.seed for r in (0, 1) for e in store.episodes(r, "eval")}
    assert train_seeds and eval_seeds and not train_seeds & eval_seeds


def test_resume_after_an_interrupted_round_finishes_without_repeating_episodes(tmp_path, tiny_model, monkeypatch):
    cfg, run_dir = _run(tmp_path, tiny_model)
    real_train = loop.RECIPES.load("rest-em").train
    calls = []

    def interrupted_train(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # Ctrl-C in round 2, after its rollout is stored
            raise KeyboardInterrupt
        return real_train(*args, **kwargs)

    recipe = loop.RECIPES.load("rest-em")
    monkeypatch.setattr(loop.RECIPES, "load", lambda _id: type(recipe)(**{**recipe.__dict__, "train": interrupted_train}))
    with pytest.raises(KeyboardInterrupt):
        loop.run(cfg, run_dir, Console(quiet=True))
    run_dir.close()
    assert run_dir.is_complete(1) and not run_dir.is_complete(2)
    stored_before = EpisodeStore(run_dir.episodes_path).ids(2, "train")
    assert len(stored_before) == 12

    history = loop.run(cfg, RunDir.open(run_dir.root), Console(quiet=True))
    assert [m["round"] for m in history] == [0, 1, 2] and len(calls) == 3
    store = EpisodeStore(run_dir.episodes_path)
    assert store.ids(2, "train") == stored_before  # the stored rollout was reused, not redone
    assert store.count() == 3 * 6 + 2 * 12


def test_resume_mid_rollout_plays_only_the_missing_episodes(tmp_path, tiny_model):
    cfg, run_dir = _run(tmp_path, tiny_model, ["rounds=1"])
    specs, chosen = make_task(cfg).plan(1, [])
    assert chosen == {"levels": {"arithmetic-v0": [1, 2]}}  # nothing measured yet: the easiest level and one probe
    kept = specs[:5]
    from sparring.engine import run_episodes
    from sparring.policies import LLMPolicy
    from sparring.models.transformers_backend import TransformersBackend
    from sparring.types import SamplingParams

    store = EpisodeStore(run_dir.episodes_path)
    run_episodes(kept, {"policy": LLMPolicy(TransformersBackend(tiny_model), SamplingParams(max_new_tokens=2))},
                 {"run_id": "run", "round": 1}, store=store)
    store.close()
    # Round 0 not done yet either; the loop evaluates it, then completes round 1's rollout.
    loop.run(cfg, run_dir, Console(quiet=True))
    store = EpisodeStore(run_dir.episodes_path)
    assert store.ids(1, "train") == {s.id for s in specs}


class FlakyArithmetic:
    """arithmetic-v0 whose step raises for the episodes whose seed is divisible by `every`."""

    every = 5
    num_seats, reward_range, levels = 1, (0.0, 1.0), tuple(range(1, 9))

    def __init__(self, **kwargs):
        from sparring.envs.arithmetic import ArithmeticEnv

        self.env = ArithmeticEnv(**kwargs)

    def reset(self, seed):
        self.seed = seed
        return self.env.reset(seed)

    def step(self, action_text):
        if self.seed % self.every == 0:
            raise RuntimeError("env bug")
        return self.env.step(action_text)


@pytest.fixture
def flaky_env(monkeypatch):
    from sparring.envs import ENVS

    monkeypatch.setattr(ENVS, "_entries", dict(ENVS._entries))  # registered for this test only
    ENVS.register("flaky-arithmetic-v0", f"{__name__}:FlakyArithmetic", "raises in some episodes")
    return FlakyArithmetic


def test_failing_episodes_are_counted_and_the_run_completes(tmp_path, tiny_model, flaky_env):
    cfg, run_dir = _run(tmp_path, tiny_model, ["rounds=1", "env=flaky-arithmetic-v0", "rollout.problems_per_round=30",
                                               "rollout.max_failed_fraction=0.5"])
    history = loop.run(cfg, run_dir, Console(quiet=True))
    failed = run_dir.store.failures(1, "train")
    assert failed and all(e.error == "error in step: RuntimeError: env bug" and e.seed % 5 == 0 for e in failed)
    assert history[1]["rollout"]["failed"] == len(failed)
    assert history[1]["rollout"]["episodes"] + len(failed) == 60
    assert history[1]["dataset"]["rows"] == history[1]["rollout"]["episodes"]  # failures never reach training
    run_dir.close()


def test_more_failures_than_the_ceiling_stop_the_run_with_a_clear_message(tmp_path, tiny_model, flaky_env,
                                                                         monkeypatch):
    monkeypatch.setattr(flaky_env, "every", 1)  # every episode fails
    cfg, run_dir = _run(tmp_path, tiny_model, ["rounds=1", "env=flaky-arithmetic-v0"])
    with pytest.raises(SparringError, match="episodes failed, more than the .* allowed.*env bug"):
        loop.run(cfg, run_dir, Console(quiet=True))
    run_dir.close()


class Parity:
    """A one-seat env without difficulty levels: say whether the seed is even."""

    num_seats, reward_range = 1, (0.0, 1.0)

    def reset(self, seed):
        from sparring.types import Message, TurnRequest

        self.seed = seed
        return TurnRequest(0, (Message("user", f"Is {seed} even? Say yes or no."),))

    def step(self, action_text):
        from sparring.types import StepResult

        right = ("yes" in action_text.lower()) == (self.seed % 2 == 0)
        return StepResult(None, (float(right),), terminated=True)


class TwoSeats(Parity):
    num_seats = 2


@pytest.fixture
def registered(monkeypatch):
    from sparring.envs import ENVS

    monkeypatch.setattr(ENVS, "_entries", dict(ENVS._entries))  # registered for this test only
    ENVS.register("parity-v0", f"{__name__}:Parity", "no levels")
    ENVS.register("two-seats-v0", f"{__name__}:TwoSeats", "two seats")


def test_an_env_without_levels_runs(tmp_path, tiny_model, registered):
    cfg, run_dir = _run(tmp_path, tiny_model, ["rounds=1", "env=parity-v0"], without=["eval.levels"])
    history = loop.run(cfg, run_dir, Console(quiet=True))
    run_dir.close()
    assert set(history[1]["eval"]["columns"]) == {"all"} and history[1]["eval"]["episodes"] == 3
    assert history[1]["rollout"]["levels"] == {"parity-v0": []} and history[1]["rollout"]["episodes"] == 12
    assert 0 <= history[1]["eval"]["score"] <= 1


def test_a_mixture_of_envs_shares_each_round_by_weight(tmp_path, tiny_model, registered):
    cfg, run_dir = _run(tmp_path, tiny_model, ["rounds=1", 'env={"arithmetic-v0" = 2, "parity-v0" = 1}'])
    history = loop.run(cfg, run_dir, Console(quiet=True))
    store = EpisodeStore(run_dir.episodes_path)
    played = [e.env_id for e in store.episodes(1, "train")]
    run_dir.close()
    assert played.count("arithmetic-v0") == 8 and played.count("parity-v0") == 4  # 6 problems 2:1, 2 samples each
    heldout = [json.loads(line) for line in run_dir.heldout_path.read_text().splitlines()]
    assert [(item["env"], item["level"]) for item in heldout] == [("arithmetic-v0", 1)] * 3 + [("arithmetic-v0", 2)] * 3 \
        + [("parity-v0", None)] * 3  # eval.levels=[1, 2] applies to the env that has levels
    result, rollout = history[1]["eval"], history[1]["rollout"]
    assert set(result["columns"]) == {"arithmetic-v0", "parity-v0"}
    assert result["score"] == pytest.approx((2 * result["columns"]["arithmetic-v0"] + result["columns"]["parity-v0"]) / 3)
    assert set(rollout["levels"]) == set(rollout["pass_rate_by_level"]) == {"arithmetic-v0", "parity-v0"}
    assert rollout["levels"]["parity-v0"] == [] and rollout["levels"]["arithmetic-v0"]


@pytest.mark.parametrize("settings,message", [
    (["env=parity-v0", "eval.levels=[1]"], "eval.levels: parity-v0 has no difficulty levels; leave eval.levels out"),
    (["env=two-seats-v0", "curriculum.levels=[1]"], "curriculum.levels: two-seats-v0 has no difficulty levels"),
    (["env=tictactoe-v1", "matches.opponents=['minimax']"], "unknown policy 'minimax'"),
    (["env=two-seats-v0", "task=solo"], "task 'solo' plays one-seat envs; two-seats-v0 has 2 seats"),
    (["env=parity-v0", "task=games"], "task 'games' plays envs with several seats; parity-v0 has one"),
    (["task=league"], "unknown task 'league'"),
    (["backend.name='vllm'"], "starts `vllm serve`, which is not installed here"),
    (["backend.name='openai'"], "seat a served model as a player"),
    (["env=tictactoe-v1", "matches.opponents=['served:big']"], r"served by \[servers.big\], and the config has no"),
    (['env={"parity-v0" = 1, "tictactoe-v1" = 1}'], "task 'solo' plays one-seat envs; tictactoe-v1 has 2 seats"),
    (['env={"parity-v0" = 1}', "task=games"], "task 'games' plays one env; a mixture of envs .* is played by task 'solo'"),
    (['env={"parity-v0" = 1, "arithmetc-v0" = 1}'], "unknown environment 'arithmetc-v0'. Did you mean 'arithmetic-v0'"),
    (['env={"parity-v0" = 1}', "eval.levels=[1]"], "eval.levels: parity-v0 has no difficulty levels"),
])
def test_a_task_that_does_not_fit_the_env_is_refused_before_any_work(tmp_path, tiny_model, registered, settings,
                                                                     message):
    cfg, run_dir = _run(tmp_path, tiny_model, settings, without=["eval.levels"])
    with pytest.raises(SparringError, match=message):
        loop.run(cfg, run_dir, Console(quiet=True))
    run_dir.close()
    assert not run_dir.episodes_path.exists() or run_dir.store.count() == 0


def test_a_game_runs_self_play_and_opponent_games_and_is_judged_against_fixed_opponents(tmp_path, tiny_model):
    cfg, run_dir = _run(tmp_path, tiny_model, [
        "rounds=1", "env=tictactoe-v1", "rollout.problems_per_round=8", "rollout.samples_per_problem=1",
        "rest_em.min_reward=-1.0",  # the tiny model forfeits: keep the losing turns too, to exercise training
        "matches.self_play_share=0.5", "matches.opponents=['random-legal', 'tictactoe-minimax']",
        "matches.eval_opponents=['random-legal', 'tictactoe-minimax']", "matches.eval_games=4"], without=["eval.levels"])
    history = loop.run(cfg, run_dir, Console(quiet=True))
    run_dir.close()
    seatings = [e.policies for e in run_dir.store.episodes(1, "train")]
    assert sum(p == ("policy", "policy") for p in seatings) == 4  # half self-play
    assert {p for seats in seatings for p in seats} == {"policy", "random-legal", "tictactoe-minimax"}
    result = history[1]["eval"]
    assert set(result["vs"]) == {"random-legal", "tictactoe-minimax"} and result["vs"]["random-legal"]["games"] == 4
    vs_random = result["vs"]["random-legal"]
    assert vs_random["win"] + vs_random["draw"] + vs_random["loss"] == pytest.approx(1.0)
    assert result["vs"]["tictactoe-minimax"]["win"] == 0  # nobody beats perfect play
    assert result["score"] == vs_random["mean_reward"] and "vs random-legal w/d/l %" in result["columns"]
    assert history[1]["rollout"]["self_play_games"] == 4 and 0 <= history[1]["rollout"]["illegal_rate"] <= 1


def test_per_role_selfplay_trains_a_model_per_seat_and_meets_its_past_in_the_league(tmp_path, tiny_model):
    from sparring.policies.checkpoints import role_dirs

    cfg, run_dir = _run(tmp_path, tiny_model, [
        "rounds=3", "env=tictactoe-v1", "recipe=selfplay", "selfplay.policies=per-role", "selfplay.batch_size=4",
        "selfplay.min_advantage=-1e9", "selfplay.legal_only=false",  # the tiny model never plays a legal move
        "rollout.problems_per_round=8", "rollout.samples_per_problem=1", "matches.self_play_share=0.25",
        "matches.past_share=0.25", "matches.eval_games=2"], without=["eval.levels"])
    history = loop.run(cfg, run_dir, Console(quiet=True))
    run_dir.close()
    for r in (1, 2, 3):
        assert set(role_dirs(run_dir.checkpoint_path(r))) == {"seat0", "seat1"}
    rows = Dataset.from_parquet(str(run_dir.dataset_path(1))).to_list()
    assert {row["seat"] for row in rows} == {0, 1}  # seat 1 acts after random-legal's first move and {"role", "opponent", "advantage", "episode_id"} <= set(rows[0])
    # round 3 plays round 2's per-role model, against itself and its past (round 1, base)
    played = run_dir.store.episodes(3, "train")
    assert {tuple(e.tags["players"]) for e in played if e.tags["opponent"] == "policy"} == {("round-2", "round-2")}
    assert {e.tags["opponent"] for e in played} == {"policy", "round-1", "base", "random-legal"}
    trained = played[0].provenance["policies"]["policy"]
    assert trained["kind"] == "per-role" and set(trained["roles"]) == {"seat0", "seat1"}
    assert history[3]["rollout"]["past_games"] == 2 and history[1]["rollout"]["self_play_games"] == 4
    rating = history[3]["eval"]["rating"]
    # its 4 evaluation games (2 against each default opponent: random-legal, minimax) are its only rated ones
    assert rating["games"] == 4 and rating["ordinal"] == pytest.approx(rating["mu"] - 3 * rating["sigma"])
    players = {m.players for m in run_dir.store.matches()}
    assert ("round-3", "random-legal") in players or ("random-legal", "round-3") in players


def test_a_round_with_nothing_to_train_on_keeps_its_model_and_says_why(tmp_path, tiny_model):
    # the tiny model is never right: rest-em at its default min_reward keeps nothing, dpo pairs nothing
    for recipe in ("rest-em", "dpo"):
        cfg, run_dir = _run(tmp_path / recipe, tiny_model, [f"recipe={recipe}", "rounds=1"], without={"rest_em.min_reward"})
        console = Console(record=True, width=200)
        history = loop.run(cfg, run_dir, console)
        said = " ".join(console.export_text().split())
        assert "kept no training row" in said and "trains on nothing" in said
        assert history[1]["dataset"]["rows"] == 0 and history[1]["train"]["steps"] == 0
        assert not run_dir.dataset_path(1).exists()
        copied = AutoModelForCausalLM.from_pretrained(run_dir.checkpoint_path(1)).state_dict()
        base = AutoModelForCausalLM.from_pretrained(tiny_model).state_dict()
        assert all((copied[k] == base[k]).all() for k in base)
        assert history[1]["eval"]["score"] == history[0]["eval"]["score"]
    assert history[1]["dataset"]["none_rewarded"] == 6 and history[1]["dataset"]["pairs"] == 0  # dpo's counts


def test_dpo_trains_on_pairs_and_spin_on_reference_answers_through_the_loop(tmp_path, tiny_model):
    for recipe, setting in (("dpo", "dpo.min_margin=-1"), ("spin", "spin.batch_size=4")):
        cfg, run_dir = _run(tmp_path / recipe, tiny_model, [f"recipe={recipe}", setting, f"{recipe}.batch_size=4"])
        history = loop.run(cfg, run_dir, Console(quiet=True))
        rows = Dataset.from_parquet(str(run_dir.dataset_path(2))).to_list()
        assert rows and all(r["ref_chosen_logps"] < 0 and r["ref_rejected_logps"] < 0 for r in rows)
        assert history[2]["train"]["steps"] > 0 and len(history[2]["train"]["rewards/margins"]) == history[2]["train"]["steps"]
        assert history[2]["dataset"]["pairs"] == len([r for r in rows if r["round"] == 2])
    assert {r["round"] for r in rows} == {1, 2}  # spin's round 2 mixes round 1's pairs in


def test_a_worse_checkpoint_is_recorded_and_the_next_round_starts_from_its_parent(tmp_path, tiny_model, monkeypatch):
    from sparring.tasks.solo import SoloTask

    scores = iter([0.5, 0.3, 0.6])  # round 1 falls below the base model, round 2 rises above it

    def evaluate(self, model, store, provenance, progress=None):
        return {"score": next(scores), "score_name": "held-out accuracy", "columns": {}, "failed": 0}

    monkeypatch.setattr(SoloTask, "evaluate", evaluate)
    cfg, run_dir = _run(tmp_path, tiny_model, ["promote='if-better'"])
    history = loop.run(cfg, run_dir, Console(quiet=True))
    assert [m["promoted"] for m in history] == [True, False, True]
    assert history[1]["model"] == str(run_dir.checkpoint_path(1)) and history[1]["next_from"] == 0
    assert history[1]["alarms"] == ["round 1: the held-out accuracy fell: 50.0 -> 30.0"]
    sampled_by = {e.provenance["policies"]["policy"]["model_id"] for e in run_dir.store.episodes(2, "train")}
    assert sampled_by == {tiny_model}  # round 2 sampled with the base model, not round 1's checkpoint
    assert history[2]["next_from"] == 2 and history[2]["next_score"] == 0.6


def test_balance_mode_probes_every_temperature_and_samples_at_the_chosen_one(tmp_path, tiny_model):
    cfg, run_dir = _run(tmp_path, tiny_model, ["rounds=1", "balance.enabled=true", "balance.temperatures=[1.2, 0.4]",
                                               "balance.probe_episodes=8", "balance.thresholds=[0.0, 0.5]"])
    history = loop.run(cfg, run_dir, Console(quiet=True))
    probe = history[1]["probe"]
    assert probe["problems"] == 2 and len(probe["grid"]) == 4  # 8 episodes / (2 temperatures x 2 samples)
    probed = run_dir.store.episodes(1, "probe")
    assert len(probed) == 8 and not {e.seed for e in probed} & {e.seed for e in run_dir.store.episodes(1, "train")}
    # the tiny model is never right: every balance is 0, and the first of the grid wins
    assert (probe["temperature"], probe["threshold"]) == (1.2, 0.0) and history[1]["rollout"]["temperature"] == 1.2
    assert {e.provenance["policies"]["policy"]["sampling"]["temperature"] for e in run_dir.store.episodes(1, "train")} == {1.2}
    assert "probe" in history[1]["seconds"]


def test_seat_policies_seat_the_model_a_checkpoint_a_script_and_a_search_with_a_models_priors(tiny_model):
    from sparring.engine import EpisodeSpec
    from sparring.policies.base import LLMPolicy
    from sparring.policies.checkpoints import load_model
    from sparring.policies.scripted import RandomLegal
    from sparring.search.player import SearchPlayer
    from sparring.types import SamplingParams

    trained, base = (load_model("transformers", tiny_model, dtype="float32") for _ in range(2))
    loaded = []
    specs = [EpisodeSpec("a", "tictactoe-v1", 0, ("policy", "mcts(base)")),
             EpisodeSpec("b", "tictactoe-v1", 1, ("base", "random-legal")),
             EpisodeSpec("c", "tictactoe-v1", 2, ("mcts(policy)", "policy"))]
    players = loop.seat_policies(specs, trained, SamplingParams(), lambda name: loaded.append(name) or base)
    assert loaded == ["base"]  # `base` and `mcts(base)` share one load
    assert isinstance(players["policy"], LLMPolicy) and players["policy"].backend is trained.backend
    assert players["base"].backend is base.backend and isinstance(players["random-legal"], RandomLegal)
    assert isinstance(players["mcts(base)"], SearchPlayer) and players["mcts(base)"].priors_from == "base"
    assert players["mcts(policy)"].provenance()["name"] == "mcts(policy)"
