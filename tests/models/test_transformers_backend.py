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


def test_seeded_gumbel_sampling_draws_from_the_softmax():
    import math

    import torch

    from sparring.models.transformers_backend import SeededSampling

    rows = 4000
    logits = torch.tensor([[0.0, math.log(2), math.log(5), -math.inf]]).repeat(rows, 1)  # p = 1/8, 2/8, 5/8, 0
    picks = SeededSampling(range(rows))(None, logits).argmax(dim=-1)
    freqs = torch.bincount(picks, minlength=4).float() / rows
    assert torch.allclose(freqs, torch.tensor([1 / 8, 2 / 8, 5 / 8, 0.0]), atol=0.03)
    assert torch.equal(SeededSampling(range(rows))(None, logits).argmax(dim=-1), picks)  # same seeds, same draws


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
