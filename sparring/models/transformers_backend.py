"""The default backend: Hugging Face transformers, batched and left-padded, on CPU or GPU."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from sparring.errors import SparringError
from sparring.models.paths import resolve_model
from sparring.types import Completion, Message, SamplingParams

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def load_tokenizer(path: str):
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"  # decoder-only batches pad on the left so every row ends at the prompt's end
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def checkpoint_hash(path: str) -> str:
    """sha256 over the weight files (first 16 hex digits); the hub id itself for a remote model."""
    files = sorted(Path(path).glob("*.safetensors")) + sorted(Path(path).glob("*.bin"))
    if not files:
        return path
    digest = hashlib.sha256()
    for f in files:
        with open(f, "rb") as fh:
            while block := fh.read(1 << 24):
                digest.update(block)
    return digest.hexdigest()[:16]


class TransformersBackend:
    """Loads a causal LM once; `generate` serves any number of prompts in batches of `batch_size` rows."""

    def __init__(self, model: str, dtype: str = "bfloat16", batch_size: int = 64):
        path = resolve_model(model)
        try:
            self.tokenizer = load_tokenizer(path)
            self.model = AutoModelForCausalLM.from_pretrained(path, dtype=DTYPES[dtype]).eval()
        except (OSError, ValueError) as e:
            raise SparringError(f"could not load model {model!r}: {e}") from e
        self.model_id = model
        self.path = path
        self.checkpoint_hash = checkpoint_hash(path)
        self.batch_size = batch_size
        eos = self.model.generation_config.eos_token_id
        self._eos_ids = set(eos if isinstance(eos, list) else [eos if eos is not None else self.tokenizer.eos_token_id])
        self.generate_calls = 0  # one per generate(), however many batches it runs: tests and benchmarks read it

    def render(self, messages: Sequence[Message]) -> str:
        return self.tokenizer.apply_chat_template(
            [{"role": m.role, "content": m.content} for m in messages], add_generation_prompt=True, tokenize=False)

    @torch.inference_mode()
    def generate(self, prompts: Sequence[Sequence[Message]], params: SamplingParams) -> list[list[Completion]]:
        self.generate_calls += 1
        texts = [self.render(p) for p in prompts]
        per_batch = max(1, self.batch_size // params.n)
        results: list[list[Completion]] = []
        # fork_rng keeps the per-call seed from leaking into (or depending on) global torch state.
        with torch.random.fork_rng(devices=[]):
            if params.seed is not None:
                torch.manual_seed(params.seed)
            for start in range(0, len(texts), per_batch):
                results.extend(self._generate_batch(texts[start:start + per_batch], params))
        return results

    def _generate_batch(self, texts: list[str], params: SamplingParams) -> list[list[Completion]]:
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.model.device)
        sampling = (dict(do_sample=True, temperature=params.temperature, top_p=params.top_p)
                    if params.temperature > 0 else dict(do_sample=False, temperature=None, top_p=None, top_k=None))
        stop = dict(stop_strings=list(params.stop), tokenizer=self.tokenizer) if params.stop else {}
        out = self.model.generate(
            **enc, **sampling, **stop, max_new_tokens=params.max_new_tokens, num_return_sequences=params.n,
            pad_token_id=self.tokenizer.pad_token_id)
        new_tokens = out[:, enc["input_ids"].shape[1]:].tolist()
        completions = [self._completion(row, params) for row in new_tokens]
        return [completions[i:i + params.n] for i in range(0, len(completions), params.n)]

    def _completion(self, row: list[int], params: SamplingParams) -> Completion:
        end = next((i for i, t in enumerate(row) if t in self._eos_ids), None)
        ids = row if end is None else row[:end]
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        stopped = end is not None
        for s in params.stop:
            if s in text:
                text, stopped = text[: text.index(s)], True
        return Completion(text=text, token_ids=tuple(ids), finish_reason="stop" if stopped else "length")
