"""Task 'propose': planning the solver's episodes from the proposals, scoring them, what trains, bad config."""

import json
import zlib

import pytest
from datasets import Dataset
from rich.console import Console

from sparring import loop
from sparring.alarms import AlarmsConfig, proposal_alarms
from sparring.config import load_config
from sparring.envs import make_env
from sparring.errors import ConfigError, SparringError
from sparring.rundir import RunDir
from sparring.reports.console import rounds_table
from sparring.store import EpisodeStore
from sparring.tasks import make_task
from sparring.tasks.propose_solve import proposal_metrics
from sparring.types import Completion, Episode, Turn

PROPOSE = ["task='propose'", "balance.enabled=false"]


def _task(*overrides):
    task = make_task(load_config(None, [*PROPOSE, *overrides]))
    task.check()
    return task


def _proposal(p, m, reply, r=1):
    env = make_env("propose-arithmetic-v0")
    request = env.reset(7 + p)
    result = env.step(reply)
    return Episode(id=f"r{r}/propose/{p}/{m}", env_id="propose-arithmetic-v0", env_version=0, seed=7 + p,
                   policies=("policy",), turns=[Turn(0, request.messages, Completion(reply, (1,), "stop"), result.legal,
                                                     result.info)],
                   rewards=result.rewards, terminated=True, info=result.info,
                   tags={"stage": "train", "role": "proposer", "prompt": p, "sample": m}, provenance={"round": r})


def _answer(proposal_id, k, right, r=1):
    return Episode(id=f"{proposal_id}/{k}".replace("propose", "solve"), env_id="arithmetic-v0", env_version=0,
                   seed=zlib.crc32(proposal_id.encode()),  # one problem per proposal
                   policies=("policy-greedy" if k == "greedy" else "policy",), turns=[Turn(0, (), Completion("Answer: 1", (1,), "stop"), True)],
                   rewards=(1.0 if right else 0.0,), terminated=True,
                   tags={"stage": "train", "role": "solver", "proposal": proposal_id, "sample": k},
                   provenance={"round": r})


class _Store:
    def __init__(self, by_round):
        self.by_round = by_round

    def episodes(self, r, stage):
        return self.by_round.get(r, [])


def test_the_plan_poses_each_admitted_proposal_k_times_as_its_own_problem():
    task = _task("propose.prompts=2", "propose.proposals_per_prompt=2", "propose.solver_samples=3")
    specs, chosen = task.plan(1, [])
    assert [s.id for s in specs] == ["r1/propose/0/0", "r1/propose/0/1", "r1/propose/1/0", "r1/propose/1/1"]
    assert specs[0].seed == specs[1].seed != specs[2].seed  # proposals of one prompt share it
    assert chosen["shown_edge"] == 0 and specs[0].env_kwargs["edge"] == []
    played = [_proposal(0, 0, "Problem: 12 * (3 + 4)"), _proposal(0, 1, "no idea"), _proposal(1, 1, "Problem: 5 - 9")]
    more, _ = task.plan(1, [], played)
    solver = [s for s in more if s.tags["role"] == "solver"]
    assert [s.id for s in solver] == [f"r1/solve/{p}/{m}/{k}" for p, m in ((0, 0), (1, 1)) for k in range(3)]
    assert {s.env_kwargs["problem"] for s in solver} == {"12 * (3 + 4)", "5 - 9"}
    assert len({s.seed for s in solver}) == 2 and all(s.env_id == "arithmetic-v0" for s in solver)
    env = make_env("arithmetic-v0", **solver[0].env_kwargs)
    env.reset(solver[0].seed)
    assert env.answer == 84


