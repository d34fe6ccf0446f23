"""One registry per extension point: lazy "module:attr" entries, no duplicates, helpful misses.

A family registers many ids under one prefix at once (`reasoning-gym/<task>`): its module lists its
members (`members()`, which may need an optional package) and makes each (`load(member)`). Families
are not in `ids()`: listing them imports their package, and the suites that walk every id cover a
family through its own tests.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sparring.errors import UnknownIdError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    id: str
    target: str  # "package.module:attribute", imported only when first used
    description: str
    defaults: dict[str, Any] = field(default_factory=dict)
    member: str | None = None  # set for a member of a family: its name within the family


@dataclass(frozen=True)
class Family:
    prefix: str  # every id that starts with it is one of the family's members
    module: str  # "package.module" with members() -> list[str] and load(member)
    description: str
    example: str  # the member the harnesses run for the whole family


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        self._families: dict[str, Family] = {}

    def register(self, id: str, target: str, description: str, **defaults: Any) -> None:
        if id in self._entries:
            raise ValueError(f"{self.kind} {id!r} is already registered (to {self._entries[id].target})")
        if ":" not in target:
            raise ValueError(f"target must look like 'package.module:attribute', got {target!r}")
        self._entries[id] = Entry(id, target, description, dict(defaults))

    def register_family(self, prefix: str, module: str, description: str, example: str) -> None:
        if any(prefix.startswith(p) or p.startswith(prefix) for p in self._families):
            raise ValueError(f"{self.kind} family {prefix!r} overlaps one already registered")
        self._families[prefix] = Family(prefix, module, description, example)

    def ids(self) -> list[str]:
        return sorted(self._entries)

    def representatives(self) -> list[str]:
        """Every registered id and one member of each family: what the fuzz and kill harnesses walk."""
        return [*self.ids(), *(f.prefix + f.example for f in self.families())]

    def families(self) -> list[Family]:
        return [self._families[p] for p in sorted(self._families)]

    def members(self, family: Family) -> list[str]:
        """The family's ids (importing its package: an error naming the install where it is missing)."""
        return [family.prefix + name for name in importlib.import_module(family.module).members()]

    def entry(self, id: str) -> Entry:
        if id in self._entries:
            return self._entries[id]
        family = next((f for p, f in self._families.items() if id.startswith(p)), None)
        known = self.members(family) if family else self.ids()
        if family and id in known:
            return Entry(id, f"{family.module}:load", family.description, member=id[len(family.prefix):])
        close = difflib.get_close_matches(id, known, n=3, cutoff=0.4)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        if family:
            raise UnknownIdError(f"unknown {self.kind} {id!r}.{hint} {family.prefix}<name> is one of {len(known)} "
                                 f"(`sparring envs` lists them)")
        everything = [*known, *(f"{f.prefix}<name>" for f in self.families())]
        raise UnknownIdError(f"unknown {self.kind} {id!r}.{hint} Known: {', '.join(everything) or '(none)'}")

    def load(self, id: str) -> Any:
        entry = self.entry(id)
        module, attr = entry.target.split(":")
        loaded = getattr(importlib.import_module(module), attr)
        return loaded if entry.member is None else loaded(entry.member)

    def make(self, id: str, **kwargs: Any) -> T:
        entry = self.entry(id)
        return self.load(id)(**{**entry.defaults, **kwargs})
