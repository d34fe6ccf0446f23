"""The backend protocol: how the round asks a policy for text."""

from __future__ import annotations

from typing import Any, Protocol, Sequence

from sparring.types import Completion, CompletionLogprobs, Message, SamplingParams


class Backend(Protocol):
    model_id: str  # what the model is: path or hub id
    checkpoint_hash: str  # which weights exactly: goes into every episode's provenance

    def generate(self, prompts: Sequence[Sequence[Message]], params: SamplingParams,
                 seeds: Sequence[int] | None = None) -> list[list[Completion]]:
        """`params.n` completions for each prompt, in prompt order, as one batched call.

        `seeds` (one per prompt) make each prompt's samples reproducible on their own: the same
        prompt and seed give the same completions whatever else shares the call.
        """
        ...

    def provenance(self) -> dict[str, Any]:
        """What answers, for every episode it plays in: `model_id` and `checkpoint_hash` at least."""
        ...

    def logprobs(self, prompts: Sequence[Sequence[Message]], answers: Sequence[str]) -> list[CompletionLogprobs]:
        """Each answer, given as the assistant's turn after its prompt, scored per token, in batches."""
        ...
