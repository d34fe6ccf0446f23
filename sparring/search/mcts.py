"""Monte Carlo tree search with PUCT over env positions: many trees advance together.

A tree's root is a position (a copy of the env at a seat's turn, `TurnRequest.position`). Each
simulation walks down from a fresh copy of it (for a hidden-information game, a copy with what the
searching seat cannot see drawn afresh: `determinize`), choosing at every node the move of highest

    Q(s,a) + c · P(s,a) · √max(N(s), 1) / (1 + N(s,a))

(AlphaZero's PUCT; √max(N, 1) lets the priors order the first visit), until it reaches a node it has
not expanded or the end of the game. An end scores the outcome; a new node asks for its priors over
the legal moves and is valued by a rollout to the end (random legal moves, or moves sampled from the
policy's priors) or at 0 (`rollout = "none"`). The value, one number per seat scaled to [-1, 1] by
the env's reward range, is backed up along the path: each edge adds the value of the seat that moved
there, so Q(s,a) is always from the mover's view. Every tree in flight contributes its leaf to one
batched priors call per simulation (and one per rollout ply), so an LLM scores the legal moves of all
pending positions at once.

A node is what its mover sees, not the move sequence alone: a child is keyed by the move and the next
request's `state` (the mover's view). In a game of perfect information that is one child per move, as
usual; in Kuhn poker the other seat's nodes split by the card it holds in the simulation, so it plays
its own card. Keyed by moves alone, its nodes averaged over the cards it might hold, as if it did not
know its own: the search's first seat then bet with a Q (a J folds, a K calls, worth −0.5 chip against
the equilibrium where checking is worth +0.17). What stays weak: the other seat's nodes are only ever
reached with the searching seat's true card, so they play as if they knew it (no bluff pays against
them) — moves the equilibrium is indifferent between can tie, and the search never bluffs.

The visit counts at the root give the search's policy, π(a) ∝ N(a)^(1/τ): the training target of
expert iteration and, at τ → 0, the move a search-backed player makes.

Written here rather than taken from a library: OpenSpiel's and mctx's searches run their own game
representations, and ours must batch an LLM's priors across trees and play our envs' own rules.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Sequence

from pydantic import Field

from sparring.errors import SparringError
from sparring.sections import Section
from sparring.types import TurnRequest

# Priors over each request's legal moves, one list per request, in the order of `legal_actions`.
Priors = Callable[[Sequence[TurnRequest]], list[list[float]]]


class SearchConfig(Section):
    """[search]: the tree search of expert iteration's targets and of `mcts(...)` players."""

    shapes = "all"

    simulations: int = Field(100, ge=1, description="simulations per searched position")
    c_puct: float = Field(1.5, ge=0, description="PUCT's exploration weight c")
    dirichlet_alpha: float = Field(0.3, gt=0, description="the root's Dirichlet noise concentration (AlphaZero: 0.3 "
                                                         "for chess, 0.03 for Go: larger for fewer moves)")
    dirichlet_fraction: float = Field(0.25, ge=0, le=1, description="share of the root's priors replaced by noise "
                                                                    "(0: none)")
    rollout: Literal["random", "policy", "none"] = Field(
        "random", description="a new node's value: a rollout of random legal moves, of moves drawn from the "
                              "priors, or none (0 until the game's end is reached)")
    priors: Literal["uniform", "policy"] = Field(
        "uniform", description="uniform: rules-only search; policy: the softmax of each legal move's summed token "
                               "log-probability after the position's prompt")
    temperature: float = Field(1.0, ge=0, description="visit temperature tau of the target pi(a) ~ N(a)^(1/tau); 0: "
                                                      "the most visited move")


@dataclass
class Node:
    """A position reached in the tree: its seat to act and legal moves with their edge statistics,
    or the end of the game."""

    seat: int = -1
    moves: tuple[str, ...] = ()
    priors: list[float] = field(default_factory=list)
    visits: list[int] = field(default_factory=list)
    value_sums: list[float] = field(default_factory=list)  # per move, from the mover's (this node's seat's) view
    # keyed by the move and what the next mover sees (`TurnRequest.state`): one child per move in a
    # game of perfect information; in poker, one per card the other seat may hold
    children: dict[tuple[int, Any], Node] = field(default_factory=dict)
    terminal: bool = False  # the game is over here (its outcome may differ between determinizations)
    expanded: bool = False

    def q(self) -> list[float]:
        return [w / n if n else 0.0 for w, n in zip(self.value_sums, self.visits)]


