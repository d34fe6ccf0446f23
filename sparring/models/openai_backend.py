"""A model served over HTTP by any OpenAI-compatible server (vLLM, llama.cpp, `transformers serve`, a
hosted API): `[servers.<name>]` in a run's config, seated as the player `served:<name>`.

Prompts are rendered here, with the chat template of `tokenizer`, and sent to `/v1/completions`, so a
served model sees the very text the transformers backend would feed it; without a tokenizer (a hosted
chat model) the messages go to `/v1/chat/completions` and the server renders them. Each row is one
request with its own seed (rows of one prompt: seeds derived as the transformers backend derives
them), so a server that honours `seed` reproduces every row whatever else is in flight. Whether it
does is measured when the backend starts (the same seeded request twice) and recorded in every
episode's provenance, with the server, the served model and its `system_fingerprint`.

The openai client does the HTTP work (its own retries with backoff on 429, 5xx, timeouts and dropped
connections); what is ours is the per-row fault rule: a row whose request still fails, or whose
answer is not one usable completion (non-JSON, no choices or several, an empty text), comes back as
a `Completion` with its `error`, and the engine fails that episode alone (resume plays it again).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from typing import Any, Sequence

from pydantic import Field

from sparring.errors import ConfigError, SparringError
from sparring.sections import Section
from sparring.seeds import derive_seed
from sparring.types import Completion, CompletionLogprobs, Message, SamplingParams


class ServerConfig(Section):
    """An OpenAI-compatible endpoint. The API key is read from the environment variable named here,
    never written to config.toml, logs or episodes."""

    shapes = "rollout"
    shapes_by_key = {"concurrency": None, "max_retries": None, "timeout_s": None, "api_key_env": None}

    model: str = Field(description="the served model's name, as the server's /v1/models lists it")
    base_url: str | None = Field(None, description="e.g. http://127.0.0.1:8000/v1 [default: $OPENAI_BASE_URL]")
    api_key_env: str = Field("OPENAI_API_KEY", description="the environment variable holding the API key; "
                                                           "'' for a server that takes none")
    tokenizer: str | None = Field(None, description=(
        "a checkpoint or hub id whose chat template renders the prompts (/v1/completions, the same text the "
        "transformers backend feeds); absent: /v1/chat/completions and the server's own template"))
    concurrency: int = Field(16, ge=1, description="requests in flight at once")
    max_retries: int = Field(3, ge=0, description="retries of a request after a 429, a 5xx, a timeout or a "
                                                  "dropped connection (exponential backoff)")
    timeout_s: float = Field(60.0, gt=0, description="seconds before one request times out")
    extra_body: dict[str, Any] = Field(default_factory=dict, description=(
        "fields sent with every request beyond OpenAI's own (e.g. {top_k = 50} for vLLM or llama.cpp; "
        "without it the server's default top-k applies)"))


def resolve_endpoint(cfg: ServerConfig, where: str) -> tuple[str, str]:
    """(base URL, API key), or one clear error naming the key to set."""
    base_url = cfg.base_url or os.environ.get("OPENAI_BASE_URL")
    if not base_url:
        raise ConfigError(f"{where}.base_url: no server address; set it (e.g. 'http://127.0.0.1:8000/v1') "
                          "or the environment variable OPENAI_BASE_URL")
    if not cfg.api_key_env:
        return base_url, "none"
    key = os.environ.get(cfg.api_key_env)
    if not key:
        raise ConfigError(f"{where}.api_key_env: the environment variable {cfg.api_key_env} is not set; set it to "
                          f"the server's API key, or api_key_env = '' for a server that takes none")
    return base_url, key


class OpenAIBackend:
    """Generation (and, where the server can, log-probabilities) from an OpenAI-compatible server."""

    def __init__(self, model: str, server: ServerConfig, where: str = "server"):
        import openai

        from sparring.models.transformers_backend import load_tokenizer

        self.cfg, self.where = server, where
        self.base_url, key = resolve_endpoint(server, where)
        self.tokenizer = None
        if server.tokenizer:
            from sparring.models.paths import resolve_model

            try:
                self.tokenizer = load_tokenizer(resolve_model(server.tokenizer))
            except SparringError:
                raise
            except Exception as e:
                raise SparringError(f"{where}.tokenizer: could not load {server.tokenizer!r}: {str(e)[:200]}") from e
        self._client_args = dict(base_url=self.base_url, api_key=key, max_retries=server.max_retries,
                                 timeout=server.timeout_s)
        self._openai = openai
        self.model_id = model
        self.served_model = server.model  # the name requests carry
        self.fingerprint: str | None = None
        self.reproducibility = self._start()
        self.checkpoint_hash = self.fingerprint or server.model

    # -- the start-up check: one clear error before any generation -------------------------------------

    def _start(self) -> str:
        """Reach the server, check the model is served, and measure whether `seed` reproduces a sample
        (seed 1 twice, seeds 2 and 3 once: the same text twice, and not one text for every seed)."""
        client = self._openai.OpenAI(**{**self._client_args, "max_retries": 0})
        try:
            try:
                served = [m.id for m in client.models.list()]
            except self._openai.NotFoundError:
                served = None  # a server without /v1/models: the probe below still names a wrong model
            if served is not None and self.served_model not in served:
                raise ConfigError(f"{self.where}.model: {self.served_model!r} is not served at {self.base_url}; "
                                  f"it serves {served}")
            probe = SamplingParams(temperature=1.0, top_k=0, max_new_tokens=12)
            story = (Message("user", "Begin a story in one sentence."),)
            answers = [self._request_sync(client, story, probe, seed) for seed in (1, 1, 2, 3)]
        except self._openai.AuthenticationError:
            raise ConfigError(f"{self.where}.api_key_env: the server at {self.base_url} refused the key in "
                              f"${self.cfg.api_key_env}") from None
        except self._openai.APIConnectionError as e:
            raise ConfigError(f"{self.where}.base_url: no OpenAI-compatible server answers at {self.base_url} "
                              f"({type(e).__name__}: {e})") from None
        except self._openai.APIStatusError as e:
            raise ConfigError(f"{self.where}: the server at {self.base_url} refused a one-line request for "
                              f"{self.served_model!r}: {e.status_code} {str(e.message)[:300]}") from None
        finally:
            client.close()
        failed = next((a.error for a in answers if a.error), None)
        if failed:
            raise ConfigError(f"{self.where}: the server at {self.base_url} does not answer usably: {failed}")
        texts = [a.text for a in answers]
        if len(set(texts)) == 1:
            return "unmeasured: three seeds gave one text at temperature 1 (does the server sample? transformers " \
                   "serve needs extra_body = {generation_config = '{\"do_sample\": true}'})"
        return "exact per seed (checked at start)" if texts[0] == texts[1] else "best-effort: a seed did not repeat its sample"

    def provenance(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "checkpoint_hash": self.checkpoint_hash, "server": self.base_url,
                "served_model": self.served_model, "system_fingerprint": self.fingerprint,
                "prompt": "rendered here by " + self.cfg.tokenizer if self.tokenizer else "the server's chat template",
                "reproducibility": self.reproducibility}

    # -- generation ---------------------------------------------------------------------------------------

    def render(self, messages: Sequence[Message]) -> str:
        return self.tokenizer.apply_chat_template(
            [{"role": m.role, "content": m.content} for m in messages], add_generation_prompt=True, tokenize=False)

    def generate(self, prompts: Sequence[Sequence[Message]], params: SamplingParams,
                 seeds: Sequence[int] | None = None) -> list[list[Completion]]:
        """`params.n` completions per prompt, one request each, seeded as the transformers backend seeds
        rows; a row that fails carries its error instead of text."""
        if seeds is None:
            base = params.seed if params.seed is not None else secrets.randbits(63)
            seeds = [derive_seed(base, i) for i in range(len(prompts))]
        rows = [(prompt, derive_seed(seed, j)) for prompt, seed in zip(prompts, seeds) for j in range(params.n)]
        answered = asyncio.run(self._gather([lambda c, p=p, s=s: self._request(c, p, params, s) for p, s in rows]))
        return [answered[i:i + params.n] for i in range(0, len(answered), params.n)]

    async def _gather(self, calls) -> list:
        limit = asyncio.Semaphore(self.cfg.concurrency)
        async with self._openai.AsyncOpenAI(**self._client_args) as client:
            async def one(call):
                async with limit:
                    return await call(client)
            return await asyncio.gather(*(one(call) for call in calls))

    def _body(self, messages: Sequence[Message], params: SamplingParams, seed: int) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.served_model, "max_tokens": params.max_new_tokens,
                                "temperature": params.temperature, "seed": seed % 2**31, "n": 1}
        if params.top_p < 1.0:
            body["top_p"] = params.top_p
        if params.stop:
            body["stop"] = list(params.stop)
        if self.tokenizer is not None:
            body["prompt"] = self.render(messages)
        else:
            body["messages"] = [{"role": m.role, "content": m.content} for m in messages]
        return body

    def extra_body(self, params: SamplingParams | None) -> dict[str, Any]:
        """Fields beyond OpenAI's own sent with a request (of `params`; None: a scoring request)."""
        return self.cfg.extra_body

    async def _request(self, client, messages: Sequence[Message], params: SamplingParams, seed: int) -> Completion:
        body = self._body(messages, params, seed)
        try:
            if self.tokenizer is not None:
                response = await client.completions.create(**body, extra_body=self.extra_body(params) or None)
            else:
                response = await client.chat.completions.create(**body, extra_body=self.extra_body(params) or None)
        except self._openai.OpenAIError as e:
            return _failed(f"{type(e).__name__}: {str(e)[:300]}")
        except ValueError as e:  # the client could not parse the body (not JSON)
            return _failed(f"the server answered a body that is not one completion: {type(e).__name__}: {str(e)[:200]}")
        return self._completion(response, params)

    def _request_sync(self, client, messages: Sequence[Message], params: SamplingParams, seed: int) -> Completion:
        body = self._body(messages, params, seed)
        if self.tokenizer is not None:
            response = client.completions.create(**body, extra_body=self.extra_body(params) or None)
        else:
            response = client.chat.completions.create(**body, extra_body=self.extra_body(params) or None)
        return self._completion(response, params)

    def _completion(self, response, params: SamplingParams) -> Completion:
        """One usable completion from a response, or the reason there is none."""
        choices = getattr(response, "choices", None)
        if not isinstance(choices, list) or len(choices) != 1:
            got = f"{len(choices)} choices" if isinstance(choices, list) else f"a {type(response).__name__}"
            return _failed(f"the server answered {got}, not one completion")
        choice = choices[0]
        text = choice.text if self.tokenizer is not None else getattr(choice.message, "content", None)
        if not isinstance(text, str) or not text:
            return _failed("the server answered an empty completion")
        self.fingerprint = getattr(response, "system_fingerprint", None) or self.fingerprint
        for s in params.stop:  # servers differ on whether the stop string is kept
            text = text.split(s)[0]
        ids = tuple(self.tokenizer.encode(text, add_special_tokens=False)) if self.tokenizer is not None else ()
        return Completion(text=text, token_ids=ids, finish_reason="length" if choice.finish_reason == "length" else "stop")

    # -- log-probabilities ---------------------------------------------------------------------------------

    def logprobs(self, prompts: Sequence[Sequence[Message]], answers: Sequence[str]) -> list[CompletionLogprobs]:
        """Each answer scored by the server: the whole conversation sent with `echo`, `logprobs` and one
        new token (vLLM refuses zero; the new one is not read), and the answer's tokens read after the
        prompt's text (the end-of-turn tokens included, as the transformers backend scores them)."""
        if self.tokenizer is None:
            raise SparringError(f"{self.where}: log-probabilities need /v1/completions with echo; set "
                                f"{self.where}.tokenizer so prompts are rendered here")
        from sparring.models.transformers_backend import chat_completion_ids

        calls = []
        for prompt, answer in zip(prompts, answers, strict=True):
            prompt_ids, answer_ids = chat_completion_ids(self.tokenizer, prompt, answer)
            prompt_text = self.tokenizer.decode(prompt_ids)
            calls.append(lambda c, t=prompt_text, a=answer_ids: self._score(c, t, a))
        return asyncio.run(self._gather(calls))

    async def _score(self, client, prompt_text: str, answer_ids: list[int]) -> CompletionLogprobs:
        full = prompt_text + self.tokenizer.decode(answer_ids)
        missing = (f"{self.where}: the server at {self.base_url} does not return prompt log-probabilities "
                   "(/v1/completions with echo and logprobs); it can still seat an opponent or a judge, not "
                   "score answers")
        try:
            response = await client.completions.create(model=self.served_model, prompt=full, max_tokens=1, echo=True,
                                                       logprobs=0, temperature=0.0,
                                                       extra_body=self.extra_body(None) or None)
        except self._openai.APIStatusError as e:  # 400 from most servers; 500 from transformers serve
            raise SparringError(f"{missing} ({e.status_code}: {str(e.message)[:200]})") from None
        choice = response.choices[0] if getattr(response, "choices", None) else None
        scored = getattr(choice, "logprobs", None)
        offsets = getattr(scored, "text_offset", None)
        values = getattr(scored, "token_logprobs", None)
        if not offsets or not values:
            raise SparringError(missing)
        mine = [lp for off, lp in zip(offsets, values) if len(prompt_text) <= off < len(full)]
        if len(mine) != len(answer_ids) or any(lp is None for lp in mine):
            raise SparringError(f"{self.where}: the server split the answer into {len(mine)} tokens, the tokenizer "
                                f"{self.cfg.tokenizer!r} into {len(answer_ids)}: it serves another tokenizer")
        return CompletionLogprobs(token_ids=tuple(answer_ids), per_token=tuple(float(x) for x in mine))


def _failed(reason: str) -> Completion:
    return Completion(text="", token_ids=(), finish_reason="error", error=reason)
