"""One registry per extension point: lazy "module:attr" entries, no duplicates, helpful misses.

**Plugins.** Each registry also reads the Python entry points of its group (`sparring.envs`,
`sparring.recipes`, `sparring.policies`, `sparring.tasks`, `sparring.backends`, `sparring.selections`,
`sparring.trackers`):
an installed package that declares `my-env-v0 = "mypkg.envs:MyEnv"` there adds the id `my-env-v0`. A
plugin is imported when the registry is first asked for its ids, so one that fails to import, or
claims an id already taken, is left out with its problem recorded (`problems`, which the CLI prints as
warnings, and which an error naming that id repeats); the built-ins and the other plugins still work.
Code that is not packaged is named by its target directly, as an id: `env = "mypkg.envs:MyEnv"`
(imported from the working directory too, as `python -m` would).

A family registers many ids under one prefix at once (`reasoning-gym/<task>`): its module lists its
members (`members()`, which may need an optional package) and makes each (`load(member)`). Families
are not in `ids()`: listing them imports their package, and the suites that walk every id cover a
family through its own tests.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sparring.errors import SparringError, UnknownIdError

T = TypeVar("T")


BUILT_IN, IMPORT_PATH = "built-in", "import path named in the config"  # an Entry's origin, or "plugin package NAME"


@dataclass(frozen=True)
class Entry:
    id: str
    target: str  # "package.module:attribute", imported only when first used
    description: str
    defaults: dict[str, Any] = field(default_factory=dict)
    member: str | None = None  # set for a member of a family: its name within the family
    origin: str = BUILT_IN


@dataclass(frozen=True)
class Family:
    prefix: str  # every id that starts with it is one of the family's members
    module: str  # "package.module" with members() -> list[str] and load(member)
    description: str
    example: str  # the member the harnesses run for the whole family


_TARGET = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


def _import_target(target: str) -> Any:
    module, attr = target.split(":")
    loaded = importlib.import_module(module)
    for part in attr.split("."):
        loaded = getattr(loaded, part)
    return loaded


def _summary(obj: Any) -> str:
    return ((getattr(obj, "__doc__", None) or "").strip().splitlines() or [""])[0]


class Registry(Generic[T]):
    created: list[Registry] = []  # every registry, for plugin_problems

    def __init__(self, kind: str, group: str):
        Registry.created.append(self)
        self.kind = kind
        self.group = group  # the entry-point group plugins register under
        self._entries: dict[str, Entry] = {}
        self._families: dict[str, Family] = {}
        self._plugins_read = False
        self.problems: dict[str, str] = {}  # id -> why its plugin was left out

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

    def _read_plugins(self) -> None:
        """Register the entry points of this registry's group, once, after the built-ins."""
        if self._plugins_read:
            return
        self._plugins_read = True
        for point in importlib.metadata.entry_points(group=self.group):
            package = point.dist.name if point.dist is not None else "an unknown package"
            origin = f"plugin package {package}"
            where = f"{self.kind} {point.name!r} from {origin} ({self.group}: {point.name} = {point.value!r})"
            if point.name in self._entries or point.name in self.problems:
                taken = self._entries.get(point.name)
                self.problems.setdefault(point.name, f"{where} is left out: the id is already registered"
                                         + (f" ({taken.origin}, {taken.target})" if taken else ""))
                continue
            if not _TARGET.fullmatch(point.value):
                self.problems[point.name] = f"{where} is left out: its target must look like 'package.module:attribute'"
                continue
            try:
                loaded = _import_target(point.value)
            except Exception as e:  # a plugin's own bug: never the registry's, never the run's
                self.problems[point.name] = f"{where} is left out: importing it failed: {type(e).__name__}: {e}"
                continue
            self._entries[point.name] = Entry(point.name, point.value, _summary(loaded), origin=origin)

    def ids(self) -> list[str]:
        self._read_plugins()
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
        self._read_plugins()
        if id in self._entries:
            return self._entries[id]
        if id in self.problems:
            raise UnknownIdError(self.problems[id])
        if ":" in id:
            return self._target_entry(id)
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

    def _target_entry(self, target: str) -> Entry:
        """An id that is an import path, "package.module:attribute": the code it names, imported now."""
        if not _TARGET.fullmatch(target):
            raise UnknownIdError(f"{self.kind} {target!r} looks like an import path but is not one: write "
                                 "'package.module:attribute' (one colon, dotted names)")
        if "" not in sys.path:  # a module beside the config, as `python -m` would find it
            sys.path.append("")
        try:
            loaded = _import_target(target)
        except (ImportError, AttributeError) as e:
            raise SparringError(f"cannot import the {self.kind} {target!r}: {type(e).__name__}: {e} (is its package "
                                "installed, or its module in the working directory?)") from None
        return Entry(target, target, _summary(loaded), origin=IMPORT_PATH)

    def load(self, id: str) -> Any:
        entry = self.entry(id)
        loaded = _import_target(entry.target)
        return loaded if entry.member is None else loaded(entry.member)

    def make(self, id: str, **kwargs: Any) -> T:
        entry = self.entry(id)
        return self.load(id)(**{**entry.defaults, **kwargs})


def plugin_problems() -> list[str]:
    """Why each plugin that every registry left out was left out (reading them all now)."""
    for module in ("curate", "envs", "models", "policies", "recipes", "tasks", "trackers"):  # each makes its registry
        importlib.import_module(f"sparring.{module}")
    for registry in Registry.created:
        registry.ids()
    return [problem for registry in Registry.created for problem in registry.problems.values()]
