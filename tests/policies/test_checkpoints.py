"""A round's model is one checkpoint, or one per role (per-role selfplay): loading and seat routing."""

import shutil
from pathlib import Path

import pytest

from sparring.policies.base import SeatRouted
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


def _request(seat, text):
    return TurnRequest(seat, (Message("user", text),))


def test_seat_routed_answers_each_request_with_its_seats_policy_in_order():
    a, b = Echo("a"), Echo("b")
    routed = SeatRouted({0: a, 1: b})
    answers = routed.act([_request(1, "x"), _request(0, "y"), _request(1, "z")], [7, 8, 9])
    assert [c.text for c in answers] == ["b:x:7", "a:y:8", "b:z:9"]
    assert a.calls == 1 and b.calls == 1  # one batched call per seat
    assert routed.provenance() == {"kind": "per-role", "seats": {"0": a.provenance(), "1": b.provenance()}}
    with pytest.raises(ValueError, match=r"no policy for seat\(s\) \[2\]"):
        routed.act([_request(2, "w")], [1])


def test_a_per_role_checkpoint_loads_one_backend_per_seat(tmp_path, tiny_model):
    per_role = tmp_path / "checkpoint"
    for seat in (0, 1):
        shutil.copytree(tiny_model, per_role / f"seat{seat}")
    assert role_dirs(per_role) == {0: per_role / "seat0", 1: per_role / "seat1"}
    assert role_dirs(tiny_model) == {} and model_dirs(tiny_model) == [Path(tiny_model)]
    assert role_model(str(per_role), 1) == str(per_role / "seat1") and role_model(tiny_model, 1) == tiny_model
    model = load_model("transformers", str(per_role), dtype="float32")
    assert set(model.backends) == {0, 1}
    with pytest.raises(ValueError, match="per-role"):
        model.backend
    policy = model.policy(SamplingParams(max_new_tokens=2))
    assert isinstance(policy, SeatRouted) and len(policy.act([_request(0, "a"), _request(1, "b")], [1, 2])) == 2
    single = load_model("transformers", tiny_model, dtype="float32")
    assert set(single.backends) == {None} and single.backend.model_id == tiny_model


def test_role_dirs_are_ordered_by_seat_number_and_skip_what_is_not_a_seat(tmp_path):
    for name in ("seat10", "seat2", "seat0", "seatx", "notes"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
    (tmp_path / "seat3").mkdir()  # no weights: not a role
    assert list(role_dirs(tmp_path)) == [0, 2, 10]
    assert model_dirs(tmp_path) == [tmp_path / "seat0", tmp_path / "seat2", tmp_path / "seat10"]
