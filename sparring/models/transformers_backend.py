"""The default backend: Hugging Face transformers, batched and left-padded, on CPU or GPU."""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache
from transformers.cache_utils import Cache, DynamicLayer

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
    """Loads a causal LM once; `generate` serves any number of prompts, at most `batch_size` rows
    decoding at once (as rows end, the next prompts join: `decode`)."""

    def __init__(self, model: str, dtype: str = "auto", batch_size: int = 64):
        path = resolve_model(model)
        self.dtype, self.dtype_reason = resolve_dtype(dtype)
        try:
            self.tokenizer = load_tokenizer(path)
            # sdpa reads the boolean 4-D masks of `packed_logprobs` as they are (eager would add them)
            self.model = AutoModelForCausalLM.from_pretrained(path, dtype=DTYPES[self.dtype],
                                                              attn_implementation="sdpa").eval()
            self.model.to("cuda" if torch.cuda.is_available() else "cpu")
        except Exception as e:  # a damaged checkpoint fails in many ways (safetensors, json, torch)
            raise SparringError(f"could not load model {model!r}: {str(e).strip()[:300]}") from e
        self.model_id = model
        self.path = path
        self.checkpoint_hash = checkpoint_hash(path)
        self.batch_size = batch_size
        eos = self.model.generation_config.eos_token_id
        self._eos_ids = set(eos if isinstance(eos, list) else [eos if eos is not None else self.tokenizer.eos_token_id])
        self.generate_calls = 0  # one per generate(), however many batches it runs: tests and benchmarks read it
        self.prefixes = PrefixCache()

    def provenance(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "checkpoint_hash": self.checkpoint_hash}

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
        ids = self.tokenizer([self.render(p) for p in prompts], add_special_tokens=False)["input_ids"]
        rows = [ids[i] for i in range(len(prompts)) for _ in range(params.n)]
        row_seeds = [derive_seed(seed, j) for seed in seeds for j in range(params.n)]
        stopped = (lambda tokens: any(s in self.tokenizer.decode(tokens, skip_special_tokens=True) for s in params.stop)
                   ) if params.stop else None
        out = decode(self.model, rows, params, row_seeds, self._eos_ids, self.tokenizer.pad_token_id, stopped,
                     self.prefixes, self.batch_size)
        answers = [self._completion(tokens, params) for tokens in out]
        return [answers[i:i + params.n] for i in range(0, len(rows), params.n)]

    @torch.inference_mode()
    def logprobs(self, prompts: Sequence[Sequence[Message]], answers: Sequence[str]) -> list[CompletionLogprobs]:
        """Log-probabilities of each answer's tokens after its prompt, as a chat model is trained on
        them (`chat_completion_ids`). Answers to the same prompt are packed after one copy of it
        (`packed_logprobs`); a forward pass holds at most `batch_size` prompts and PACKED_TOKENS
        answer tokens."""
        split = [chat_completion_ids(self.tokenizer, p, a) for p, a in zip(prompts, answers, strict=True)]
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, (prompt_ids, _) in enumerate(split):
            groups.setdefault(tuple(prompt_ids), []).append(i)
        scored: list[CompletionLogprobs | None] = [None] * len(split)
        for batch in _packed_batches(groups, [len(answer) for _, answer in split], self.batch_size):
            per_group = packed_logprobs(self.model, [(list(p), [split[i][1] for i in mine]) for p, mine in batch])
            for (_, mine), per_answer in zip(batch, per_group):
                for i, logp in zip(mine, per_answer):
                    scored[i] = CompletionLogprobs(token_ids=tuple(split[i][1]), per_token=tuple(logp.float().tolist()))
        return scored  # type: ignore[return-value]

    def _completion(self, row: list[int], params: SamplingParams) -> Completion:
        end = next((i for i, t in enumerate(row) if t in self._eos_ids), None)
        ids = row if end is None else row[:end]
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        stopped = end is not None
        for s in params.stop:
            if s in text:
                text, stopped = text[: text.index(s)], True
        return Completion(text=text, token_ids=tuple(ids), finish_reason="stop" if stopped else "length")


# A prefill bucket ends where the next (longer) prompt would add more than this many padding tokens
# to it: a forward pass costs about as much as this many prompt tokens (~40 ms on 2 CPU cores).
PREFILL_PADDING = 128


