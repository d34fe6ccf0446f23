"""The embedded SmolLM2-135M-Instruct: exported once from the GGUF, then a normal checkpoint."""

import pytest

from sparring.heldout import evaluate, heldout_set
from sparring.models.paths import DEFAULT_MODEL, export_default_model
from sparring.models.transformers_backend import TransformersBackend
from sparring.types import Message, SamplingParams

pytestmark = pytest.mark.slow


def test_export_is_a_plain_checkpoint_in_the_cache():
    path = export_default_model()
    assert (path / "model.safetensors").exists() and (path / "tokenizer_config.json").exists()
    assert export_default_model() == path  # the second call reuses the export


def test_default_model_answers_one_digit_sums():
    backend = TransformersBackend(DEFAULT_MODEL)
    result = evaluate(backend, heldout_set("arithmetic-v0", [1], 25), 48, {"round": 0})["by_env"]["arithmetic-v0"]
    assert result["accuracy"] >= 0.6  # measured: about 0.8 greedy on level 1
    (completion,), = backend.generate([[Message("user", "Say hello.")]], SamplingParams(temperature=0, max_new_tokens=8))
    assert completion.text.strip() and completion.token_ids
