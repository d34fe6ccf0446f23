"""A tiny randomly initialised model with SmolLM2's architecture and tokenizer, built in seconds (tests)."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from sparring.models.paths import default_tokenizer_dir


def build_tiny_model(target: str | Path, seed: int = 0) -> Path:
    target = Path(target)
    tokenizer = AutoTokenizer.from_pretrained(default_tokenizer_dir())
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target
