"""The engine batches every pending request of a policy into one call and survives broken episodes."""

import pytest

from sparring.engine import EpisodeSpec, run_episodes
from sparring.policies import LLMPolicy
from sparring.store import EpisodeStore
from sparring.types import Completion, SamplingParams


class ScriptedBackend:
    """Answers every prompt with `answer(messages)`; records each call's batch size."""

    def __init__(self, answer):
        self.answer = answer
        self.batches: list[int] = []

    def provenance(self):
        return {"model_id": "scripted", "checkpoint_hash": "none"}

    def generate(self, prompts, params, seeds=None):
        self.batches.append(len(prompts))
        return [[Completion(self.answer(p), (1, 2), "stop")] for p in prompts]


def _seat(backend, **sampling):
    """Policy "p": `backend` with its own sampling parameters."""
    return {"p": LLMPolicy(backend, SamplingParams(**sampling))}


def _solve(messages):
    problem = messages[-1].content.removeprefix("Compute ").split(". End")[0]
    return f"Answer: {eval(problem)}"


def _specs(n, **env_kwargs):
    return [EpisodeSpec(id=f"e{i}", env_id="arithmetic-v0", seed=i, policies=("p",),
                        env_kwargs={"level": 2, **env_kwargs}, tags={"stage": "train"}) for i in range(n)]


PROVENANCE = {"run_id": "test", "round": 1}


def test_one_generate_call_serves_every_episode_in_flight():
    backend = ScriptedBackend(_solve)
    episodes = run_episodes(_specs(50), _seat(backend), PROVENANCE, max_in_flight=64)
    assert backend.batches == [50]
    assert len(episodes) == 50 and all(e.rewards == (1.0,) and e.terminated for e in episodes)


def test_in_flight_limit_refills_as_episodes_finish():
    backend = ScriptedBackend(_solve)
    run_episodes(_specs(50), _seat(backend), PROVENANCE, max_in_flight=20)
    assert backend.batches == [20, 20, 10]


def test_no_episode_in_flight_is_an_error_not_an_empty_round():
    with pytest.raises(ValueError, match="max_in_flight must be at least 1 \\(got 0\\)"):
        run_episodes(_specs(3), _seat(ScriptedBackend(_solve)), PROVENANCE, max_in_flight=0)


def test_multi_turn_episodes_advance_together():
    backend = ScriptedBackend(lambda m: "no idea")
    episodes = run_episodes(_specs(30, max_attempts=3), _seat(backend), PROVENANCE)
    assert backend.batches == [30, 30, 30]  # three turns each, all episodes in every call
    assert all(len(e.turns) == 3 and not any(t.legal for t in e.turns) and e.rewards == (0.0,) for e in episodes)


def test_each_seat_is_served_by_its_own_policy():
    solver, fool = ScriptedBackend(_solve), ScriptedBackend(lambda m: "1")
    specs = [EpisodeSpec(id=f"e{i}", env_id="arithmetic-v0", seed=i, policies=("solver" if i % 2 else "fool",),
                         env_kwargs={"level": 3}, tags={"stage": "train"}) for i in range(10)]
    episodes = run_episodes(specs, {"solver": LLMPolicy(solver, SamplingParams()),
                                    "fool": LLMPolicy(fool, SamplingParams())}, PROVENANCE)
    assert solver.batches == [5] and fool.batches == [5]
    assert {e.id: e.rewards[0] for e in episodes} == {f"e{i}": float(i % 2) for i in range(10)}


def test_an_exception_inside_one_episode_never_kills_the_run(tmp_path):
    backend = ScriptedBackend(lambda m: None if "7" in m[1].content else _solve(m))  # None crashes env.step
    specs = _specs(40) + [EpisodeSpec(id="bad-level", env_id="arithmetic-v0", seed=0, policies=("p",),
                                      env_kwargs={"level": 99}, tags={"stage": "train"})]
    store = EpisodeStore(tmp_path / "episodes.sqlite")
    episodes = run_episodes(specs, _seat(backend), PROVENANCE, store=store)
    by_id = {e.id: e for e in episodes}
    failed = store.failures(1, "train")
    assert len(episodes) == 41 and store.count() + len(failed) == 41  # failures are stored apart
    assert by_id["bad-level"].error.startswith("error in reset") and by_id["bad-level"] in failed
    crashed = [e for e in episodes if e.error.startswith("error in step")]
    assert crashed and all(e.truncated and e.rewards == () and not e.has_outcome for e in crashed)
    assert {e.id for e in failed} == {e.id for e in crashed} | {"bad-level"}
    assert sum(e.rewards[0] for e in episodes if e.has_outcome) == 40 - len(crashed)


