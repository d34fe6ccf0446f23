"""The OpenAI-compatible backend against a small in-process server: requests, seeds, faults, bad input.
The same backend against a real server (`transformers serve`): tests/models/test_served.py."""

import json
import socket

import pytest

from sparring.engine import EpisodeSpec, run_missing
from sparring.errors import ConfigError, SparringError
from sparring.models import load_backend
from sparring.models.openai_backend import ServerConfig
from sparring.models.transformers_backend import chat_completion_ids, load_tokenizer
from sparring.policies import LLMPolicy
from sparring.seeds import derive_seed
from sparring.store import EpisodeStore
from sparring.types import Message, SamplingParams
from sparring.harness.fake_server import FakeServer

PROMPT = (Message("system", "Be brief."), Message("user", "Compute 2 + 3."))


@pytest.fixture
def fake(tiny_model):
    server = FakeServer(tokenizer=load_tokenizer(tiny_model))
    yield server
    server.close()


def backend_of(server, tokenizer=None, **settings):
    cfg = ServerConfig(model=server.model, base_url=server.base_url,
                       api_key_env="", tokenizer=tokenizer, **{"max_retries": 0, **settings})
    return load_backend("openai", "served:test", server=cfg, where="servers.test")


def test_each_row_is_one_request_with_the_rendered_prompt_and_its_own_seed(fake, tiny_model):
    backend = backend_of(fake, tokenizer=tiny_model)
    fake.bodies.clear()
    params = SamplingParams(temperature=0.7, top_p=0.9, max_new_tokens=9, n=2, stop=("\n",))
    out = backend.generate([PROMPT, PROMPT[1:]], params, seeds=[11, 12])
    assert [len(c) for c in out] == [2, 2] and all(c.text.startswith("Answer: ") for row in out for c in row)
    rendered = load_tokenizer(tiny_model).apply_chat_template(
        [{"role": m.role, "content": m.content} for m in PROMPT], add_generation_prompt=True, tokenize=False)
    assert rendered in [b["prompt"] for b in fake.bodies]  # the transformers backend's text, not the server's
    assert sorted(b["seed"] for b in fake.bodies) == sorted(derive_seed(s, j) % 2**31 for s in (11, 12) for j in (0, 1))
    assert {(b["max_tokens"], b["temperature"], b["top_p"], tuple(b["stop"])) for b in fake.bodies} == {(9, 0.7, 0.9, ("\n",))}
    assert backend.generate([PROMPT, PROMPT[1:]], params, seeds=[11, 12]) == out  # seeded rows reproduce
    assert out[0][0].token_ids == tuple(load_tokenizer(tiny_model).encode(out[0][0].text, add_special_tokens=False))


def test_without_a_tokenizer_the_messages_go_to_the_chat_endpoint(fake):
    backend = backend_of(fake)
    fake.bodies.clear()
    [[answer]] = backend.generate([PROMPT], SamplingParams(temperature=0.0, max_new_tokens=5))
    assert answer.text.startswith("Answer: ") and answer.token_ids == ()
    assert fake.bodies[0]["messages"] == [{"role": "system", "content": "Be brief."},
                                          {"role": "user", "content": "Compute 2 + 3."}]
    assert backend.provenance()["prompt"] == "the server's chat template"


def test_provenance_names_the_server_the_model_its_fingerprint_and_measured_reproducibility(fake, monkeypatch):
    monkeypatch.setenv("SPARRING_TEST_KEY", "sk-very-secret")
    cfg = ServerConfig(model="fake", base_url=fake.base_url, api_key_env="SPARRING_TEST_KEY")
    backend = load_backend("openai", "served:test", server=cfg)
    seen = backend.provenance()
    assert seen["server"] == fake.base_url and seen["served_model"] == "fake"
    assert seen["system_fingerprint"] == "fp-test" and seen["reproducibility"] == "exact per seed (checked at start)"
    assert "sk-very-secret" not in json.dumps(seen) + cfg.model_dump_json()  # the key is never recorded


def test_429_and_500_are_retried_then_answered(fake, tiny_model):
    backend = backend_of(fake, tokenizer=tiny_model, max_retries=2)
    fake.bodies.clear()
    fake.faults[:] = ["429", "500"]
    [[answer]] = backend.generate([PROMPT], SamplingParams(temperature=0.0, max_new_tokens=5))
    assert answer.text.startswith("Answer: ") and not answer.error and len(fake.bodies) == 3


@pytest.mark.parametrize("fault, reason", [
    ("500", "InternalServerError"), ("429", "RateLimitError"), ("drop", "APIConnectionError"),
    ("slow", "APITimeoutError"), ("garbage", "not one completion"), ("two", "2 choices, not one completion"),
    ("none", "0 choices"), ("empty", "an empty completion")])
