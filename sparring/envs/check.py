"""check_env: the contract every registered environment must keep."""

from __future__ import annotations

import random
import string

from sparring.types import Message, StepResult, TurnRequest


class EnvContractError(AssertionError):
    pass


def _require(cond: bool, what: str) -> None:
    if not cond:
        raise EnvContractError(what)


def _junk(rng: random.Random) -> str:
    pieces = [
        "", " ", "Answer:", "42", "-7", "\\boxed{}", "1,2,3", "∞", "🙂", "NaN",
        "".join(rng.choice(string.printable) for _ in range(rng.randint(1, 80))),
    ]
    return rng.choice(pieces) + rng.choice(pieces)


def _check_request(env, request: TurnRequest) -> None:
    _require(isinstance(request, TurnRequest), f"expected a TurnRequest, got {type(request).__name__}")
    _require(0 <= request.seat < env.num_seats, f"seat {request.seat} outside 0..{env.num_seats - 1}")
    _require(len(request.messages) > 0 and all(isinstance(m, Message) for m in request.messages),
             "a request carries a non-empty tuple of Message")


def check_result(env, result: StepResult) -> None:
    """One step's answer keeps the contract: one reward per seat within bounds, and a next request
    exactly when the episode goes on."""
    _require(isinstance(result, StepResult), f"step() must return a StepResult, got {type(result).__name__}")
    _require(len(result.rewards) == env.num_seats, f"rewards need one entry per seat ({env.num_seats})")
    lo, hi = env.reward_range
    _require(all(lo <= r <= hi for r in result.rewards), f"rewards {result.rewards} outside {env.reward_range}")
    if result.done:
        _require(result.next_request is None, "a finished episode asks for no further turn")
    else:
        _check_request(env, result.next_request)


def _action(request: TurnRequest, rng: random.Random) -> str:
    """Junk, or (mostly, where the env lists them) a legal action, so that games get played through."""
    if request.legal_actions and rng.random() < 0.8:
        return rng.choice(request.legal_actions)
    return _junk(rng)


def _play(env, seed: int, actions: random.Random, max_steps: int) -> list[StepResult]:
    request = env.reset(seed)
    _check_request(env, request)
    results = []
    for _ in range(max_steps):
        result = env.step(_action(request, actions))
        check_result(env, result)
        if not result.legal:  # the illegal-action rule: asked again, or the offender does worst
            if result.done:
                _require(result.rewards[request.seat] == min(result.rewards),
                         f"seed {seed}: seat {request.seat} ended the game illegally but did not get the lowest reward")
            elif env.num_seats > 1:
                _require(result.next_request.seat == request.seat,
                         f"seed {seed}: after an illegal action, seat {request.seat} is not the one asked again")
        results.append(result)
        if result.done:
            return results
        request = result.next_request
    raise EnvContractError(f"episode with seed {seed} did not end within {max_steps} junk actions")


def check_env(env, seeds=range(8), max_steps: int = 200) -> None:
    """Raise EnvContractError unless `env` keeps the contract:

    seeded determinism (same seed and actions give the same episode), random junk actions never
    crash and are recorded rather than raised, rewards stay within `reward_range` with one entry per
    seat, episodes end, every seat acts, and an illegal action is either asked again of the same
    seat or ends the episode with the offender's reward the lowest; where present,
    `reference_solution()` wins a one-seat episode and `clone()` behaves like the original.
    """
    acted: set[int] = set()
    for seed in seeds:
        acted |= _seats_that_act(env, seed, max_steps)
        first = _play(env, seed, random.Random(seed), max_steps)
        again = _play(env, seed, random.Random(seed), max_steps)
        _require(first == again, f"seed {seed}: same seed and actions gave different episodes")
        _require(env.reset(seed) == env.reset(seed), f"seed {seed}: reset is not deterministic")

        if hasattr(env, "reference_solution") and env.num_seats == 1:
            env.reset(seed)
            solution = env.reference_solution()
            _require(isinstance(solution, str) and solution.strip() != "", "reference_solution() must be text")
            result = env.step(solution)
            _require(result.done and result.rewards[0] == env.reward_range[1],
                     f"seed {seed}: playing reference_solution() did not win ({result.reason})")

        if hasattr(env, "clone"):
            env.reset(seed)
            twin = env.clone()
            action = _junk(random.Random(seed))
            _require(env.step(action) == twin.step(action), f"seed {seed}: clone() diverged from the original")
    _require(acted == set(range(env.num_seats)), f"only seats {sorted(acted)} of {env.num_seats} ever acted")


def _seats_that_act(env, seed: int, max_steps: int) -> set[int]:
    """The seats asked to act in a game played with legal actions where the env lists them."""
    rng, request, seats = random.Random(seed), env.reset(seed), set()
    for _ in range(max_steps):
        seats.add(request.seat)
        move = rng.choice(request.legal_actions) if request.legal_actions else _junk(rng)
        result = env.step(move)
        if result.done:
            break
        request = result.next_request
    return seats
