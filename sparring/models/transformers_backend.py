"""The default backend: Hugging Face transformers, batched and left-padded, on CPU or GPU."""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path
from typing import Sequence

import torch
from transformers import (AutoModelForCausalLM, AutoTokenizer, LogitsProcessor, LogitsProcessorList,
                          TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper)

from sparring.errors import SparringError
from sparring.models.paths import resolve_model
from sparring.models.precision import resolve_dtype
from sparring.seeds import derive_seed
from sparring.types import Completion, CompletionLogprobs, Message, SamplingParams

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

    def __init__(self, model: str, dtype: str = "auto", batch_size: int = 64):
        path = resolve_model(model)
        self.dtype, self.dtype_reason = resolve_dtype(dtype)
        try:
            self.tokenizer = load_tokenizer(path)
            self.model = AutoModelForCausalLM.from_pretrained(path, dtype=DTYPES[self.dtype]).eval()
        except Exception as e:  # a damaged checkpoint fails in many ways (safetensors, json, torch)
            raise SparringError(f"could not load model {model!r}: {str(e).strip()[:300]}") from e
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
    def generate(self, prompts: Sequence[Sequence[Message]], params: SamplingParams,
                 seeds: Sequence[int] | None = None) -> list[list[Completion]]:
        """`params.n` completions per prompt. Completion j of prompt i is drawn with the seed
        derive_seed(seeds[i], j), so it does not depend on the other prompts of the call; without
        `seeds`, prompt i's seed is derived from `params.seed` and i (fresh ones when that is None)."""
        self.generate_calls += 1
        if seeds is None:
            base = params.seed if params.seed is not None else secrets.randbits(63)
            seeds = [derive_seed(base, i) for i in range(len(prompts))]
        # One row per sample: prompt i repeated n times, row (i, j) seeded with derive_seed(seeds[i], j).
        texts = [self.render(p) for p in prompts for _ in range(params.n)]
        row_seeds = [derive_seed(seed, j) for seed in seeds for j in range(params.n)]
        rows: list[Completion] = []
        for start in range(0, len(texts), self.batch_size):
            end = start + self.batch_size
            rows.extend(self._generate_batch(texts[start:end], params, row_seeds[start:end]))
        return [rows[i:i + params.n] for i in range(0, len(rows), params.n)]

    def _generate_batch(self, texts: list[str], params: SamplingParams, row_seeds: list[int]) -> list[Completion]:
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.model.device)
        # Greedy decoding either way: sampling is done by the seeded processors (see SeededSampling).
        processors = LogitsProcessorList(sampling_processors(params, row_seeds) if params.temperature > 0 else [])
        stop = dict(stop_strings=list(params.stop), tokenizer=self.tokenizer) if params.stop else {}
        out = self.model.generate(
            **enc, **stop, do_sample=False, temperature=None, top_p=None, top_k=None, logits_processor=processors,
            max_new_tokens=params.max_new_tokens, pad_token_id=self.tokenizer.pad_token_id)
        return [self._completion(row, params) for row in out[:, enc["input_ids"].shape[1]:].tolist()]

    @torch.inference_mode()
    def logprobs(self, prompts: Sequence[Sequence[Message]], answers: Sequence[str]) -> list[CompletionLogprobs]:
        """Log-probabilities of each answer's tokens after its prompt, as a chat model is trained on
        them (`chat_completion_ids`), in batches of `batch_size` rows."""
        pairs = [chat_completion_ids(self.tokenizer, p, a) for p, a in zip(prompts, answers, strict=True)]
        scored: list[CompletionLogprobs] = []
        for start in range(0, len(pairs), self.batch_size):
            scored.extend(self._logprobs_batch(pairs[start:start + self.batch_size]))
        return scored

    def _logprobs_batch(self, pairs: list[tuple[list[int], list[int]]]) -> list[CompletionLogprobs]:
        # Left-padded, so every completion ends at the last position and only the logits of the last
        # (longest completion + 1) positions are computed: a full-length vocabulary projection would
        # cost batch x length x vocab floats.
        rows = [prompt + completion for prompt, completion in pairs]
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        keep = max(len(completion) for _, completion in pairs)
        logits = self.model(input_ids=ids.to(self.model.device), attention_mask=mask.to(self.model.device),
                            position_ids=positions.to(self.model.device), logits_to_keep=keep + 1).logits
        logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # position t predicts token t + 1
        targets = ids[:, -keep:].to(logp.device)
        token_logp = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1).tolist()
        return [CompletionLogprobs(token_ids=tuple(completion), per_token=tuple(row[keep - len(completion):]))
                for (_, completion), row in zip(pairs, token_logp)]

    def _completion(self, row: list[int], params: SamplingParams) -> Completion:
        end = next((i for i, t in enumerate(row) if t in self._eos_ids), None)
        ids = row if end is None else row[:end]
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        stopped = end is not None
        for s in params.stop:
            if s in text:
                text, stopped = text[: text.index(s)], True
        return Completion(text=text, token_ids=tuple(ids), finish_reason="stop" if stopped else "length")