def test_a_row_the_server_cannot_answer_comes_back_with_its_error_the_others_are_answered(fake, tiny_model, fault, reason):
    backend = backend_of(fake, tokenizer=tiny_model, timeout_s=0.5, concurrency=1)
    fake.faults[:] = [fault]
    out = backend.generate([PROMPT, PROMPT[1:]], SamplingParams(temperature=0.0, max_new_tokens=5))
    assert out[0][0].error and reason in out[0][0].error and out[0][0].finish_reason == "error"
    assert out[1][0].text.startswith("Answer: ") and not out[1][0].error


def test_log_probabilities_of_answers_read_after_the_prompt_by_echo(fake, tiny_model):
    backend = backend_of(fake, tokenizer=tiny_model)
    [scored] = backend.logprobs([PROMPT], ["Answer: 5"])
    prompt_ids, answer_ids = chat_completion_ids(load_tokenizer(tiny_model), PROMPT, "Answer: 5")
    assert scored.token_ids == tuple(answer_ids)  # the end-of-turn tokens included, as the trainer scores them
    first = len(prompt_ids)
    assert scored.per_token == pytest.approx([-(first + i + 1) / 100 for i in range(len(answer_ids))])


def test_a_server_without_prompt_log_probabilities_says_what_is_missing(tiny_model):
    server = FakeServer(echo=False)
    try:
        backend = backend_of(server, tokenizer=tiny_model)
        with pytest.raises(SparringError, match="does not return prompt log-probabilities.*can still seat an opponent"):
            backend.logprobs([PROMPT], ["Answer: 5"])
        with pytest.raises(SparringError, match="set servers.test.tokenizer"):
            backend_of(server).logprobs([PROMPT], ["Answer: 5"])
    finally:
        server.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_bad_endpoints_fail_before_any_generation_naming_the_key(fake, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("SPARRING_TEST_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"servers.test.base_url: no OpenAI-compatible server answers"):
        load_backend("openai", "x", server=ServerConfig(model="fake", base_url=f"http://127.0.0.1:{_free_port()}/v1",
                                                        api_key_env="", max_retries=0), where="servers.test")
    with pytest.raises(ConfigError, match=r"servers.test.model: 'gpt-9' is not served .* it serves \['fake'\]"):
        backend_of(_Named(fake, "gpt-9"))
    with pytest.raises(ConfigError, match="servers.test.api_key_env: the environment variable SPARRING_TEST_KEY is not set"):
        load_backend("openai", "x", server=ServerConfig(model="fake", base_url=fake.base_url,
                                                        api_key_env="SPARRING_TEST_KEY"), where="servers.test")
    with pytest.raises(ConfigError, match="servers.test.base_url: no server address.*OPENAI_BASE_URL"):
        load_backend("openai", "x", server=ServerConfig(model="fake", api_key_env=""), where="servers.test")
    assert fake.bodies == []  # nothing was generated


class _Named:
    """A server address under another model name."""

    def __init__(self, server, model):
        self.base_url, self.model = server.base_url, model


def test_a_server_killed_mid_round_fails_episodes_as_episodes_and_resume_plays_them_again(tiny_model, tmp_path):
    server = FakeServer(tokenizer=load_tokenizer(tiny_model))
    port = server.port
    backend = backend_of(server, tokenizer=tiny_model, concurrency=1)
    specs = [EpisodeSpec(id=f"e{i}", env_id="arithmetic-v0", seed=i, policies=("p",), env_kwargs={"level": 1},
                         tags={"stage": "train"}) for i in range(12)]
    store = EpisodeStore(tmp_path / "episodes.sqlite")
    policies = {"p": LLMPolicy(backend, SamplingParams(temperature=0.0, max_new_tokens=5))}
    provenance = {"run_id": "t", "round": 1}
    server.faults[:] = ["ok"] * 5 + ["die"]  # killed at the round's sixth request
    first = run_missing(specs, policies, provenance, store, "train", max_in_flight=12)
    failed = [e for e in first if e.error]
    assert len(first) == 12 and len(failed) == 7 and all("APIConnectionError" in e.error for e in failed)
    assert store.count() == 5 and len(store.failures(1, "train")) == 7
    restarted = FakeServer(tokenizer=load_tokenizer(tiny_model), port=port)
    try:
        again = run_missing(specs, policies, provenance, store, "train")
        assert store.count() == 12 and sum(bool(e.error) for e in again) == 0  # nothing lost
        served = again[0].provenance["policies"]["p"]
        assert served["server"] == restarted.base_url and served["kind"] == "llm"
    finally:
        restarted.close()