def test_score_rewards_proposals_by_the_solvers_answers_and_keeps_the_band():
    task = _task("propose.proposals_per_prompt=3")
    a, b, c = _proposal(0, 0, "Problem: 12 * 7"), _proposal(0, 1, "Problem: 7*12"), _proposal(0, 2, "Problem: 2 **")
    d = _proposal(1, 0, "Problem: 31 + 45")
    answers = [_answer(a.id, k, k < 2) for k in range(4)] + [_answer(b.id, k, True) for k in range(4)] \
        + [_answer(d.id, k, k == 0) for k in range(4)]
    task.store = _Store({1: [_proposal(5, 0, "Problem: 45 + 31", r=1)]})  # round 1's archive, seen from round 2
    everything, training = task.score(2, [a, b, c, d, *answers])
    reward = {e.id: e.rewards[0] for e in everything if e.tags["role"] == "proposer"}
    # a and b share a shape and a canonical form: 1 other of 3 admitted takes 1/3 from each
    assert reward[a.id] == pytest.approx(1.0 - 1 / 3)  # p̂ = 0.5
    assert reward[b.id] == pytest.approx(0.0 - 1 / 3)  # always solved
    assert reward[c.id] == -1.0  # rejected
    assert reward[d.id] == pytest.approx(0.5 - 0.5)  # p̂ = 0.25; its canonical form is in the archive
    by_id = {e.id: e for e in everything}
    assert by_id[a.id].info["p_hat"] == 0.5 and by_id[d.id].info["novel"] is False
    assert by_id[a.id].info["solver_reward"] == 0.0  # the env's provisional reward, kept for the record
    trained = {e.id for e in training}
    assert trained == {a.id, b.id, c.id, d.id} | {e.id for e in answers if e.tags["proposal"] in (a.id, d.id)}
    metrics = proposal_metrics([e for e in everything if e.tags["role"] == "proposer"], {"31 + 45"})
    assert metrics["valid"] == 0.75 and metrics["novel"] == pytest.approx(2 / 3) and metrics["learnable"] == pytest.approx(2 / 3)
    assert metrics["known"] is None  # no greedy answers asked for
    assert metrics["p_hat"] == pytest.approx((0.5 + 1 + 0.25) / 3) and metrics["distinct_so_far"] == 2
    assert metrics["operations"] == {"1": 3} and metrics["rejected"] == {"exponent": 1}


def test_with_a_known_discount_each_proposal_is_also_answered_greedily_and_that_answer_only_measures():
    task = _task("propose.prompts=1", "propose.proposals_per_prompt=2", "propose.solver_samples=2",
                 "propose.reward.known_discount=1.0")
    task.store = _Store({})
    a, b = _proposal(0, 0, "Problem: 12 * 7"), _proposal(0, 1, "Problem: 31 + 45")
    more, _ = task.plan(1, [], [a, b])
    solver = [s for s in more if s.tags["role"] == "solver"]
    assert [(s.id, s.policies) for s in solver] == [(f"r1/solve/0/{m}/{k}", ("policy-greedy" if k == "greedy" else "policy",))
                                                    for m in (0, 1) for k in (0, 1, "greedy")]
    assert len({s.seed for s in solver if s.tags["proposal"] == a.id}) == 1  # the greedy answer is to the same problem
    answers = [_answer(a.id, 0, True), _answer(a.id, 1, False), _answer(a.id, "greedy", True),
               _answer(b.id, 0, True), _answer(b.id, 1, False), _answer(b.id, "greedy", False)]
    everything, training = task.score(1, [a, b, *answers])
    by_id = {e.id: e for e in everything}
    # both p̂ = 0.5 (the greedy answer is not one of the k); the greedy solver knew a, so a earns nothing
    assert by_id[a.id].info["p_hat"] == by_id[b.id].info["p_hat"] == 0.5
    assert by_id[a.id].info["greedy_right"] is True and by_id[b.id].info["greedy_right"] is False
    assert by_id[a.id].rewards[0] == 0.0 and by_id[b.id].rewards[0] == 1.0  # shapes differ: no cluster
    assert not any(e.tags.get("sample") == "greedy" for e in training)
    metrics = proposal_metrics([a, b], set())
    assert metrics["known"] is None
    metrics = proposal_metrics([by_id[a.id], by_id[b.id]], set())
    assert metrics["known"] == 0.5 and metrics["learnable"] == 1.0