def chat_completion_ids(tokenizer, prompt: Sequence[Message], answer: str) -> tuple[list[int], list[int]]:
    """(prompt tokens, answer tokens) of an answer given as the assistant's turn after `prompt`.

    The same split as TRL's trainers make: the chat template renders the prompt with its generation
    prompt and the whole conversation, and the answer is what follows their common prefix (its
    end-of-turn tokens included). Log-probabilities stored at build time are then those of the very
    tokens the trainer scores.
    """
    messages = [{"role": m.role, "content": m.content} for m in prompt]
    prompt_ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                               return_dict=True)["input_ids"]
    full = tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": answer}], tokenize=True,
                                         return_dict=True)["input_ids"]
    shared = next((i for i, (a, b) in enumerate(zip(prompt_ids, full)) if a != b), min(len(prompt_ids), len(full)))
    return list(full[:shared]), list(full[shared:])


def sampling_processors(params: SamplingParams, row_seeds: Sequence[int]) -> list[LogitsProcessor]:
    """Temperature, top-k and top-p (transformers' own warpers), then seeded Gumbel noise."""
    warpers: list[LogitsProcessor] = [TemperatureLogitsWarper(params.temperature)]
    if params.top_k > 0:
        warpers.append(TopKLogitsWarper(params.top_k))
    if params.top_p < 1.0:
        warpers.append(TopPLogitsWarper(params.top_p))
    return [*warpers, SeededSampling(row_seeds)]


class SeededSampling(LogitsProcessor):
    """Samples by the Gumbel-max trick, with one random stream per row.

    argmax(scores + Gumbel noise) is a draw from softmax(scores), so greedy decoding over these scores
    samples exactly as multinomial sampling does. transformers' sampling draws every row of a batch
    from one global stream, so a row's sample depends on the rest of its batch and on call order;
    here row i's noise at step t depends only on its own seed and t, and a resumed run, whose batches
    hold other episodes, draws the same samples as an uninterrupted one.
    """

    def __init__(self, row_seeds: Sequence[int]):
        self.generators = [torch.Generator().manual_seed(seed) for seed in row_seeds]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        # Noise only for the tokens the warpers kept (the top-k / top-p candidates, in token-id order),
        # drawn from each row's own stream: the full vocabulary would cost ~12% of a decoding step.
        kept = torch.isfinite(scores)
        counts = kept.sum(dim=-1).tolist()
        uniform = torch.cat([torch.rand(n, generator=g) for n, g in zip(counts, self.generators)]).to(scores.device)
        noisy = scores.clone()
        noisy[kept] += -torch.log(-torch.log(uniform.clamp(min=1e-20, max=1.0 - 1e-7)))
        return noisy