def test_episodes_carry_provenance_and_call_seeds(tmp_path):
    store = EpisodeStore(tmp_path / "episodes.sqlite")
    run_episodes(_specs(3), {"p": LLMPolicy(ScriptedBackend(_solve), SamplingParams(temperature=0.7))}, PROVENANCE,
                 seed=4, store=store)
    (episode, *_) = store.episodes(1, "train")
    assert episode.provenance["run_id"] == "test" and episode.provenance["round"] == 1
    (policy,) = episode.provenance["policies"].values()
    assert policy["sampling"]["temperature"] == 0.7 and policy["model_id"] == "scripted"
    assert policy["checkpoint_hash"] == "none" and episode.turns[0].info["seed"] is not None
    assert episode.env_id == "arithmetic-v0" and episode.env_version == 0
    assert episode.turns[0].info["seed"] is not None


def test_episodes_of_one_stream_meet_the_same_seeds():
    # every round's evaluation game g shares a stream: the opponent's dice do not change with the round
    policies = {"p": LLMPolicy(ScriptedBackend(_solve), SamplingParams(temperature=0.7))}
    specs = [EpisodeSpec(id=f"r{r}/e", env_id="arithmetic-v0", seed=0, policies=("p",), stream=stream)
             for r, stream in ((1, "eval/0"), (2, "eval/0"), (3, None))]
    seeds = {e.id: e.turns[0].info["seed"] for e in run_episodes(specs, policies, PROVENANCE, seed=4)}
    assert seeds["r1/e"] == seeds["r2/e"] != seeds["r3/e"]


def test_real_backend_serves_many_episodes_in_one_call(tiny_backend):
    before = tiny_backend.generate_calls
    episodes = run_episodes(_specs(24), {"p": LLMPolicy(tiny_backend, SamplingParams(max_new_tokens=4))}, PROVENANCE,
                            seed=0)
    assert tiny_backend.generate_calls - before == 1
    assert len(episodes) == 24 and all(e.terminated or e.truncated for e in episodes)


class FailingBackend(ScriptedBackend):
    """Raises on the calls whose number is in `failing` (counting from 0)."""

    def __init__(self, answer, failing):
        super().__init__(answer)
        self.failing = failing

    def generate(self, prompts, params, seeds=None):
        call = len(self.batches)
        self.batches.append(len(prompts))
        if call in self.failing:
            raise RuntimeError("backend crashed")
        return [[Completion(self.answer(p), (1, 2), "stop")] for p in prompts]


def test_a_failing_generate_call_fails_only_the_episodes_it_served(tmp_path):
    store = EpisodeStore(tmp_path / "episodes.sqlite")
    backend = FailingBackend(_solve, failing={1})
    episodes = run_episodes(_specs(30), _seat(backend), PROVENANCE, store=store, max_in_flight=10)
    failed = [e for e in episodes if e.error]
    assert len(episodes) == 30 and len(failed) == 10 and failed[0].error == "error in policy p: RuntimeError: backend crashed"
    assert store.count() == 20 and len(store.failures(1, "train")) == 10
    # a resumed run plays the failed episodes again; played ones are never repeated
    todo = [s for s in _specs(30) if s.id not in store.ids(1, "train")]
    run_episodes(todo, _seat(ScriptedBackend(_solve)), PROVENANCE, store=store)
    assert store.count() == 30 and store.failures(1, "train") == []


def test_a_completion_with_an_error_fails_its_episode_alone(tmp_path):
    class OneRowFails(ScriptedBackend):  # a served model whose request for one row failed
        def generate(self, prompts, params, seeds=None):
            answers = super().generate(prompts, params, seeds)
            answers[1] = [Completion("", (), "error", error="the server answered an empty completion")]
            return answers

    store = EpisodeStore(tmp_path / "episodes.sqlite")
    episodes = run_episodes(_specs(4), _seat(OneRowFails(_solve)), PROVENANCE, store=store)
    failed = [e for e in episodes if e.error]
    assert [e.id for e in failed] == ["e1"] and failed[0].turns == [] and not failed[0].has_outcome
    assert failed[0].error == "error in policy p: the server answered an empty completion"
    assert store.count() == 3 and [e.id for e in store.failures(1, "train")] == ["e1"]