@dataclass(frozen=True)
class SearchResult:
    """What a search found at its root: the seat to act, its legal moves, their priors, visit counts
    and values (mover's view, in [-1, 1])."""

    seat: int
    moves: tuple[str, ...]
    priors: tuple[float, ...]
    visits: tuple[int, ...]
    q: tuple[float, ...]

    def target(self, temperature: float) -> list[float]:
        return visit_target(self.visits, temperature)

    def best(self) -> str:
        return self.moves[max(range(len(self.moves)), key=lambda i: (self.visits[i], self.q[i]))]


# --- pure pieces ------------------------------------------------------------------------------------
def puct_scores(q: Sequence[float], visits: Sequence[int], priors: Sequence[float], c: float) -> list[float]:
    """Q(s,a) + c·P(s,a)·√max(N(s), 1)/(1 + N(s,a)) for every move a."""
    scale = c * math.sqrt(max(sum(visits), 1))
    return [qa + scale * p / (1 + n) for qa, n, p in zip(q, visits, priors)]


def select(q: Sequence[float], visits: Sequence[int], priors: Sequence[float], c: float) -> int:
    """The move of highest PUCT score; the first of equals."""
    scores = puct_scores(q, visits, priors, c)
    return max(range(len(scores)), key=lambda i: (scores[i], -i))


def backup(path: Sequence[tuple[Node, int]], value: Sequence[float]) -> None:
    """Add one visit and `value` (one number per seat) to every edge of `path`: each edge is credited
    with the value of the seat that chose it."""
    for node, move in path:
        node.visits[move] += 1
        node.value_sums[move] += value[node.seat]


def visit_target(visits: Sequence[int], temperature: float) -> list[float]:
    """π(a) ∝ N(a)^(1/τ); τ = 0 shares all mass among the most visited moves."""
    if temperature == 0 or not any(visits):
        top = max(visits)
        winners = [n == top for n in visits]
        return [w / sum(winners) for w in winners]
    weights = [n ** (1 / temperature) for n in visits]
    total = sum(weights)
    return [w / total for w in weights]


def with_noise(priors: Sequence[float], alpha: float, fraction: float, rng: random.Random) -> list[float]:
    """(1 − fraction)·P + fraction·Dirichlet(alpha): AlphaZero's exploration at the root."""
    if fraction == 0 or len(priors) < 2:
        return list(priors)
    draws = [rng.gammavariate(alpha, 1.0) for _ in priors]
    total = sum(draws) or 1.0
    return [(1 - fraction) * p + fraction * d / total for p, d in zip(priors, draws)]


def scaled(rewards: Sequence[float], reward_range: tuple[float, float]) -> tuple[float, ...]:
    """Rewards mapped linearly from the env's reward range onto [-1, 1]."""
    lo, hi = reward_range
    return tuple(2 * (r - lo) / (hi - lo) - 1 for r in rewards)


def softmax(scores: Sequence[float]) -> list[float]:
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


def uniform_priors(requests: Sequence[TurnRequest]) -> list[list[float]]:
    return [[1 / len(r.legal_actions)] * len(r.legal_actions) for r in requests]


# --- the batched search -----------------------------------------------------------------------------
def searchable(request: TurnRequest, env_id: str = "") -> Any:
    """The request's position, or a clear error where the env gives none (search needs `clone()`)."""
    if request.position is None or not hasattr(request.position, "clone"):
        raise SparringError(f"tree search needs an env that can be copied (clone()) and hands its position to "
                            f"the players; {env_id or 'this env'} does not")
    if not request.legal_actions:
        raise SparringError(f"tree search needs the legal moves listed; {env_id or 'this env'} lists none "
                            "(sampling candidates from the policy is not built yet)")
    return request.position


@dataclass
class _Walk:
    """One simulation in one tree: the position it stands in, the path it took, the node it reached."""

    tree: int
    env: Any
    request: TurnRequest | None
    path: list[tuple[Node, int]]
    node: Node
    outcome: tuple[float, ...] | None = None  # scaled per seat, where this walk ended the game


