"""Environment registry. Registering an env here is what gets it contract-tested (tests/envs)."""

from __future__ import annotations

import re

from sparring.envs.base import Env
from sparring.envs.check import EnvContractError, check_env
from sparring.errors import SparringError
from sparring.registry import BUILT_IN, IMPORT_PATH, Registry

ENVS: Registry[Env] = Registry("environment", "sparring.envs")

ENVS.register(
    "arithmetic-v0",
    "sparring.envs.arithmetic:ArithmeticEnv",
    "procedural +, -, * problems at 8 difficulty levels, verified exactly",
)
ENVS.register("propose-arithmetic-v0", "sparring.envs.propose_arithmetic:ProposeArithmetic",
              "one seat writes a new arithmetic problem, read by a bounded evaluator; the solver's answers "
              "reward it (task 'propose')")
ENVS.register("tictactoe-v1", "sparring.envs.tictactoe:TicTacToe",
              "two seats on a 3x3 board, numbered cells and the legal moves shown each turn")
ENVS.register("kuhn-poker-v1", "sparring.envs.kuhn_poker:KuhnPoker",
              "two-seat poker with a 3-card deck; each seat sees only its own card; rewards in chips")
ENVS.register("connect-four-v1", "sparring.envs.connect_four:ConnectFour",
              "two seats drop discs into a 7x6 grid; four in a line wins")
ENVS.register("matrix-2x2-v1", "sparring.envs.matrix_games:MatrixGame",
              "one of the 144 ordinal 2x2 games an episode, both seats choosing at once; payoffs as a table or "
              "in words; pure Nash equilibria in the info")
ENVS.register("iterated-prisoners-dilemma-v1", "sparring.envs.matrix_games:IteratedPrisonersDilemma",
              "the prisoner's dilemma five times in a row, each play simultaneous, earlier plays shown; the mean "
              "reward; cooperation measured")
ENVS.register("negotiation-v1", "sparring.envs.negotiation:Negotiation",
              "SPIRAL's Simple Negotiation: two seats trade Wood and Gold, valued oppositely, by offers in "
              "free text; the larger gain in value after 10 messages wins")
ENVS.register("bargaining-v1", "sparring.envs.bargaining:Bargaining",
              "GLEE's alternating-offers bargaining over 10,000 coins, discounted 0.95 a round; fairness and "
              "efficiency measured")
ENVS.register("taboo-v1", "sparring.envs.taboo:Taboo",
              "SPAG's adversarial taboo: the attacker clues a secret WordNet noun without saying it, the defender "
              "guesses among 4 candidates; held-out words at evaluation")
ENVS.register_family("reasoning-gym/", "sparring.envs.reasoning_gym",
                     "reasoning-gym's procedural tasks, scored by its own score_answer (its levels: the task's curriculum)",
                     example="chain_sum")
ENVS.register_family("textarena/", "sparring.envs.textarena",
                     "TextArena's two-player games, seat by seat (TextArena's own rule for invalid moves)",
                     example="TicTacToe-v0")


def env_version(env_id: str) -> int:
    """The version an id ends in ('arithmetic-v0'), else its env's `version` (a family member's adapter;
    an env named by its import path has 0 where it says none)."""
    match = re.fullmatch(r".+-v(\d+)", env_id)
    if match:
        return int(match.group(1))
    version = getattr(ENVS.load(env_id), "version", None)
    if version is None and ENVS.entry(env_id).origin == IMPORT_PATH:
        return 0
    if version is None:
        raise ValueError(f"env ids end in a version, like 'arithmetic-v0'; got {env_id!r}")
    return version


def make_env(env_id: str, **kwargs) -> Env:
    return ENVS.make(env_id, **kwargs)


def check_outside_env(env_id: str) -> None:
    """An env from outside the project (a plugin, an import path) keeps the contract, at its default
    level, or a SparringError names it and where it came from; the project's own are tested instead."""
    entry = ENVS.entry(env_id)
    if entry.origin == BUILT_IN:
        return
    try:
        check_env(make_env(env_id))
    except Exception as e:  # the plugin's bug, reported as such before any work
        raise SparringError(f"environment {env_id!r} ({entry.origin}) breaks the env contract: {type(e).__name__}: {e}. "
                            f"`sparring check {env_id}` runs every check on it") from None


__all__ = ["ENVS", "Env", "EnvContractError", "check_env", "check_outside_env", "env_version", "make_env"]