def test_the_next_rounds_prompts_show_the_edge_problems_last_and_the_failed_ones_never_the_known():
    task = _task("propose.prompts=3", "propose.proposals_per_prompt=1", "propose.solver_samples=2",
                 "propose.reward.known_discount=1.0", "propose.examples=3")
    edge, always, never, known = (_proposal(p, 0, f"Problem: {text}") for p, text in
                                  enumerate(["12 * 7", "1 + 1", "(31 + 45) * 9", "20 - 13"]))
    answers = [_answer(edge.id, 0, True), _answer(edge.id, 1, False), _answer(edge.id, "greedy", False),
               *(_answer(always.id, k, True) for k in (0, 1, "greedy")),
               *(_answer(never.id, k, False) for k in (0, 1, "greedy")),
               _answer(known.id, 0, True), _answer(known.id, 1, False), _answer(known.id, "greedy", True)]
    task.store = _Store({1: [edge, always, never, known, *answers]})
    specs, chosen = task.plan(2, [])
    assert chosen["shown_edge"] == 1 and chosen["shown_failed"] == 1
    assert specs[0].env_kwargs["edge"] == ["12 * 7"] and specs[0].env_kwargs["failed"] == ["(31 + 45) * 9"]
    env = make_env("propose-arithmetic-v0", **specs[0].env_kwargs)
    messages = env.reset(specs[0].seed).messages
    assert messages[-2].content == "Problem: 12 * 7" and "only sometimes" in messages[-1].content
    assert not {"Problem: 1 + 1", "Problem: 20 - 13"} & {m.content for m in messages}


def test_reinforce_trains_both_roles_from_one_round_each_against_its_own_group():
    from sparring.recipes.reinforce import ReinforceConfig, build

    task = _task("propose.proposals_per_prompt=3", "recipe='reinforce'")
    task.store = _Store({})
    a, b, c = _proposal(0, 0, "Problem: 12 * 7"), _proposal(0, 1, "Problem: 31 + 45"), _proposal(0, 2, "Problem: 2 **")
    d = _proposal(1, 0, "Problem: 64 - 18")
    answers = [_answer(a.id, k, k < 2) for k in range(4)] + [_answer(d.id, k, k == 0) for k in range(4)]
    _, training = task.score(1, [a, b, c, d, *answers])
    rows = build(training, ReinforceConfig())
    advantage = {r["episode_id"]: r["advantage"] for r in rows}
    # prompt 0's proposals: a 1 (p̂ 0.5), b 0 (never solved), c rejected: credited −1.5 (reinforce's illegal reward)
    mean = (1.0 + 0.0 - 1.5) / 3
    assert advantage[a.id] == pytest.approx(1.0 - mean) and advantage[b.id] == pytest.approx(-mean)
    assert advantage[c.id] == pytest.approx(-1.5 - mean)
    assert d.id not in advantage  # alone from its prompt: no group to compare with
    assert [advantage[e.id] for e in answers] == pytest.approx([0.5, 0.5, -0.5, -0.5, 0.75, -0.25, -0.25, -0.25])


def test_the_proposals_train_only_when_the_trained_policy_proposes_and_it_is_their_round():
    a = _proposal(0, 0, "Problem: 12 * 7")
    answers = [_answer(a.id, k, k < 2) for k in range(4)]
    for overrides, rounds_with_proposals in ((["propose.proposer_every=2"], {1, 3}),
                                             (["propose.proposer='base'"], set()),
                                             (["propose.proposer_every=0"], set())):
        task = _task(*overrides)
        task.store = _Store({})
        for r in (1, 2, 3):
            _, training = task.score(r, [a, *answers])
            assert (a.id in {e.id for e in training}) == (r in rounds_with_proposals), (overrides, r)