def prefill_buckets(lengths: Sequence[int], padding: int = PREFILL_PADDING) -> list[list[int]]:
    """Row indices grouped for prefill: sorted by prompt length, and split where padding every row so
    far to the next prompt's length would add more than `padding` tokens."""
    buckets: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        if buckets and (lengths[i] - lengths[buckets[-1][-1]]) * len(buckets[-1]) <= padding:
            buckets[-1].append(i)
        else:
            buckets.append([i])
    return buckets


def decode(model, prompts: Sequence[Sequence[int]], params: SamplingParams, row_seeds: Sequence[int],
           eos_ids: set[int], pad_id: int, stopped: Callable[[list[int]], bool] | None = None,
           prefixes: PrefixCache | None = None, batch_size: int | None = None) -> list[list[int]]:
    """The generated token ids of each prompt (its end-of-sequence token included when it ends on one).

    Our own decoding loop rather than `model.generate`, which pads every prompt to the longest one and
    keeps decoding every row until the last one ends (finished rows emit padding). Here at most
    `batch_size` rows decode at once [default: all]: prompts are taken in order of length, those
    with like lengths still to prefill are prefilled together (`prefill_buckets`) and their caches
    joined, left-padded, into the batch; a row ends at end of sequence, a stop string or
    `max_new_tokens`, and once a quarter of the batch has ended, the ended rows leave it, cache columns
    that only padding still uses are cut, and the next prompts are prefilled and join it. The
    continuous batching of transformers (`generate_batch`) also drops finished rows and admits new
    ones, but takes no per-row seeded sampler, which the engine's reproducibility rests on (see
    SeededSampler).

    With `prefixes`, a row that continues a row kept there (`PrefixCache.take`) prefills only the rest
    of its prompt, and every row that ends is kept there, for a later call's rows that continue it.
    """
    device = next(model.parameters()).device
    reused = prefixes.take(prompts) if prefixes is not None else [NO_PREFIX] * len(prompts)
    batch_size = batch_size or len(prompts)
    # Rows of like length decode together, so that fewer cache columns are padding (an attention step
    # costs as much for a padding column as for a token); next at the end.
    waiting = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))[::-1]
    sampler = SeededSampler(params, []) if params.temperature > 0 else None
    generated: list[list[int]] = [[] for _ in prompts]
    cache, mask, scores = None, None, None
    alive: list[int] = []  # the prompt index of each batch row
    # Rows that have ended stay in the batch (computed, their output ignored) until a quarter of it has
    # ended: dropping rows copies the whole cache, which costs more than a few steps of them.
    ended: list[bool] = []
    while waiting or len(alive):
        if waiting and len(alive) <= batch_size - max(1, batch_size // 4):
            rows = [waiting.pop() for _ in range(min(len(waiting), batch_size - len(alive)))]
            parts, logits, order = _prefill(model, [prompts[i] for i in rows], [reused[i] for i in rows], pad_id, device)
            rows = [rows[j] for j in order]
            cache, mask = _joined(parts if cache is None else [(cache, mask), *parts])
            alive += rows
            ended += [False] * len(rows)
            scores = logits if scores is None else torch.cat([scores, logits])
            if sampler is not None:
                sampler.add([row_seeds[i] for i in rows])
        tokens = sampler(scores) if sampler is not None else scores.argmax(-1)
        for row, (i, token) in enumerate(zip(alive, tokens.tolist())):
            if ended[row]:
                continue
            generated[i].append(token)
            ended[row] = (token in eos_ids or len(generated[i]) == params.max_new_tokens
                          or (stopped is not None and stopped(generated[i])))
            if ended[row] and prefixes is not None:  # its cache holds the prompt and every generated token but the last (never fed)
                columns = mask[row].nonzero()[:, 0]
                prefixes.add(prompts[i], [*prompts[i], *generated[i][:-1]],
                             tuple((layer.keys[row][:, columns], layer.values[row][:, columns]) for layer in cache.layers))
        if sum(ended) >= max(1, len(alive) // 4):
            going = [row for row, done in enumerate(ended) if not done]
            keep = torch.tensor(going, dtype=torch.long, device=device)
            alive, tokens, mask, ended = [alive[row] for row in going], tokens[keep], mask[keep], [False] * len(going)
            if sampler is not None:
                sampler.keep(going)
            if not going:
                cache, mask, scores = None, None, None
                continue
            cache.batch_select_indices(keep)
            unused = int((mask.sum(0) == 0).sum())  # leading columns of padding only
            if unused:
                for layer in cache.layers:
                    layer.trim(unused)
                mask = mask[:, unused:]
        positions = mask.sum(-1, keepdim=True)  # each row's tokens so far: the new token's position
        mask = torch.cat([mask, mask.new_ones((len(alive), 1))], dim=-1)
        scores = model(input_ids=tokens[:, None].to(device), attention_mask=mask, position_ids=positions,
                       cache=cache, use_cache=True).logits[:, -1].float()
    return generated


def _prefill(model, prompts: Sequence[Sequence[int]], reused: Sequence[Prefix], pad_id: int, device
             ) -> tuple[list[tuple[Cache, torch.Tensor]], torch.Tensor, list[int]]:
    """(cache, attention mask) of each prefill bucket of the prompts, the last position's logits of
    every prompt, and the prompts' indices, all in the buckets' order."""
    parts, logits, order = [], [], []
    for bucket in prefill_buckets([len(p) - r.length for p, r in zip(prompts, reused)]):
        kept = max(reused[i].length for i in bucket)
        width = max(len(prompts[i]) - reused[i].length for i in bucket)
        # A row's columns: its kept prefix, then the rest of its prompt, each block left-padded.
        ids = torch.full((len(bucket), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(bucket), kept + width), dtype=torch.long)
        for row, i in enumerate(bucket):
            rest = prompts[i][reused[i].length:]
            ids[row, width - len(rest):] = torch.tensor(rest)
            mask[row, kept - reused[i].length:kept] = 1
            mask[row, kept + width - len(rest):] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, kept:]
        # filled in place by the forward pass
        cache = DynamicCache(ddp_cache_data=_left_padded([reused[i] for i in bucket], kept)) if kept else DynamicCache()
        out = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device),
                    cache=cache, use_cache=True, logits_to_keep=1)
        parts.append((cache, mask.to(device)))
        logits.append(out.logits[:, -1].float())
        order += bucket
    return parts, torch.cat(logits), order


