"""Backend registry: how a policy is served. The transformers backend is the default."""

from __future__ import annotations

from sparring.models.base import Backend
from sparring.models.paths import DEFAULT_MODEL, resolve_model
from sparring.registry import Registry

BACKENDS: Registry[Backend] = Registry("backend", "sparring.backends")
BACKENDS.register("transformers", "sparring.models.transformers_backend:TransformersBackend",
                  "Hugging Face transformers, batched and left-padded (CPU or GPU)")
BACKENDS.register("openai", "sparring.models.openai_backend:OpenAIBackend",
                  "an OpenAI-compatible server: a fixed served model, seated as a player `served:<name>`")
BACKENDS.register("vllm", "sparring.models.vllm_backend:VLLMBackend",
                  "`vllm serve` on a GPU: each LoRA round an adapter on the run's first model ([vllm])")


def load_backend(name: str, model: str, **kwargs) -> Backend:
    return BACKENDS.make(name, model=model, **kwargs)


__all__ = ["BACKENDS", "Backend", "DEFAULT_MODEL", "load_backend", "resolve_model"]