@pytest.mark.parametrize("overrides, message", [
    (["propose.env='arithmetic-v0'"], "not a proposer env"),
    (["env='tictactoe-v1'"], "one-seat"),
    (["recipe='dpo'"], "trains with rest-em or reinforce"),
    (["balance.enabled=true"], "balance.enabled = false"),
    (["propose.seed_examples=9"], "propose.seed_examples must be 1..8"),
    (["propose.seed_levels=[1, 2]"], r"propose.seed_examples must be 1..2 \(one problem per seed level\)"),
    (["propose.seed_levels=[0, 9, 1]"], r"propose.seed_levels must be distinct levels of arithmetic-v0 \(1..8\)"),
    (["propose.proposer='nobody'"], "propose.proposer: unknown policy"),
    (["propose.policies='per-role'", "propose.proposer='base'"], "per-role' trains a proposer checkpoint"),
])
def test_a_config_that_cannot_propose_fails_before_any_generation(overrides, message):
    with pytest.raises(SparringError, match=message):
        loop.check_run_config(load_config(None, [*PROPOSE, *overrides]))


@pytest.mark.parametrize("setting, message", [("propose.solver_samples=1", "greater than or equal to 2"),
                                              ("propose.seed_examples=0", "greater than or equal to 1"),
                                              ("propose.solver_band=[0.8, 0.2]", "low <= high")])
def test_settings_that_measure_nothing_are_refused(setting, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [*PROPOSE, setting])


def test_proposal_alarms():
    cfg = AlarmsConfig()
    fine = {"count": 10, "valid": 0.9, "novel": 0.9, "p_hat": 0.5, "rejected": {}}
    assert proposal_alarms(2, fine, cfg) == []
    raised = proposal_alarms(2, {**fine, "valid": 0.2, "novel": 0.1, "p_hat": 0.97, "rejected": {"unparsable": 8}}, cfg)
    assert len(raised) == 3 and "unparsable (8)" in raised[0] and "repeats itself" in raised[1] and "trivial" in raised[2]


TINY = ["rounds=2", "propose.prompts=3", "propose.proposals_per_prompt=2", "propose.solver_samples=2",
        "propose.solver_band=[0.0, 1.0]", "rollout.max_new_tokens=6", "eval.levels=[1, 2]", "eval.problems_per_level=3",
        "eval.max_new_tokens=6", "rest_em.min_reward=-1e9", "rest_em.batch_size=4", "backend.dtype='float32'"]


def test_rounds_of_a_scripted_proposer_train_the_solver_on_its_problems_and_resume_the_same(tmp_path, tiny_model,
                                                                                            monkeypatch):
    cfg = load_config(None, [*PROPOSE, *TINY, "propose.proposer='seed-proposer'", "propose.reward.known_discount=1.0",
                             f"model='{tiny_model}'"])
    run_dir = RunDir.create(tmp_path / "run", cfg)
    history = loop.run(cfg, run_dir, Console(quiet=True))
    store = EpisodeStore(run_dir.episodes_path)
    for r in (1, 2):
        episodes = store.episodes(r, "train")
        assert sum(e.tags["role"] == "proposer" for e in episodes) == 6
        # every seed problem is admitted, answered k = 2 times sampled and once greedily
        assert sum(e.tags["role"] == "solver" and e.tags["sample"] != "greedy" for e in episodes) == 12
        greedy = [e for e in episodes if e.tags.get("sample") == "greedy"]
        assert len(greedy) == 6 and all(e.policies == ("policy-greedy",) for e in greedy)
        assert {e.provenance["policies"]["policy-greedy"]["sampling"]["temperature"] for e in greedy} == {0.0}
        proposals = history[r]["rollout"]["proposals"]
        assert proposals["count"] == 6 and proposals["valid"] == 1.0 and proposals["p_hat"] is not None
        assert proposals["known"] == sum(e.rewards[0] >= 1 for e in greedy) / 6
        assert history[r]["dataset"]["rows"] == 12  # the solver's answers only: a scripted proposer is not trained
    assert history[2]["rollout"]["proposals"]["distinct_so_far"] >= history[1]["rollout"]["proposals"]["distinct_so_far"]
    report = (run_dir.root / "report.html").read_text()
    assert "plot-proposals" in report and "plot-proposal-operations" in report
    table = Console(width=200, record=True)
    table.print(rounds_table(history))
    text = table.export_text()
    assert "proposals valid/novel/learnable %" in text and "100/" in text
    # resume scores round 2 again from the stored episodes, to the same metrics
    stored = json.loads(run_dir.metrics_path(2).read_text())
    run_dir.metrics_path(2).unlink()
    run_dir.close()
    cfg2, run_dir2, _ = loop.start_run(None, tmp_path / "run", [], resume=True)
    monkeypatch.setattr(loop, "run_episodes", lambda *a, **k: pytest.fail("resume played an episode again"))
    resumed = loop.run(cfg2, run_dir2, Console(quiet=True))
    assert resumed[2]["rollout"]["proposals"] == stored["rollout"]["proposals"]