def _joined(parts: Sequence[tuple[Cache, torch.Tensor]]) -> tuple[Cache, torch.Tensor]:
    """One batch of the parts' rows, in order, each part's cache and mask left-padded to the widest."""
    width = max(mask.shape[1] for _, mask in parts)
    cache = Cache(layers=[
        InPlaceLayer(*(torch.cat([F.pad(getattr(c.layers[layer], kind), (0, 0, width - m.shape[1], 0)) for c, m in parts])
                       for kind in ("keys", "values")))
        for layer in range(len(parts[0][0].layers))])
    return cache, torch.cat([F.pad(m, (width - m.shape[1], 0)) for _, m in parts])


class InPlaceLayer(DynamicLayer):
    """A layer of the decoding batch's cache that writes each step's keys and values into spare columns
    of a larger buffer, where transformers' DynamicLayer concatenates: `torch.cat` copies the whole
    cache at every step, which costs the more the wider the cache (an arithmetic retry's is about twice
    a first attempt's). `keys` and `values` stay views of the columns in use, as DynamicLayer's
    methods read them."""

    ROOM = 32  # spare columns allocated each time the buffer is full

    def __init__(self, keys: torch.Tensor, values: torch.Tensor):
        super().__init__()
        self.dtype, self.device, self.is_initialized = keys.dtype, keys.device, True
        self._allocate(keys, values)

    def _allocate(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        self.buffers = [t.new_empty((*t.shape[:-2], t.shape[-2] + self.ROOM, t.shape[-1])) for t in (keys, values)]
        for buffer, t in zip(self.buffers, (keys, values)):
            buffer[..., :t.shape[-2], :] = t
        self.start, self.end = 0, keys.shape[-2]
        self._view()

    def _view(self) -> None:
        self.keys, self.values = (buffer[..., self.start:self.end, :] for buffer in self.buffers)

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        new = key_states.shape[-2]
        if self.end + new > self.buffers[0].shape[-2]:
            self._allocate(self.keys, self.values)
        for buffer, t in zip(self.buffers, (key_states, value_states)):
            buffer[..., self.end:self.end + new, :] = t
        self.end += new
        self._view()
        return self.keys, self.values

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self._allocate(self.keys[indices], self.values[indices])

    def trim(self, columns: int) -> None:
        """Drop the first `columns` columns (which only padding used)."""
        self.start += columns
        self._view()


@dataclass(frozen=True)
class Prefix:
    """The keys and values of a row's first `length` tokens: a (keys, values) pair per layer, each
    heads x length x head_dim."""

    length: int = 0
    layers: tuple[tuple[torch.Tensor, torch.Tensor], ...] = ()


NO_PREFIX = Prefix()


def _left_padded(prefixes: Sequence[Prefix], width: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per layer, the (keys, values) of a batch whose row j holds prefixes[j], left-padded with zeros
    to `width` columns (at least one prefix is not empty)."""
    shape = next(p for p in prefixes if p.length).layers
    return [tuple(torch.stack([F.pad(p.layers[layer][kind], (0, 0, width - p.length, 0)) if p.length
                               else like.new_zeros((like.shape[0], width, like.shape[2])) for p in prefixes])
                  for kind, like in enumerate(shape[layer]))
            for layer in range(len(shape))]


# Keys and values kept across calls, at most this many bytes (oldest first out): more than two calls
# of 256 rows of 80 tokens hold for SmolLM2-135M in float32 (46 kB a token).
PREFIX_CACHE_BYTES = 2 << 30
# A kept row is dropped once this many later calls have not continued it: a conversation continues in
# the next call, or in the one after where one model plays both sides.
PREFIX_CALLS = 2


@dataclass
class _KeptRow:
    call: int  # the `PrefixCache.take` call it was kept after
    prompt: tuple[int, ...]
    tokens: tuple[int, ...]  # the tokens whose keys and values `layers` holds: the prompt, then the answer
    layers: tuple[tuple[torch.Tensor, torch.Tensor], ...]
    nbytes: int


class PrefixCache:
    """The keys and values of rows that ended in earlier calls, for the rows that continue them.

    A conversation's next prompt (an arithmetic retry, a dialogue's next turn) starts with the
    previous prompt and the answer given to it; a row that continues a kept row prefills only what
    follows their common prefix, as vLLM's automatic prefix caching does. Written here because
    transformers keeps no cache across `generate` calls. A row is found by its prompt: a new prompt
    continues, of the kept rows whose prompt starts it, the one sharing the most tokens with it
    (a re-tokenized answer can differ from the sampled tokens, so the common prefix may stop inside
    the answer). A kept row is dropped once continued (its continuation is kept after the call), and
    one not continued within PREFIX_CALLS calls, or beyond `max_bytes` (oldest first).
    """

    def __init__(self, max_bytes: int = PREFIX_CACHE_BYTES):
        self.max_bytes, self.bytes = max_bytes, 0
        self.rows: OrderedDict[int, _KeptRow] = OrderedDict()
        self.by_prompt: dict[tuple[int, ...], set[int]] = {}
        self.added, self.calls = 0, 0
        self.reused_tokens = 0  # prompt tokens not prefilled again, over all calls: benchmarks print it

    def add(self, prompt: Sequence[int], tokens: Sequence[int], layers: tuple[tuple[torch.Tensor, torch.Tensor], ...]) -> None:
        kept = _KeptRow(self.calls, tuple(prompt), tuple(tokens), layers, sum(k.nbytes + v.nbytes for k, v in layers))
        if kept.nbytes > self.max_bytes:
            return
        self.rows[self.added] = kept
        self.by_prompt.setdefault(kept.prompt, set()).add(self.added)
        self.added += 1
        self.bytes += kept.nbytes
        while self.bytes > self.max_bytes:
            self._drop(next(iter(self.rows)))

    def take(self, prompts: Sequence[Sequence[int]]) -> list[Prefix]:
        """For each prompt, the kept prefix it continues (at most all its tokens but the last, whose
        logits start the decoding; NO_PREFIX where none), taken out of the cache."""
        self.calls += 1
        while self.rows and self.rows[next(iter(self.rows))].call < self.calls - PREFIX_CALLS:
            self._drop(next(iter(self.rows)))
        lengths = sorted({len(p) for p in self.by_prompt})
        found, used = [], set()
        for prompt in prompts:
            best, shared = None, 0
            for length in lengths:
                if length >= len(prompt):
                    break
                for kept in self.by_prompt.get(tuple(prompt[:length]), ()):
                    n = _common_prefix(prompt, self.rows[kept].tokens)
                    if n > shared:
                        best, shared = kept, n
            shared = min(shared, len(prompt) - 1)
            if best is None or shared == 0:
                found.append(NO_PREFIX)
                continue
            used.add(best)
            found.append(Prefix(shared, tuple((k[:, :shared], v[:, :shared]) for k, v in self.rows[best].layers)))
            self.reused_tokens += shared
        for kept in used:
            self._drop(kept)
        return found

    def _drop(self, kept: int) -> None:
        row = self.rows.pop(kept)
        self.bytes -= row.nbytes
        self.by_prompt[row.prompt].discard(kept)
        if not self.by_prompt[row.prompt]:
            del self.by_prompt[row.prompt]


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


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
    shared = _common_prefix(prompt_ids, full)
    return list(full[:shared]), list(full[shared:])


# Answer tokens per forward pass of `logprobs`: each needs a row of the vocabulary projection (2048 x
# 49,152 floats is 400 MB for SmolLM2), and one prompt's packed answers are cut at a quarter of it so
# no row grows long (attention costs the square of a row's length).
PACKED_TOKENS = 2048


def _packed_batches(groups: dict[tuple[int, ...], list[int]], lengths: list[int], batch_size: int
                    ) -> list[list[tuple[tuple[int, ...], list[int]]]]:
    """Batches of (prompt, the indices of answers packed after it): at most `batch_size` prompts and
    PACKED_TOKENS answer tokens a batch (a longer single answer goes alone)."""
    chunks = []
    for prompt, mine in groups.items():
        chunk: list[int] = []
        for i in mine:
            if chunk and sum(lengths[j] for j in chunk) + lengths[i] > PACKED_TOKENS // 4:
                chunks.append((prompt, chunk))
                chunk = []
            chunk.append(i)
        chunks.append((prompt, chunk))
    batches: list[list[tuple[tuple[int, ...], list[int]]]] = [[]]
    tokens = 0
    for prompt, chunk in chunks:
        size = sum(lengths[i] for i in chunk)
        if batches[-1] and (len(batches[-1]) == batch_size or tokens + size > PACKED_TOKENS):
            batches.append([])
            tokens = 0
        batches[-1].append((prompt, chunk))
        tokens += size
    return [b for b in batches if b]


def packed_logprobs(model, groups: Sequence[tuple[list[int], list[list[int]]]]) -> list[list[torch.Tensor]]:
    """Per-token log-probabilities (a tensor per answer; with gradients where autograd is on) of
    several answers to one prompt, for every group (prompt tokens, answers' tokens).

    The answers are packed after one copy of their prompt, each attending to the prompt and to itself
    only (a 4-D attention mask; each answer's positions continue from the prompt's end), so n moves of
    a position cost one prompt, not n; only the positions that predict an answer token go through the
    vocabulary projection. Rows are right-padded; a padding position attends to itself alone.
    """
    packed = []
    for prompt, answers in groups:
        ids, positions, spans = list(prompt), list(range(len(prompt))), []
        for answer in answers:
            spans.append((len(ids), len(answer)))
            ids += answer
            positions += range(len(prompt), len(prompt) + len(answer))
        packed.append((ids, positions, spans, len(prompt)))
    width, batch = max(len(ids) for ids, *_ in packed), len(packed)
    input_ids = torch.zeros((batch, width), dtype=torch.long)
    position_ids = torch.zeros((batch, width), dtype=torch.long)
    allowed = torch.zeros((batch, 1, width, width), dtype=torch.bool)
    causal = torch.ones((width, width), dtype=torch.bool).tril()
    for b, (ids, positions, spans, prompt_len) in enumerate(packed):
        input_ids[b, :len(ids)] = torch.tensor(ids)
        position_ids[b, :len(ids)] = torch.tensor(positions)
        allowed[b, 0, :prompt_len, :prompt_len] = causal[:prompt_len, :prompt_len]
        for start, n in spans:
            allowed[b, 0, start:start + n, :prompt_len] = True
            allowed[b, 0, start:start + n, start:start + n] = causal[:n, :n]
        pads = torch.arange(len(ids), width)
        allowed[b, 0, pads, pads] = True
    # Position p predicts token p + 1 (an answer's first token is predicted by the prompt's last
    # position); only those positions of each row go through the vocabulary projection.
    keep = torch.zeros((batch, width), dtype=torch.bool)
    for b, (_, _, spans, prompt_len) in enumerate(packed):
        keep[b, prompt_len - 1] = True
        for start, n in spans:
            keep[b, start:start + n - 1] = True
    row_of = torch.cumsum(keep.flatten(), 0).view(batch, width) - 1  # (b, p) -> its row of the kept logits
    device = next(model.parameters()).device
    logits = model(input_ids=input_ids.to(device), attention_mask=allowed.to(device),
                   position_ids=position_ids.to(device), logits_to_keep=keep.to(device)).logits
    logp = torch.log_softmax(logits.float(), dim=-1)
    out = []
    for b, (_, _, spans, prompt_len) in enumerate(packed):
        mine = []
        for start, n in spans:
            sources = torch.cat([row_of[b, prompt_len - 1:prompt_len], row_of[b, start:start + n - 1]]).to(device)
            targets = input_ids[b, start:start + n].to(device)
            mine.append(logp[sources].gather(-1, targets.unsqueeze(-1)).squeeze(-1))
        out.append(mine)
    return out


def answers_token_logprobs(model, tokenizer, groups: Sequence[tuple[Sequence[dict[str, str]], Sequence[str]]]
                           ) -> list[list[torch.Tensor]]:
    """`packed_logprobs` of chat-format groups (prompt messages as dicts, answers as text), tokenized as
    `chat_completion_ids` splits them, the very tokens `Backend.logprobs` scores: what the custom
    training losses (sparring/recipes/training.py `train_loop`) differentiate."""
    tokenized = []
    for prompt, answers in groups:
        messages = [Message(m["role"], m["content"]) for m in prompt]
        splits = [chat_completion_ids(tokenizer, messages, a) for a in answers]
        if any(shared != splits[0][0] for shared, _ in splits):
            raise ValueError("answers to one prompt split it differently; score them one by one")
        tokenized.append((splits[0][0], [answer for _, answer in splits]))
    return packed_logprobs(model, tokenized)


class SeededSampler:
    """Draws each row's next token from its own random stream, by the Gumbel-max trick.

    argmax(scores + Gumbel noise) is a draw from softmax(scores). transformers' sampling draws every
    row of a batch from one global stream, so a row's sample depends on the rest of its batch and on
    call order; here row i's noise at step t depends only on its own seed and t, and a resumed run,
    whose batches hold other episodes, draws the same samples as an uninterrupted one.

    Temperature, top-k and top-p are applied to the k likeliest tokens only (`torch.topk`), not the
    whole vocabulary: transformers' warpers each pass over all 49,152 scores of every row, which cost
    about a third of a decoding step on CPU. top-p keeps the likeliest tokens until their probability
    reaches p (the one that crosses p included), as transformers' TopPLogitsWarper does.
    """

    def __init__(self, params: SamplingParams, row_seeds: Sequence[int]):
        self.params = params
        self.generators = [torch.Generator().manual_seed(seed) for seed in row_seeds]

    def keep(self, rows: Sequence[int]) -> None:
        """Only these rows stay in the batch (in this order)."""
        self.generators = [self.generators[row] for row in rows]

    def add(self, row_seeds: Sequence[int]) -> None:
        """Rows with these seeds join the batch, after the rows in it."""
        self.generators += [torch.Generator().manual_seed(seed) for seed in row_seeds]

    def __call__(self, scores: torch.Tensor) -> torch.Tensor:
        """The token drawn for each row of `scores` (batch x vocabulary logits)."""
        params = self.params
        if params.top_k > 0:
            values, ids = scores.topk(min(params.top_k, scores.shape[-1]), dim=-1)
        elif params.top_p < 1.0:
            values, ids = scores.sort(dim=-1, descending=True)
        else:
            values, ids = scores, None
        values = values.float() / params.temperature
        if params.top_p < 1.0:
            probs = values.softmax(-1)
            values = values.masked_fill(probs.cumsum(-1) - probs >= params.top_p, -torch.inf)
        uniform = torch.stack([torch.rand(values.shape[-1], generator=g) for g in self.generators]).to(values.device)
        picks = (values - torch.log(-torch.log(uniform.clamp(min=1e-20, max=1.0 - 1e-7)))).argmax(-1)
        return picks if ids is None else ids.gather(-1, picks[:, None])[:, 0]
