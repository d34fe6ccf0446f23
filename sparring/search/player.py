"""A search-backed player: `mcts(<player>)` searches from each position it is asked about and plays the
most visited move, so "the model plus search at play time" is seated and rated beside the bare model.

`mcts` alone (a registered scripted player) searches by the rules only: uniform priors and random
rollouts. `mcts(<checkpoint>)` (`mcts(policy)`, `mcts(base)`, `mcts(round-2)`) takes its priors from
that model's log-probabilities of the legal moves. At play time the root gets no Dirichlet noise.
"""

from __future__ import annotations

import re
import secrets
from typing import Any, Sequence

from sparring.policies.scripted import scripted_completion
from sparring.search.mcts import Priors, SearchConfig, search, uniform_priors
from sparring.types import Completion, TurnRequest

_SEARCHED = re.compile(r"^mcts\((.+)\)$")


def searched_player(name: str) -> str | None:
    """The player whose priors `mcts(<player>)` searches with; None for any other name."""
    found = _SEARCHED.match(name)
    return found.group(1) if found else None


class SearchPlayer:
    def __init__(self, cfg: SearchConfig | None = None, priors: Priors | None = None, priors_from: str = "rules"):
        self.cfg = (cfg or SearchConfig()).model_copy(update={"dirichlet_fraction": 0.0})
        self.priors = priors or uniform_priors
        self.priors_from = priors_from

    def act(self, requests: Sequence[TurnRequest], seeds: Sequence[int] | None) -> list[Completion]:
        seeds = list(seeds) if seeds is not None else [secrets.randbits(63) for _ in requests]
        return [scripted_completion(found.best()) for found in search(requests, self.cfg, self.priors, seeds)]

    def provenance(self) -> dict[str, Any]:
        cfg = self.cfg
        return {"kind": "search", "name": "mcts" if self.priors_from == "rules" else f"mcts({self.priors_from})",
                "priors_from": self.priors_from, "simulations": cfg.simulations, "c_puct": cfg.c_puct,
                "rollout": cfg.rollout}