def test_a_model_that_cannot_propose_loses_nothing_and_raises_an_alarm(tmp_path, tiny_model):
    cfg = load_config(None, [*PROPOSE, *TINY, "rounds=1", f"model='{tiny_model}'"])
    run_dir = RunDir.create(tmp_path / "run", cfg)
    history = loop.run(cfg, run_dir, Console(quiet=True))
    proposals = history[1]["rollout"]["proposals"]
    assert proposals["count"] == 6 and proposals["valid"] < 0.5  # a random model writes no admissible expression
    assert any("proposals were admitted" in a for a in history[1]["alarms"])
    assert history[1]["dataset"]["rows"] >= 6 - proposals["valid"] * 6  # its rejected proposals still train (−1 ≥ −1e9)


def test_per_role_gives_the_proposer_and_the_solver_checkpoints_of_their_own_and_judges_the_solver(tmp_path,
                                                                                                   tiny_model):
    from sparring.models.transformers_backend import checkpoint_hash
    from sparring.policies.checkpoints import role_dirs

    cfg = load_config(None, [*PROPOSE, *TINY, "propose.policies='per-role'", f"model='{tiny_model}'"])
    run_dir = RunDir.create(tmp_path / "run", cfg)
    task = make_task(cfg)
    rows = [{"env_id": "propose-arithmetic-v0", "i": 0}, {"env_id": "arithmetic-v0", "i": 1}]
    assert task.training_roles(rows) == {"proposer": rows[:1], "solver": rows[1:]}
    assert make_task(load_config(None, [*PROPOSE, *TINY])).training_roles(rows) is None  # shared: one model
    history = loop.run(cfg, run_dir, Console(quiet=True))
    base = checkpoint_hash(tiny_model)
    hashes = {}
    for r in (1, 2):
        roles = role_dirs(run_dir.checkpoint_path(r))
        assert set(roles) == {"proposer", "solver"}
        hashes[r] = {role: checkpoint_hash(str(path)) for role, path in roles.items()}
    rows1 = Dataset.from_parquet(str(run_dir.dataset_path(1))).to_list()
    assert any(x["env_id"] == "propose-arithmetic-v0" for x in rows1)  # every proposal trains (min_reward -1e9)
    assert hashes[1]["proposer"] != base  # the proposer learnt from its proposals...
    solver_rows = sum(x["env_id"] == "arithmetic-v0" for x in rows1)
    assert (hashes[1]["solver"] != base) == (solver_rows > 0)  # ...and the solver only from its own answers
    # round 2 plays round 1's roles, each with its own checkpoint; the solver's is the one judged
    played = run_dir.store.episodes(2, "train")
    trained = played[0].provenance["policies"]["policy"]
    assert trained["kind"] == "per-role"
    assert {role: p["checkpoint_hash"] for role, p in trained["roles"].items()} == hashes[1]
    judged = run_dir.store.episodes(2, "eval")[0].provenance["policies"]
    assert [p["checkpoint_hash"] for p in judged.values()] == [hashes[2]["solver"]]
    assert history[2]["eval"]["score_name"] == "held-out accuracy"
