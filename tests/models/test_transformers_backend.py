from pathlib import Path

import pytest

from sparring.errors import SparringError
from sparring.models import BACKENDS, load_backend
from sparring.models.paths import check_model
from sparring.harness.fake_server import FakeServer
from sparring.models.openai_backend import ServerConfig
from sparring.models.transformers_backend import TransformersBackend, load_tokenizer
from sparring.models.vllm_backend import VLLMConfig
from sparring.types import Message, SamplingParams

SHORT = [Message("user", "hi")]
LONG = [Message("system", "You are a very careful assistant who answers in full sentences."),
        Message("user", "Please tell me about the weather in the mountains in winter.")]


def test_left_padding_leaves_each_greedy_answer_unchanged(tiny_backend):
    greedy = SamplingParams(temperature=0, max_new_tokens=6)
    alone = tiny_backend.generate([SHORT], greedy)[0][0]
    batched = tiny_backend.generate([LONG, SHORT, LONG], greedy)[1][0]
    assert batched.token_ids == alone.token_ids and len(alone.token_ids) == 6
    assert alone.finish_reason == "length"


def test_n_samples_per_prompt_in_prompt_order_and_seeded(tiny_backend):
    params = SamplingParams(temperature=1.0, max_new_tokens=5, n=3, seed=7)
    first = tiny_backend.generate([SHORT, LONG], params)
    assert [len(c) for c in first] == [3, 3]
    assert len({c.token_ids for c in first[0]}) > 1  # samples differ
    assert tiny_backend.generate([SHORT, LONG], params) == first  # same seed, same samples


def test_batches_larger_than_batch_size_are_split_inside_one_call(tiny_model):
    backend = TransformersBackend(tiny_model, dtype="float32", batch_size=4)
    out = backend.generate([SHORT] * 10, SamplingParams(temperature=0, max_new_tokens=2))
    assert len(out) == 10 and backend.generate_calls == 1
    assert len({c[0].token_ids for c in out}) == 1


def test_prefill_buckets_split_where_padding_would_cost_more_than_a_pass():
    from sparring.models.transformers_backend import prefill_buckets

    # sorted: 10, 12, 20 (pads 2 + 8x2 = 18 <= 20), then 100 would pad three rows by 80: a new bucket
    assert prefill_buckets([20, 100, 10, 12, 101], padding=20) == [[2, 3, 0], [1, 4]]
    assert prefill_buckets([5, 5, 5], padding=0) == [[0, 1, 2]]
    assert prefill_buckets([], padding=20) == []


def test_decoding_matches_transformers_generate_and_each_row_stops_on_its_own(lively_model, monkeypatch):
    import torch

    from sparring.models.transformers_backend import InPlaceLayer, decode

    monkeypatch.setattr(InPlaceLayer, "ROOM", 5)  # the cache's buffers fill up and grow during the 12 steps
    backend = TransformersBackend(lively_model, dtype="float32")
    long_system = Message("system", " ".join(["You are a very careful assistant."] * 40))
    prompts = [SHORT, [long_system, *LONG], LONG, [long_system, *SHORT]]
    texts = [backend.render(p) for p in prompts]
    enc = backend.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.inference_mode():
        out = backend.model.generate(**enc, do_sample=False, max_new_tokens=12, pad_token_id=backend.tokenizer.pad_token_id)
    reference = out[:, enc["input_ids"].shape[1]:].tolist()
    assert len({tuple(r) for r in reference}) == 4
    ids = backend.tokenizer(texts, add_special_tokens=False)["input_ids"]
    greedy = SamplingParams(temperature=0, max_new_tokens=12)
    with torch.inference_mode():
        assert decode(backend.model, ids, greedy, [0] * 4, set(), backend.tokenizer.pad_token_id) == reference
        # a row ends at its first end-of-sequence token, at a different step in each row; once both long
        # prompts have ended, the columns only their padding used are cut
        eos = {reference[1][3], reference[2][6], reference[3][2]}
        ended = decode(backend.model, ids, greedy, [0] * 4, eos, backend.tokenizer.pad_token_id)
    cut = [row[:next((i + 1 for i, t in enumerate(row) if t in eos), len(row))] for row in reference]
    assert ended == cut and len({len(row) for row in cut}) > 1


