"""One registry per extension point: lazy "module:attr" entries, no duplicates, helpful misses."""

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


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, id: str, target: str, description: str, **defaults: Any) -> None:
        if id in self._entries:
            raise ValueError(f"{self.kind} {id!r} is already registered (to {self._entries[id].target})")
        if ":" not in target:
            raise ValueError(f"target must look like 'package.module:attribute', got {target!r}")
        self._entries[id] = Entry(id, target, description, dict(defaults))

    def ids(self) -> list[str]:
        return sorted(self._entries)

    def entry(self, id: str) -> Entry:
        try:
            return self._entries[id]
        except KeyError:
            close = difflib.get_close_matches(id, self._entries, n=3, cutoff=0.4)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise UnknownIdError(
                f"unknown {self.kind} {id!r}.{hint} Known: {', '.join(self.ids()) or '(none)'}"
            ) from None

    def load(self, id: str) -> Any:
        module, attr = self.entry(id).target.split(":")
        return getattr(importlib.import_module(module), attr)

    def make(self, id: str, **kwargs: Any) -> T:
        entry = self.entry(id)
        return self.load(id)(**{**entry.defaults, **kwargs})
