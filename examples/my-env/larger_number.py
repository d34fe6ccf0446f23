"""An environment written outside sparring: name the larger of two numbers."""

import random

from sparring.envs.answers import extract_answer
from sparring.types import Message, StepResult, TurnRequest


class LargerNumber:
    """Which of two numbers is larger? Reward 1 for naming it; a reply with no number is illegal."""

    num_seats = 1
    reward_range = (0.0, 1.0)
    levels = (1, 2, 3)  # digits per number

    def __init__(self, level: int = 1):
        self.level = level

    def reset(self, seed: int) -> TurnRequest:
        rng = random.Random(seed)  # everything an episode draws comes from its seed
        low, high = 10 ** (self.level - 1), 10**self.level
        self.numbers = rng.sample(range(low, high), 2)
        question = f"Which is larger, {self.numbers[0]} or {self.numbers[1]}? End with 'Answer: <number>'."
        return TurnRequest(0, (Message("user", question),))

    def step(self, action_text: str) -> StepResult:
        answer = extract_answer(action_text)
        correct = answer == max(self.numbers)
        return StepResult(None, (1.0 if correct else 0.0,), terminated=True, legal=answer is not None,
                          reason="correct" if correct else "no number" if answer is None else "wrong",
                          info={"level": self.level, "numbers": self.numbers})

    def reference_solution(self) -> str:
        return f"Answer: {max(self.numbers)}"
