"""Loading a round's model: one checkpoint, or one per role.

A per-role checkpoint (the selfplay recipe with `policies = "per-role"`) is a directory holding one
ordinary checkpoint per seat, `seat0/`, `seat1/`, ...: each role has its own trained weights, and
its policy answers each seat with that seat's model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sparring.models import load_backend
from sparring.models.base import Backend
from sparring.policies.base import LLMPolicy, Policy, SeatRouted
from sparring.types import SamplingParams


def role_dirs(model: str | Path) -> dict[int, Path]:
    """{seat: checkpoint} of a per-role checkpoint; {} for an ordinary checkpoint or a hub id."""
    path = Path(model)
    if not path.is_dir() or (path / "config.json").exists():
        return {}
    roles = {int(d.name.removeprefix("seat")): d for d in path.glob("seat*")
             if d.name.removeprefix("seat").isdigit() and (d / "config.json").exists()}
    return dict(sorted(roles.items()))  # by seat number: seat10 after seat2


def model_dirs(model: str | Path) -> list[Path]:
    """Every ordinary checkpoint a model is made of: itself, or its roles' checkpoints."""
    return list(role_dirs(model).values()) or [Path(model)]


def role_model(model: str, seat: int) -> str:
    """The checkpoint seat `seat` starts from: its own role's in a per-role checkpoint, else `model`."""
    roles = role_dirs(model)
    return str(roles[seat]) if seat in roles else model


@dataclass
class Model:
    """A loaded model: one backend shared by every seat, or one backend per role."""

    backends: dict[int | None, Backend]  # None: every seat

    @property
    def backend(self) -> Backend:
        if None not in self.backends:
            raise ValueError("a per-role model has one backend per seat; ask for a seat's policy instead")
        return self.backends[None]

    def backend_of(self, seat: int) -> Backend:
        """The backend that plays `seat`: the shared one, or the seat's role's."""
        return self.backends[None] if None in self.backends else self.backends[seat]

    def policy(self, sampling: SamplingParams) -> Policy:
        if None in self.backends:
            return LLMPolicy(self.backends[None], sampling)
        return SeatRouted({seat: LLMPolicy(b, sampling) for seat, b in self.backends.items()})


def load_model(backend: str, model: str, **kwargs) -> Model:
    roles = role_dirs(model)
    if roles:
        return Model({seat: load_backend(backend, str(path), **kwargs) for seat, path in roles.items()})
    return Model({None: load_backend(backend, model, **kwargs)})