def test_more_failures_than_the_ceiling_stop_the_rollout(tmp_path):
    from sparring.engine import TooManyFailures

    backend = ScriptedBackend(lambda m: None)  # every step raises inside the env
    with pytest.raises(TooManyFailures, match="6 episodes failed, more than the 5 allowed.*error in step"):
        run_episodes(_specs(30), _seat(backend), PROVENANCE, max_in_flight=4, max_failures=5)


@pytest.mark.parametrize("output", ["", " " * 70_000, "Answer: 1" * 8_000, "🙂" * 30_000])
def test_empty_or_enormous_outputs_are_illegal_or_wrong_never_errors(output):
    episodes = run_episodes(_specs(4), _seat(ScriptedBackend(lambda m: output)), PROVENANCE)
    assert all(e.has_outcome and e.rewards == (0.0,) for e in episodes)


def test_the_turn_cap_cuts_an_episode_without_an_outcome():
    episodes = run_episodes(_specs(3, max_attempts=50), _seat(ScriptedBackend(lambda m: "no")),
                            PROVENANCE, max_turns=4)
    assert all(len(e.turns) == 4 and e.truncated and e.rewards == () and not e.has_outcome and not e.error
               for e in episodes)
    assert episodes[0].end_reason == "cut at the cap of 4 turns"


def test_no_episode_starts_once_the_token_budget_is_spent():
    backend = ScriptedBackend(_solve)  # 2 tokens per completion
    episodes = run_episodes(_specs(40), _seat(backend), PROVENANCE, max_in_flight=10, max_tokens=30)
    assert backend.batches == [10, 10] and len(episodes) == 20  # 20 tokens after the first call, 40 after the second


def test_a_completion_depends_on_its_episode_and_turn_not_on_its_batch(tiny_backend):
    policy = {"p": LLMPolicy(tiny_backend, SamplingParams(temperature=1.0, max_new_tokens=8))}
    together = {e.id: e for e in run_episodes(_specs(12, max_attempts=2), policy, PROVENANCE, seed=3)}
    apart = run_episodes(_specs(12, max_attempts=2)[5:8], policy, PROVENANCE, seed=3, max_in_flight=1)
    for e in apart:
        assert [t.completion.token_ids for t in e.turns] == [t.completion.token_ids for t in together[e.id].turns]
    assert len({e.turns[0].completion.token_ids for e in together.values()}) > 1


def test_the_stored_round_does_not_depend_on_how_many_episodes_are_in_flight(tiny_backend, tmp_path):
    """Refilling starts episodes at other times in other batches; the store must hold the same round."""
    policy = {"p": LLMPolicy(tiny_backend, SamplingParams(temperature=1.0, max_new_tokens=6))}
    games = [EpisodeSpec(id=f"g{i}", env_id="tictactoe-v1", seed=i, policies=("p", "p"), tags={"stage": "train"})
             for i in range(24)]
    stored = {}
    for in_flight in (8, 64):
        store = EpisodeStore(tmp_path / f"{in_flight}.sqlite")
        run_episodes(games + _specs(24, max_attempts=2), policy, PROVENANCE, seed=5, store=store,
                     max_in_flight=in_flight)
        stored[in_flight] = {e.id: ([(t.seat, t.completion.token_ids, t.legal) for t in e.turns], e.rewards, e.end_reason)
                             for e in store.episodes(1, "train")}
    assert len(stored[8]) == 48 and stored[8] == stored[64]
    assert len({turns[0][1] for turns, *_ in stored[8].values()}) > 1


def test_a_spec_names_the_role_each_seat_plays_in_every_turn_of_its_episode():
    class Roles:
        seen: list = []

        def act(self, requests, seeds):
            self.seen.extend(r.role for r in requests)
            return [Completion("no idea", (1,), "stop") for _ in requests]

        def provenance(self):
            return {"kind": "roles"}

    specs = [EpisodeSpec(id=f"e{i}", env_id="arithmetic-v0", seed=i, policies=("p",), roles=roles,
                         env_kwargs={"level": 1, "max_attempts": 2}) for i, roles in enumerate([("solver",), None])]
    policy = Roles()
    run_episodes(specs, {"p": policy}, PROVENANCE)
    assert sorted(policy.seen, key=str) == [None, None, "solver", "solver"]  # both turns; None: the seat's own
