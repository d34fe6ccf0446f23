"""The OpenAI-compatible backend against a real server started here: `transformers serve` holding the
tiny model on the CPU. It was picked over llama-cpp-python's server (an sdist that compiles llama.cpp:
minutes added to every fresh install) and vLLM (no 2-core CPU build fit for a test) because it ships
with transformers; it honours `seed` one request at a time, samples only when told to through
`generation_config`, and returns no prompt log-probabilities (what tests/models/test_openai_backend.py
checks with its fake)."""

import json

import pytest
from rich.console import Console

from sparring import loop
from sparring.config import load_config
from sparring.errors import SparringError
from sparring.models import load_backend
from sparring.models.openai_backend import ServerConfig
from sparring.models.server_process import ServerProcess, free_port, transformers_serve_command
from sparring.models.transformers_backend import TransformersBackend
from sparring.rundir import RunDir
from sparring.types import Message, SamplingParams

SAMPLE = {"generation_config": json.dumps({"do_sample": True, "top_k": 50})}
PROMPTS = [(Message("user", "Compute 2 + 3."),), (Message("system", "Be brief."), Message("user", "Say hello."))]


@pytest.fixture(scope="module")
def server(lively_model, tmp_path_factory):
    port = free_port()
    with ServerProcess(transformers_serve_command(lively_model, port), port,
                       tmp_path_factory.mktemp("serve") / "server.log") as process:
        yield process


def served(server, model, **settings):
    cfg = ServerConfig(model=model, base_url=server.base_url, api_key_env="", tokenizer=model, **settings)
    return load_backend("openai", "served:tiny", server=cfg, where="servers.tiny")


def test_greedy_answers_over_http_are_the_transformers_backends(server, lively_model):
    backend = served(server, lively_model)
    local = TransformersBackend(lively_model, dtype="float32")
    greedy = SamplingParams(temperature=0.0, max_new_tokens=8)
    over_http = backend.generate(PROMPTS, greedy)
    for prompt, [answer] in zip(PROMPTS, over_http):
        [[here]] = local.generate([prompt], greedy)  # one at a time: no padding in the way
        # the same text; its token ids are the tokenizer's encoding of it (the server returns no ids)
        assert answer.text == here.text and answer.error == ""
    assert over_http[0][0].text != over_http[1][0].text  # the prompts reached the model
    assert backend.provenance()["server"] == server.base_url and backend.provenance()["served_model"] == lively_model


def test_seeded_samples_repeat_and_the_start_up_check_says_so(server, lively_model):
    sampling = served(server, lively_model, extra_body=SAMPLE, concurrency=1)
    assert sampling.reproducibility == "exact per seed (checked at start)"
    params = SamplingParams(temperature=1.0, max_new_tokens=8, n=3)
    first = sampling.generate(PROMPTS, params, seeds=[5, 6])
    assert sampling.generate(PROMPTS, params, seeds=[5, 6]) == first
    assert len({c.text for row in first for c in row}) > 1  # it samples: seeds give different texts
    # without do_sample the server answers greedily whatever the temperature: the check cannot measure seeds
    assert served(server, lively_model).reproducibility.startswith("unmeasured")


def test_a_server_without_prompt_logprobs_says_what_is_missing(server, lively_model):
    with pytest.raises(SparringError, match="does not return prompt log-probabilities.*opponent or a judge"):
        served(server, lively_model).logprobs(PROMPTS[:1], ["5"])


def test_a_mixed_run_trains_the_policy_locally_against_a_served_opponent_in_one_league(server, tiny_model,
                                                                                       lively_model, tmp_path):
    cfg = load_config(None, [
        f"model='{tiny_model}'", "backend.dtype='float32'", "rounds=1", "env='tictactoe-v1'", "task='games'",
        "rollout.problems_per_round=4", "rollout.samples_per_problem=1", "rollout.max_new_tokens=6",
        "eval.max_new_tokens=6", "rest_em.min_reward=-1.0", "rest_em.batch_size=4",
        "matches.self_play_share=0.0", "matches.opponents=['served:tiny']",
        "matches.eval_opponents=['random-legal', 'served:tiny']", "matches.eval_games=2",
        f"servers.tiny.model='{lively_model}'", f"servers.tiny.base_url='{server.base_url}'",
        "servers.tiny.api_key_env=''", f"servers.tiny.tokenizer='{lively_model}'"])
    run_dir = RunDir.create(tmp_path / "run", cfg)
    history = loop.run(cfg, run_dir, Console(quiet=True))
    run_dir.close()
    train = list(run_dir.store.episodes(1, "train"))
    assert len(train) == 4 and all(set(e.policies) == {"policy", "served:tiny"} for e in train)
    opponent = train[0].provenance["policies"]["served:tiny"]
    assert opponent["server"] == server.base_url and opponent["served_model"] == lively_model
    assert opponent["reproducibility"] and "api_key" not in json.dumps(opponent)
    assert train[0].provenance["policies"]["policy"]["model_id"] == tiny_model  # the trained policy: local
    assert history[1]["eval"]["vs"]["served:tiny"]["games"] == 2
    assert run_dir.checkpoint_path(1).exists()
    # one league: the served model's evaluation games are rated matches beside the scripted player's
    players = {p for m in run_dir.store.matches() for p in m.players}
    assert {"round-1", "served:tiny", "random-legal"} <= players and history[1]["eval"]["rating"]["games"] == 4
