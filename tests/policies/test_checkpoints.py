"""A round's model is one checkpoint, or one per role (per-role selfplay and propose): loading and role routing."""

import shutil
from pathlib import Path

import pytest

from sparring.policies.base import RoleRouted
from sparring.policies.checkpoints import load_model, model_dirs, role_dirs, role_model
from sparring.types import Completion, Message, SamplingParams, TurnRequest


class Echo:
    def __init__(self, name):
        self.name, self.calls = name, 0

    def act(self, requests, seeds):
        self.calls += 1
        return [Completion(f"{self.name}:{r.messages[0].content}:{s}", (), "stop") for r, s in zip(requests, seeds)]

    def provenance(self):
        return {"kind": "echo", "name": self.name}


def _request(seat, text, role=None):
    return TurnRequest(seat, (Message("user", text),), role=role)


def test_role_routed_answers_each_request_with_its_roles_policy_in_order():
    a, b = Echo("a"), Echo("b")
    routed = RoleRouted({"seat0": a, "seat1": b})
    answers = routed.act([_request(1, "x"), _request(0, "y"), _request(1, "z")], [7, 8, 9])
    assert [c.text for c in answers] == ["b:x:7", "a:y:8", "b:z:9"]
    assert a.calls == 1 and b.calls == 1  # one batched call per role
    assert routed.provenance() == {"kind": "per-role", "roles": {"seat0": a.provenance(), "seat1": b.provenance()}}
    with pytest.raises(ValueError, match=r"no policy for role\(s\) \['seat2'\]"):
        routed.act([_request(2, "w")], [1])
    # a role the episode names wins over the seat's own: both of propose's roles sit in seat 0
    routed = RoleRouted({"proposer": a, "solver": b})
    answers = routed.act([_request(0, "p", "proposer"), _request(0, "s", "solver")], [1, 2])
    assert [c.text for c in answers] == ["a:p:1", "b:s:2"]


def test_a_per_role_checkpoint_loads_one_backend_per_seat(tmp_path, tiny_model):
    per_role = tmp_path / "checkpoint"
    for seat in (0, 1):
        shutil.copytree(tiny_model, per_role / f"seat{seat}")
    assert role_dirs(per_role) == {"seat0": per_role / "seat0", "seat1": per_role / "seat1"}
    assert role_dirs(tiny_model) == {} and model_dirs(tiny_model) == [Path(tiny_model)]
    assert role_model(str(per_role), "seat1") == str(per_role / "seat1") and role_model(tiny_model, "seat1") == tiny_model
    model = load_model("transformers", str(per_role), dtype="float32")
    assert set(model.backends) == {"seat0", "seat1"}
    with pytest.raises(ValueError, match="per-role"):
        model.backend
    policy = model.policy(SamplingParams(max_new_tokens=2))
    assert isinstance(policy, RoleRouted) and len(policy.act([_request(0, "a"), _request(1, "b")], [1, 2])) == 2
    assert model.role("seat1").backend is model.backends["seat1"]  # one role, as an ordinary model
    single = load_model("transformers", tiny_model, dtype="float32")
    assert set(single.backends) == {None} and single.backend.model_id == tiny_model
    assert single.role("solver").backend is single.backend  # a shared model plays every role


def test_role_dirs_are_ordered_by_seat_number_and_skip_what_is_not_a_checkpoint(tmp_path):
    for name in ("seat10", "seat2", "seat0", "solver"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
    (tmp_path / "seat3").mkdir()  # no weights: not a role
    (tmp_path / "notes.txt").write_text("")
    assert list(role_dirs(tmp_path)) == ["seat0", "seat2", "seat10", "solver"]
    assert model_dirs(tmp_path) == [tmp_path / name for name in ("seat0", "seat2", "seat10", "solver")]
