"""The vLLM backend without vLLM (it needs a GPU): its command line, its adapter bookkeeping against
the fake server's copies of vLLM's adapter endpoints, and its restart on a full fine-tune's weights
with `transformers serve` standing in for `vllm serve`. What was not run: vLLM itself."""

from pathlib import Path

import pytest

from sparring.errors import SparringError
from sparring.harness.fake_server import FakeServer
from sparring.models.server_process import transformers_serve_command
from sparring.models.transformers_backend import TransformersBackend, load_tokenizer
from sparring.models.vllm_backend import RUNTIME_LORA, VLLMBackend, VLLMConfig, VLLMServer, vllm_serve_command
from sparring.types import Message, SamplingParams
from tests.models.conftest import lora_round

PROMPT = (Message("user", "Compute 2 + 3."),)


def test_the_command_line_serves_adapters_within_the_limits():
    cfg = VLLMConfig(max_loras=3, max_lora_rank=64, gpu_memory_utilization=0.4, args=["--max-model-len", "2048"])
    command = vllm_serve_command("/ckpt/base", 8123, "bfloat16", cfg)
    assert command[0].endswith("vllm") and command[1:3] == ["serve", "/ckpt/base"]
    text = " ".join(command)
    for part in ("--port 8123", "--dtype bfloat16", "--enable-lora", "--max-loras 3", "--max-lora-rank 64",
                 "--gpu-memory-utilization 0.4", "--max-model-len 2048"):
        assert part in text
    assert RUNTIME_LORA == {"VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"}


@pytest.fixture
def rounds(tiny_model, tmp_path):
    """Three LoRA rounds on the tiny model, each on the one before."""
    made, parent = [], tiny_model
    for r in (1, 2, 3):
        parent = lora_round(parent, tmp_path / f"round-{r}", seed=r)
        made.append(parent)
    return made


def test_rounds_are_adapters_on_the_served_model_the_least_recently_used_unloaded_first(tiny_model, rounds):
    fake = FakeServer(model=str(Path(tiny_model).resolve()), tokenizer=load_tokenizer(tiny_model))
    try:
        server = VLLMServer(VLLMConfig(base_url=fake.base_url, max_loras=2), "float32")
        one, two, three = (VLLMBackend(path, server=server) for path in rounds)
        assert server.model == fake.model and len(set(server.loaded)) == 2  # round 1's made room for round 3's
        loads = [name for call, name in fake.adapter_calls if call == "load"]
        assert len(loads) == 3 and fake.adapter_calls[2] == ("unload", loads[0])
        fake.bodies.clear()
        [[answer]] = one.generate([PROMPT], SamplingParams(temperature=0.7, top_k=20, max_new_tokens=5), seeds=[1])
        assert answer.error == "" and fake.bodies[-1]["model"] == loads[0] and fake.bodies[-1]["top_k"] == 20
        assert fake.adapter_calls[-2:] == [("unload", loads[1]), ("load", loads[0])]  # loaded again: round 2 out
        assert fake.adapters[loads[0]] == f"{rounds[0]}/adapter"
        three.generate([PROMPT], SamplingParams(max_new_tokens=5), seeds=[1])  # still loaded: no call
        assert len(fake.adapter_calls) == 6 and one.provenance()["served_model"] == loads[0]
        base = VLLMBackend(tiny_model, server=server)  # the served model itself: no adapter
        assert base.served_model == fake.model and len(fake.adapter_calls) == 6
        assert two.checkpoint_hash != three.checkpoint_hash
    finally:
        fake.close()


def test_a_server_you_run_is_not_restarted_for_a_full_fine_tune(tiny_model, lively_model):
    fake = FakeServer(model=str(Path(tiny_model).resolve()))
    try:
        server = VLLMServer(VLLMConfig(base_url=fake.base_url), "float32")
        with pytest.raises(SparringError, match="cannot be restarted on it; train with finetune = 'lora'"):
            server.serve(lively_model)
    finally:
        fake.close()


def test_a_full_fine_tune_restarts_the_server_on_its_weights(tiny_model, lively_model):
    def serve(model, port, dtype, cfg):  # transformers serve stands in for vllm serve
        return transformers_serve_command(model, port, dtype)

    server = VLLMServer(VLLMConfig(), "float32", command=serve)
    try:
        VLLMBackend(tiny_model, server=server)
        first = server.process
        lively = VLLMBackend(lively_model, server=server)
        assert server.restarts == 2 and first.process.poll() is not None  # the first server was stopped
        greedy = SamplingParams(temperature=0.0, top_k=0, max_new_tokens=6)  # transformers serve refuses top_k
        [[answer]] = lively.generate([PROMPT], greedy)
        [[here]] = TransformersBackend(lively_model, dtype="float32").generate([PROMPT], greedy)
        assert answer.text == here.text and lively.provenance()["backend"] == "vllm"
    finally:
        server.stop()