def search(roots: Sequence[TurnRequest], cfg: SearchConfig, priors: Priors, seeds: Sequence[int],
           on_simulation: Callable[[], None] | None = None) -> list[SearchResult]:
    """Search every root (a request whose `position` is the env at that turn) for `cfg.simulations`
    simulations, all trees together; the root statistics of each. Seeded per root: a tree's result
    does not depend on the others searched with it (its priors are a function of its positions).
    `on_simulation` is called after each simulation of all trees (a progress bar's advance)."""
    envs = [searchable(r) for r in roots]
    rngs = [random.Random(seed) for seed in seeds]
    trees = [Node(seat=r.seat) for r in roots]
    reward_ranges = [env.reward_range for env in envs]
    for _ in range(cfg.simulations):
        walks = [_descend(i, envs[i], roots[i], trees[i], rngs[i], cfg) for i in range(len(roots))]
        fresh = [w for w in walks if not w.node.expanded and w.outcome is None]
        for walk, p in zip(fresh, priors([w.request for w in fresh]) if fresh else []):
            _expand(walk.node, walk.request, p, cfg, rngs[walk.tree] if walk.node is trees[walk.tree] else None)
        values = _values(walks, cfg, priors, rngs, reward_ranges)
        for walk, value in zip(walks, values):
            backup(walk.path, value)
        if on_simulation is not None:
            on_simulation()
    return [SearchResult(t.seat, t.moves, tuple(t.priors), tuple(t.visits), tuple(t.q())) for t in trees]


def _descend(i: int, root_env, root: TurnRequest, tree: Node, rng: random.Random, cfg: SearchConfig) -> _Walk:
    env = root_env.determinize(root.seat, rng) if hasattr(root_env, "determinize") else root_env.clone()
    walk = _Walk(i, env, root, [], tree)
    while walk.node.expanded:
        node = walk.node
        move = select(node.q(), node.visits, node.priors, cfg.c_puct)
        walk.path.append((node, move))
        result = env.step(node.moves[move])
        key = (move, None if result.done else result.next_request.state)
        if key not in node.children:
            node.children[key] = Node(seat=-1 if result.done else result.next_request.seat, terminal=result.done)
        walk.node, walk.request = node.children[key], result.next_request
        if result.done:
            walk.outcome = scaled(result.rewards, env.reward_range)
            break
    return walk


def _expand(node: Node, request: TurnRequest, priors: Sequence[float], cfg: SearchConfig,
            root_rng: random.Random | None) -> None:
    node.moves = tuple(request.legal_actions)
    node.priors = with_noise(priors, cfg.dirichlet_alpha, cfg.dirichlet_fraction, root_rng) if root_rng else list(priors)
    node.visits, node.value_sums, node.expanded = [0] * len(node.moves), [0.0] * len(node.moves), True


def _values(walks: list[_Walk], cfg: SearchConfig, priors: Priors, rngs, reward_ranges) -> list[tuple[float, ...]]:
    """Each walk's value per seat: the outcome where it ended the game, else its rollout's (or 0)."""
    values: list[tuple[float, ...] | None] = [w.outcome for w in walks]
    live = [(k, w.env, w.request) for k, w in enumerate(walks) if values[k] is None]
    if cfg.rollout == "none":
        for k, env, _ in live:
            values[k] = (0.0,) * env.num_seats
        return values  # type: ignore[return-value]
    # A rollout plays on the walk's own copy: the walk is done with it.
    while live:
        if cfg.rollout == "random":
            moves = [rngs[walks[k].tree].choice(request.legal_actions) for k, _, request in live]
        else:
            dists = priors([request for _, _, request in live])
            moves = [rngs[walks[k].tree].choices(request.legal_actions, weights=d)[0]
                     for (k, _, request), d in zip(live, dists)]
        going = []
        for (k, env, _), move in zip(live, moves):
            result = env.step(move)
            if result.done:
                values[k] = scaled(result.rewards, reward_ranges[walks[k].tree])
            else:
                going.append((k, env, result.next_request))
        live = going
    return values  # type: ignore[return-value]
