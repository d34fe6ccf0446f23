"""Plugins for the tests: a working player and selection objective, and envs that break the contract."""

from sparring.policies.scripted import scripted_completion
from sparring.types import Message, StepResult, TurnRequest


class RaisesInReset:
    """An env whose reset raises."""

    num_seats = 1
    reward_range = (0.0, 1.0)

    def reset(self, seed):
        raise RuntimeError("the plugin's own bug")

    def step(self, action_text):
        raise AssertionError("never reached")


class RewardOutOfRange:
    """An env that pays more than its reward range says."""

    num_seats = 1
    reward_range = (0.0, 1.0)

    def reset(self, seed):
        return TurnRequest(0, (Message("user", "Say anything."),))

    def step(self, action_text):
        return StepResult(None, (5.0,), terminated=True)


class AlwaysSeven:
    """Answers 7 to everything."""

    def act(self, requests, seeds):
        return [scripted_completion("Answer: 7") for _ in requests]

    def provenance(self):
        return {"kind": "scripted", "name": "always-seven"}


def longest(answer, word_counts):
    """Prefer the longest answer."""
    return len(answer)
