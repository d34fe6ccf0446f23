"""The small typed core every stage speaks: messages, sampling, completions, turns and episodes."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.8  # 0 means greedy decoding
    top_k: int = 50  # 0 means no top-k cut
    top_p: float = 1.0
    max_new_tokens: int = 64
    n: int = 1
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True)
class Completion:
    text: str
    token_ids: tuple[int, ...]
    finish_reason: str  # "stop" (end of sequence or stop string), "length", or "error"
    error: str = ""  # why the backend has no answer for this row (a served model's failed request): the episode fails


@dataclass(frozen=True)
class CompletionLogprobs:
    """A given completion scored by a model (`Backend.logprobs`): sampling keeps no scores, since
    per-token scores during sampling cost batch x vocab x steps memory."""

    token_ids: tuple[int, ...]  # the completion as a chat model is trained on it: the end-of-turn tokens included
    per_token: tuple[float, ...]  # log p(token | prompt, the tokens before it)

    @property
    def total(self) -> float:
        return sum(self.per_token)


@dataclass(frozen=True)
class TurnRequest:
    """Whose seat is to act, the messages that seat sees, and its legal actions where the env can list them."""

    seat: int
    messages: tuple[Message, ...]
    legal_actions: tuple[str, ...] | None = None
    state: Any = None  # a game's structured view for scripted players (hashable); models read the messages
    # A copy of the env as it stands at this request, for tree search (sparring/search), which plays
    # moves on copies of it. It holds what the seat cannot see (the other hand in poker): a search
    # draws that afresh (`determinize`) before it looks. None where the env cannot be copied.
    position: Any = field(default=None, compare=False, repr=False)
    # The role this seat plays, for a per-role model (sparring/policies/checkpoints.py): set by the engine
    # from the episode spec's `roles`; None is the seat's own role (seat0, seat1, ...).
    role: str | None = None


@dataclass(frozen=True)
class StepResult:
    """What an env answers to an action: the next request, or the end with rewards per seat."""

    next_request: TurnRequest | None
    rewards: tuple[float, ...]
    terminated: bool = False
    truncated: bool = False
    legal: bool = True
    reason: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated


@dataclass
class Turn:
    seat: int
    prompt: tuple[Message, ...]
    completion: Completion
    legal: bool
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Episode:
    id: str
    env_id: str
    env_version: int
    seed: int
    policies: tuple[str, ...]  # policy id per seat
    turns: list[Turn] = field(default_factory=list)
    rewards: tuple[float, ...] = ()
    terminated: bool = False
    truncated: bool = False
    end_reason: str = ""
    error: str = ""  # set when an exception (env, backend) ended the episode: a failure, not an outcome
    info: dict[str, Any] = field(default_factory=dict)  # env facts (e.g. difficulty level, answer)
    tags: dict[str, Any] = field(default_factory=dict)  # what the round asked for (stage, sample index)
    provenance: dict[str, Any] = field(default_factory=dict)  # run, round, model, sampling, code version

    @property
    def has_outcome(self) -> bool:
        """Ended by the env's rules with rewards; not a failure, nor cut short by a turn or token cap."""
        return bool(self.rewards) and not self.error

    def seats_of(self, policy_id: str) -> list[int]:
        """The seats `policy_id` played in this episode."""
        return [seat for seat, policy in enumerate(self.policies) if policy == policy_id]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Episode:
        turns = [
            Turn(
                seat=t["seat"],
                prompt=tuple(Message(**m) for m in t["prompt"]),
                completion=Completion(**{**t["completion"], "token_ids": tuple(t["completion"]["token_ids"])}),
                legal=t["legal"],
                info=t["info"],
            )
            for t in d["turns"]
        ]
        return cls(**{**d, "turns": turns, "policies": tuple(d["policies"]), "rewards": tuple(d["rewards"])})


def id_order(episode_id: str) -> list:
    """Sort key of episode ids with their numbers compared as numbers: 'r1/train/10' after 'r1/train/9'."""
    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", episode_id)]