def test_a_sampled_row_is_the_same_alone_as_in_a_batch_whose_rows_end_or_join_around_it(lively_model):
    import torch

    from sparring.models.transformers_backend import decode

    backend = TransformersBackend(lively_model, dtype="float32")
    long_system = Message("system", " ".join(["You are a very careful assistant."] * 40))
    prompts = [SHORT, [long_system, *LONG], LONG, [long_system, *SHORT], SHORT]
    ids = backend.tokenizer([backend.render(p) for p in prompts], add_special_tokens=False)["input_ids"]
    params, seeds, pad = SamplingParams(temperature=1.0, top_k=20, max_new_tokens=12), [3, 4, 5, 6, 7], backend.tokenizer.pad_token_id
    with torch.inference_mode():
        free = decode(backend.model, ids, params, seeds, set(), pad)
        eos = {free[1][2], free[3][4]}  # rows leave the batch at different steps
        together = decode(backend.model, ids, params, seeds, eos, pad)
        alone = [decode(backend.model, [p], params, [s], eos, pad)[0] for p, s in zip(ids, seeds)]
        # two rows at a time: the next prompts join as rows end, into a batch whose cache is wider
        refilled = decode(backend.model, ids, params, seeds, eos, pad, batch_size=2)
    assert together == alone == refilled and len({len(row) for row in together}) > 1
    assert together[0] != together[4]  # the same prompt, another seed


def test_stop_strings_end_a_row_and_are_cut_from_its_text(lively_model):
    backend = TransformersBackend(lively_model, dtype="float32")
    greedy = SamplingParams(temperature=0, max_new_tokens=12)
    full = backend.generate([LONG], greedy)[0][0]
    stop = full.text[4:6]
    stopped = backend.generate([LONG], SamplingParams(temperature=0, max_new_tokens=12, stop=(stop,)))[0][0]
    assert stopped.finish_reason == "stop" and stopped.text == full.text[:full.text.index(stop)]
    assert len(stopped.token_ids) < len(full.token_ids)


def test_missing_model_paths_are_clear_errors(tmp_path):
    with pytest.raises(SparringError, match="does not exist"):
        check_model(str(tmp_path / "nope"))
    with pytest.raises(SparringError, match="no config.json"):
        check_model(str(tmp_path))
    check_model("HuggingFaceTB/SmolLM2-135M-Instruct")  # a hub id is left to transformers


@pytest.fixture
def backend_of(tiny_model):
    """Each registered backend on the tiny model: in this process, or behind the fake server (the
    served ones: test_served.py and test_vllm_backend.py check them against real servers)."""
    servers = []

    def make(name: str):
        if name == "transformers":
            return load_backend(name, tiny_model, dtype="float32", batch_size=3)
        fake = FakeServer(model=str(Path(tiny_model).resolve()), tokenizer=load_tokenizer(tiny_model))
        servers.append(fake)
        if name == "openai":
            return load_backend(name, "served:fake", server=ServerConfig(
                model=fake.model, base_url=fake.base_url, api_key_env="", tokenizer=tiny_model), where="servers.fake")
        if name == "vllm":
            return load_backend(name, tiny_model, dtype="float32", vllm=VLLMConfig(base_url=fake.base_url))
        raise AssertionError(f"backend {name!r} is registered: say here how the tests build it")

    yield make
    for fake in servers:
        fake.close()


@pytest.mark.parametrize("name", BACKENDS.ids())
def test_every_backend_samples_each_prompt_independently_of_its_batch(name, backend_of):
    backend = backend_of(name)
    params = SamplingParams(temperature=1.0, max_new_tokens=6, n=2)
    prompts, seeds = [SHORT, LONG, SHORT, LONG, SHORT], [11, 12, 13, 14, 15]
    together = backend.generate(prompts, params, seeds)
    alone = [backend.generate([p], params, [s])[0] for p, s in zip(prompts, seeds)]
    assert [[c.token_ids for c in cs] for cs in together] == [[c.token_ids for c in cs] for cs in alone]
    assert together[0][0].token_ids != together[0][1].token_ids  # the n samples of a prompt differ
    assert together[0] != together[2]  # so do equal prompts with other seeds


def test_dtype_auto_picks_bf16_only_where_the_cpu_computes_it(monkeypatch):
    from sparring.models import precision

    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx512f", "avx512_vnni"})
    assert precision.resolve_dtype("auto") == ("float32", precision.resolve_dtype("auto")[1])
    assert "bf16 would be emulated" in precision.resolve_dtype("auto")[1]
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx512f", "amx_bf16"})
    assert precision.resolve_dtype("auto") == ("bfloat16", "auto: the CPU has amx_bf16")
    assert precision.resolve_dtype("float32") == ("float32", "set in the config")


