"""Every registered environment keeps the contract; check_env catches envs that do not."""

import random

import pytest

from sparring.envs import ENVS, EnvContractError, check_env, make_env
from sparring.envs.arithmetic import ArithmeticEnv
from sparring.envs.tictactoe import TicTacToe
from sparring.types import StepResult


def _variants():
    for env_id in ENVS.ids():
        levels = getattr(ENVS.load(env_id), "levels", None) or [None]
        for level in levels:
            yield pytest.param(env_id, level, id=f"{env_id}-L{level}")


@pytest.mark.parametrize("env_id,level", list(_variants()))
def test_registered_env_keeps_the_contract(env_id, level):
    kwargs = {} if level is None else {"level": level}
    check_env(make_env(env_id, **kwargs))


class Unseeded(ArithmeticEnv):
    def reset(self, seed):
        return super().reset(random.randrange(10**6))  # ignores its seed


class Crashes(ArithmeticEnv):
    def step(self, action_text):
        return int(action_text)  # raises on junk


class OutOfRange(ArithmeticEnv):
    def step(self, action_text):
        super().step(action_text)
        return StepResult(None, (5.0,), terminated=True)


class NeverEnds(ArithmeticEnv):
    def step(self, action_text):
        return StepResult(self.reset(0), (0.0,))


class SeatOneNeverActs(TicTacToe):
    def to_act(self):
        return 0


class ForfeitRewardsTheOffender(TicTacToe):
    def forfeit(self, offender):
        return tuple(1.0 if seat == offender else -1.0 for seat in range(2))


@pytest.mark.parametrize("env,message", [
    (SeatOneNeverActs(), r"only seats \[0\] of 2 ever acted"),
    (ForfeitRewardsTheOffender(), "ended the game illegally but did not get the lowest reward"),
    (Unseeded(level=2), "not deterministic|different episodes"),
    (OutOfRange(), "outside"),
    (NeverEnds(), "did not end"),
])
def test_check_env_catches_broken_envs(env, message):
    with pytest.raises(EnvContractError, match=message):
        check_env(env, seeds=range(3), max_steps=20)


def test_check_env_lets_exceptions_on_junk_surface():
    with pytest.raises(ValueError):
        check_env(Crashes(), seeds=range(3))
