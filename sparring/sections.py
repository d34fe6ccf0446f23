"""The base of every config section, core or recipe: strict values, unknown keys refused, and what
each key shapes, so a resumed run knows which keys it may still change."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

# What stored work a key's value shapes: "all" (every episode, dataset and checkpoint), one stage
# ("rollout", "build", "train", "eval"), or None (it changes only speed, safety limits or run length).
Shapes = str | None


class Section(BaseModel):
    """Unknown keys fail; values keep their TOML type (`true` is not 1, "3" is not 3)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    shapes: ClassVar[Shapes] = "all"  # for every key of the section...
    shapes_by_key: ClassVar[dict[str, Shapes]] = {}  # ...except these