def _draws(params, logits, rows=4000):
    import torch

    from sparring.models.transformers_backend import SeededSampler

    picks = SeededSampler(params, range(rows))(logits.repeat(rows, 1))
    assert torch.equal(SeededSampler(params, range(rows))(logits.repeat(rows, 1)), picks)  # same seeds, same draws
    return (torch.bincount(picks, minlength=logits.shape[-1]).float() / rows).tolist()


def test_seeded_sampling_draws_from_the_softmax_of_what_top_k_and_top_p_keep():
    import math

    import torch

    logits = torch.tensor([[math.log(2), 0.0, -math.inf, math.log(5)]])  # p = 2/8, 1/8, 0, 5/8
    assert _draws(SamplingParams(temperature=1.0, top_k=0), logits) == pytest.approx([2 / 8, 1 / 8, 0, 5 / 8], abs=0.03)
    # temperature 2 takes the square root of the odds: sqrt(2), 1, 0, sqrt(5) over their sum
    odds = [math.sqrt(2), 1.0, 0.0, math.sqrt(5)]
    assert _draws(SamplingParams(temperature=2.0, top_k=0), logits) == pytest.approx([o / sum(odds) for o in odds], abs=0.03)
    # top-k 2 keeps 5 and 2: 5/7, 2/7
    assert _draws(SamplingParams(temperature=1.0, top_k=2), logits) == pytest.approx([2 / 7, 0, 0, 5 / 7], abs=0.03)
    # top-p 0.7: 5/8 is below 0.7, so the next one (2/8) is kept too; 1/8 is not
    assert _draws(SamplingParams(temperature=1.0, top_k=0, top_p=0.7), logits) == pytest.approx([2 / 7, 0, 0, 5 / 7], abs=0.03)
    # top-p 0.6: 5/8 alone reaches it
    assert _draws(SamplingParams(temperature=1.0, top_k=3, top_p=0.6), logits) == pytest.approx([0, 0, 0, 1.0])


def _direct_logprobs(backend, prompt, answer):
    """Log-probabilities of the answer's tokens from one unpadded forward pass, by hand."""
    import torch

    from sparring.models.transformers_backend import chat_completion_ids

    prompt_ids, answer_ids = chat_completion_ids(backend.tokenizer, prompt, answer)
    with torch.no_grad():
        logits = backend.model(torch.tensor([prompt_ids + answer_ids])).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    return [logp[len(prompt_ids) + i - 1, t].item() for i, t in enumerate(answer_ids)]


def test_logprobs_of_given_answers_match_a_direct_forward_pass_whatever_the_batch(tiny_model):
    backend = TransformersBackend(tiny_model, dtype="float32", batch_size=2)  # 3 rows: two batches
    prompts, answers = [SHORT, LONG, SHORT], ["Answer: 5", "no", "a much longer answer than the others"]
    scored = backend.logprobs(prompts, answers)
    for prompt, answer, got in zip(prompts, answers, scored):
        expected = _direct_logprobs(backend, prompt, answer)
        assert got.per_token == pytest.approx(expected, abs=1e-4)
        assert got.total == pytest.approx(sum(expected), abs=1e-3) and got.total < 0
        # the answer's tokens end with the chat template's end of turn, as a trainer sees them
        assert backend.tokenizer.decode(got.token_ids).startswith(answer) and "<|im_end|>" in backend.tokenizer.decode(
            got.token_ids)
    alone = backend.logprobs([SHORT], ["Answer: 5"])[0]  # the same alone as beside longer rows
    assert alone.token_ids == scored[0].token_ids and alone.per_token == pytest.approx(scored[0].per_token, abs=1e-5)


def test_answer_tokens_are_those_trls_dpo_trainer_scores(tiny_model, tmp_path):
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer
    from transformers import AutoModelForCausalLM

    from sparring.models.transformers_backend import chat_completion_ids, load_tokenizer

    tokenizer = load_tokenizer(tiny_model)
    row = {"prompt": [{"role": "user", "content": "2+3?"}], "chosen": [{"role": "assistant", "content": "5"}],
           "rejected": [{"role": "assistant", "content": "six"}]}
    trainer = DPOTrainer(model=AutoModelForCausalLM.from_pretrained(tiny_model), processing_class=tokenizer,
                         args=DPOConfig(output_dir=str(tmp_path), use_cpu=True, report_to=[], bf16=False),
                         train_dataset=Dataset.from_list([row]))
    tokenized = trainer.train_dataset[0]
    prompt = [Message("user", "2+3?")]
    assert chat_completion_ids(tokenizer, prompt, "5") == (tokenized["prompt_ids"], tokenized["chosen_ids"])
    assert chat_completion_ids(tokenizer, prompt, "six")[1] == tokenized["rejected_ids"]


