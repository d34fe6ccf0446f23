"""Loading a round's model: one checkpoint, or one per role.

A per-role checkpoint is a directory holding one ordinary checkpoint per role: `seat0/`, `seat1/`, ...
for the selfplay recipe with `policies = "per-role"` (every seat of a game is a role), `proposer/` and
`solver/` for task 'propose' with `propose.policies = "per-role"`. Each role has its own trained
weights, and its policy answers each request with the model of the request's role (the engine stamps
it from the episode spec: sparring/engine.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from sparring.ratings import SERVED
from sparring.models import load_backend
from sparring.models.openai_backend import ServerConfig
from sparring.models.base import Backend
from sparring.policies.base import LLMPolicy, Policy, RoleRouted
from sparring.types import SamplingParams

if TYPE_CHECKING:
    from sparring.config import RunConfig


def _natural(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def role_dirs(model: str | Path) -> dict[str, Path]:
    """{role: checkpoint} of a per-role checkpoint; {} for an ordinary checkpoint or a hub id."""
    path = Path(model)
    if not path.is_dir() or (path / "config.json").exists():
        return {}
    roles = sorted((d for d in path.iterdir() if d.is_dir() and (d / "config.json").exists()),
                   key=lambda d: _natural(d.name))  # seat10 after seat2
    return {d.name: d for d in roles}


def model_dirs(model: str | Path) -> list[Path]:
    """Every ordinary checkpoint a model is made of: itself, or its roles' checkpoints."""
    return list(role_dirs(model).values()) or [Path(model)]


def role_model(model: str, role: str) -> str:
    """The checkpoint role `role` starts from: its own in a per-role checkpoint, else `model`."""
    roles = role_dirs(model)
    return str(roles[role]) if role in roles else model


@dataclass
class Model:
    """A loaded model: one backend shared by every role, or one backend per role."""

    backends: dict[str | None, Backend]  # None: every role

    @property
    def backend(self) -> Backend:
        if None not in self.backends:
            raise ValueError("a per-role model has one backend per role; ask for a role's policy instead")
        return self.backends[None]

    def backend_of(self, role: str) -> Backend:
        """The backend that plays `role`: the shared one, or the role's own."""
        return self.backends[None] if None in self.backends else self.backends[role]

    def role(self, role: str) -> Model:
        """The model that plays `role`, as an ordinary model (a per-role model's one role)."""
        return Model({None: self.backend_of(role)})

    def policy(self, sampling: SamplingParams) -> Policy:
        if None in self.backends:
            return LLMPolicy(self.backends[None], sampling)
        return RoleRouted({role: LLMPolicy(b, sampling) for role, b in self.backends.items()})


def served_model(servers: Mapping[str, ServerConfig], name: str) -> Model:
    """The model the player `served:<name>` is: the endpoint of [servers.<name>]."""
    return Model({None: load_backend("openai", SERVED + name, server=servers[name], where=f"servers.{name}")})


def load_model(backend: str, model: str, **kwargs) -> Model:
    roles = role_dirs(model)
    if roles:
        return Model({role: load_backend(backend, str(path), **kwargs) for role, path in roles.items()})
    return Model({None: load_backend(backend, model, **kwargs)})


def load_run_model(cfg: RunConfig, model: str, dtype: str) -> Model:
    """`model` (a hub id, a checkpoint, a per-role checkpoint) on the run's backend."""
    options = {"vllm": cfg.vllm} if cfg.backend.name == "vllm" else {}
    return load_model(cfg.backend.name, model, dtype=dtype, batch_size=cfg.backend.batch_size, **options)
