"""Quality, diversity and complexity of a round's generated episodes (../shared/METHODS.md, "QDC").

Pure functions of texts and numbers, then `qdc_metrics`, which measures one round's episodes per
environment. Diversity is measured on the trained policy's answers: distinct-1..4, compression
ratio, near-duplicate rate (from the curate stage's MinHash) and an embedding Vendi score. The
embeddings come from WordLlama's small model, whose weights and tokenizer ship inside its PyPI wheel,
so nothing is downloaded at run time.
"""

from __future__ import annotations

import functools
import gzip
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sparring.policies import TRAINED
from sparring.stats import mean
from sparring.types import Episode


def words(text: str) -> list[str]:
    return text.lower().split()


def distinct_n(texts: Sequence[str], n: int) -> float | None:
    """Distinct word n-grams over all n-grams of the texts (Li et al. 2016); None without any n-gram."""
    grams = [tuple(w[i:i + n]) for w in map(words, texts) for i in range(len(w) - n + 1)]
    return len(set(grams)) / len(grams) if grams else None


def compression_ratio(texts: Sequence[str]) -> float | None:
    """gzip size / raw size of the concatenated texts: lower is more repetitive."""
    raw = "\n".join(texts).encode()
    return len(gzip.compress(raw, mtime=0)) / len(raw) if raw else None


def vendi_score(embeddings: np.ndarray) -> float | None:
    """exp of the entropy of the eigenvalues of K/n, K the cosine similarity matrix of the rows
    (Friedman & Dieng 2023): 1 when all rows point the same way, n when they are orthogonal.
    K/n = X Xᵀ/n shares its non-zero eigenvalues with Xᵀ X/n, which is only d × d."""
    if len(embeddings) == 0:
        return None
    x = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    eigenvalues = np.linalg.eigvalsh((x.T @ x).astype(np.float64) / len(x))
    eigenvalues = eigenvalues[eigenvalues > 1e-12]
    return float(np.exp(-np.sum(eigenvalues * np.log(eigenvalues))))


@functools.cache
def _embedder():
    """WordLlama's 256-d model from the files its wheel ships (its own loader looks for the tokenizer
    under a folder name the wheel does not use, then tries the hub)."""
    import wordllama
    from safetensors import safe_open
    from wordllama import WordLlama
    from wordllama.inference import WordLlamaInference

    root = Path(wordllama.__file__).parent
    tokenizer = WordLlama.load_tokenizer(root / "tokenizers" / "l2_supercat_tokenizer_config.json")
    with safe_open(str(root / "weights" / "l2_supercat_256.safetensors"), framework="np") as f:
        return WordLlamaInference(f.get_tensor("embedding.weight"), tokenizer)


def embed(texts: Sequence[str]) -> np.ndarray:
    return _embedder().embed(list(texts)) if texts else np.zeros((0, 256), np.float32)


def answers_of(e: Episode) -> list[str]:
    """The trained policy's answers in `e`, one per turn it played."""
    seats = set(e.seats_of(TRAINED))
    return [t.completion.text for t in e.turns if t.seat in seats]


def qdc_metrics(episodes: Sequence[Episode], pass_line: dict[str, float],
                near_duplicates: set[str] = frozenset()) -> dict[str, dict[str, Any]]:
    """{env id: {"quality": ..., "diversity": ..., "complexity": ...}} over the episodes with an
    outcome. A seat "passes" when its reward is above `pass_line[env id]` (a right answer, a win);
    `near_duplicates` holds the ids of episodes the curate stage found near-duplicate."""
    by_env: dict[str, list[Episode]] = defaultdict(list)
    for e in episodes:
        if e.has_outcome:
            by_env[e.env_id].append(e)
    result = {}
    for env_id, played in sorted(by_env.items()):
        rewards = [e.rewards[s] for e in played for s in e.seats_of(TRAINED)]
        turns = [t for e in played for t in e.turns if t.seat in e.seats_of(TRAINED)]
        answers = [a for e in played for a in answers_of(e)]
        levels = [e.info["level"] for e in played if isinstance(e.info.get("level"), (int, float))]
        result[env_id] = {
            "quality": {"pass_rate": mean([r > pass_line[env_id] for r in rewards]),
                        "reward_mean": mean(rewards),
                        "illegal_rate": mean([not t.legal for t in turns])},
            "diversity": {**{f"distinct_{n}": distinct_n(answers, n) for n in range(1, 5)},
                          "compression_ratio": compression_ratio(answers),
                          "near_duplicate_rate": mean([e.id in near_duplicates for e in played]),
                          "vendi": vendi_score(embed(answers))},
            "complexity": {"turns": mean([len(e.turns) for e in played]),
                           "answer_words": mean([len(words(a)) for a in answers]),
                           "answer_tokens": mean([len(t.completion.token_ids) for t in turns]),
                           "level": mean(levels)},
        }
    return result