def test_packed_batches_keep_to_the_prompt_and_token_budgets(monkeypatch):
    from sparring.models import transformers_backend as tb

    monkeypatch.setattr(tb, "PACKED_TOKENS", 16)  # at most 4 answer tokens packed after one prompt, 16 a batch
    groups = {(1,): [0, 1, 2], (2,): [3], (3,): [4]}
    lengths = [2, 2, 3, 20, 1]
    # prompt 1's answers: 2 + 2 fit in 4, the third starts a chunk; answer 3 is too long to share a batch
    assert tb._packed_batches(groups, lengths, batch_size=8) == [[((1,), [0, 1]), ((1,), [2])], [((2,), [3])],
                                                                 [((3,), [4])]]
    assert tb._packed_batches(groups, lengths, batch_size=1)[:2] == [[((1,), [0, 1])], [((1,), [2])]]


def test_many_answers_to_one_prompt_score_as_each_alone(tiny_model, monkeypatch):
    from sparring.models import transformers_backend as tb

    monkeypatch.setattr(tb, "PACKED_TOKENS", 40)
    backend = TransformersBackend(tiny_model, dtype="float32", batch_size=4)
    answers = [f"move {i}" for i in range(30)]
    scored = backend.logprobs([SHORT] * 30, answers)
    for i in (0, 13, 29):
        assert scored[i].per_token == pytest.approx(_direct_logprobs(backend, SHORT, answers[i]), abs=1e-4)


def test_a_continued_conversation_prefills_only_what_is_new_and_answers_as_without_the_cache(lively_model):
    from sparring.models.transformers_backend import PrefixCache

    reusing = TransformersBackend(lively_model, dtype="float32")
    fresh = TransformersBackend(lively_model, dtype="float32")
    fresh.prefixes = PrefixCache(max_bytes=0)  # keeps nothing: every call prefills every prompt whole
    params = SamplingParams(temperature=1.0, top_k=20, max_new_tokens=12)
    first = [LONG, SHORT]
    answers = [c[0] for c in reusing.generate(first, params, [1, 2])]
    assert answers == [c[0] for c in fresh.generate(first, params, [1, 2])]
    # each conversation goes on after its answer; a third prompt is new
    second = [[*p, Message("assistant", a.text), Message("user", "Try again.")] for p, a in zip(first, answers)] + [LONG]
    assert reusing.generate(second, params, [3, 4, 5]) == fresh.generate(second, params, [3, 4, 5])
    prompt_tokens = sum(len(reusing.tokenizer(reusing.render(p), add_special_tokens=False)["input_ids"]) for p in first)
    assert reusing.prefixes.reused_tokens >= prompt_tokens and fresh.prefixes.reused_tokens == 0


def test_the_prefix_cache_continues_the_row_sharing_most_tokens_once_and_forgets_old_rows():
    import torch

    from sparring.models.transformers_backend import PREFIX_CALLS, PrefixCache

    def layers(n):  # one layer, keys and values numbered by position
        kv = torch.arange(n, dtype=torch.float32).view(1, n, 1)
        return ((kv, kv.clone()),)

    cache = PrefixCache()
    cache.take([])
    cache.add([1, 2], [1, 2, 3, 4], layers(4))  # prompt 1 2, answer 3 4 (its last token never fed)
    cache.add([1, 2], [1, 2, 5], layers(3))
    cache.add([9], [9, 8], layers(2))
    found = cache.take([[1, 2, 3, 7, 7], [1, 2, 5, 6], [1, 2, 5], [9, 8], [4, 4]])
    # the most shared tokens; never the prompt's last token; a row continued once is gone
    assert [p.length for p in found] == [3, 3, 2, 1, 0]
    assert found[0].layers[0][0].flatten().tolist() == [0, 1, 2]
    assert cache.take([[1, 2, 3, 4, 5], [1, 2, 5, 6], [9, 8, 7]]) == [found[4]] * 3
    cache.add([1], [1, 2], layers(2))
    for _ in range(PREFIX_CALLS):
        cache.take([])
    assert cache.take([[1, 2, 3]])[0].length == 0 and not cache.rows  # not continued in time
    small = PrefixCache(max_bytes=2 * 3 * 4 * 2)  # room for two rows of 3 tokens
    for first in (1, 2, 3):
        small.add([first], [first, 0, 0], layers(3))
    assert [p.length for p in small.take([[1, 0, 0, 0], [2, 0, 0, 0], [3, 0, 0, 0]])] == [0, 3, 3]
