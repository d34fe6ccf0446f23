import pytest

from sparring.models.tiny import build_tiny_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """A 2-layer randomly initialised model with SmolLM2's architecture and tokenizer."""
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny") / "model"))


@pytest.fixture(scope="session")
def tiny_backend(tiny_model):
    from sparring.models.transformers_backend import TransformersBackend

    return TransformersBackend(tiny_model, dtype="float32", batch_size=16)
