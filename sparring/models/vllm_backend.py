"""vLLM on a GPU (`backend.name = "vllm"`, settings in `[vllm]`): the trained policy and the league's
past checkpoints answered by one `vllm serve`, through the OpenAI-compatible backend.

The server holds the run's first model and every LoRA round is an adapter on it
(models/adapters.py), loaded under its own name with `/v1/load_lora_adapter` when a backend first
asks for it; earlier rounds stay loaded, as league opponents, up to `max_loras`, the least recently
used unloaded first. A checkpoint that is no adapter on the served model (a full fine-tune) restarts
the server on its weights. Training still loads the checkpoint in the trainer, which computes its own
log-probabilities, as TRL's and prime-rl's vLLM modes do; the server gives the rollout's text and,
by `echo`, the reference log-probabilities dpo and spin store.
"""

from __future__ import annotations

import atexit
import json
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Sequence

from pydantic import Field

from sparring.errors import SparringError
from sparring.models.adapters import adapter_base
from sparring.models.openai_backend import OpenAIBackend, ServerConfig
from sparring.models.paths import resolve_model
from sparring.models.precision import resolve_dtype
from sparring.models.server_process import ServerProcess, free_port, installed_tool
from sparring.sections import Section
from sparring.types import Completion, Message, SamplingParams


class VLLMConfig(Section):
    """`vllm serve`, started and stopped by the run, or one you run (`base_url`)."""

    shapes = "rollout"
    shapes_by_key = {"ready_timeout_s": None, "timeout_s": None, "concurrency": None, "port": None}

    base_url: str | None = Field(None, description=(
        "a vLLM server you run, e.g. http://gpu-box:8000/v1 (started with --enable-lora and "
        "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True); absent: the run starts `vllm serve` and stops it"))
    port: int | None = Field(None, description="where the started server listens [a free port]")
    max_loras: int = Field(4, ge=1, description="adapters loaded at once: the trained round and past rounds of the league")
    max_lora_rank: int = Field(128, ge=1, description="the largest adapter rank: a round's stacked adapter grows by "
                                                      "lora_r a round (16 a round by default)")
    gpu_memory_utilization: float = Field(0.5, gt=0, le=1, description=(
        "the GPU memory share vLLM takes; the rest is left to the train stage, which loads the model beside it"))
    args: list[str] = Field(default_factory=list, description="more `vllm serve` arguments")
    ready_timeout_s: float = Field(900.0, gt=0, description="seconds to wait for a started server to answer")
    concurrency: int = Field(256, ge=1, description="requests in flight at once (vLLM batches them)")
    timeout_s: float = Field(600.0, gt=0, description="seconds before one request times out")


def vllm_serve_command(model: str, port: int, dtype: str, cfg: VLLMConfig) -> list[str]:
    exe = installed_tool("vllm")
    return [str(exe), "serve", model, "--host", "127.0.0.1", "--port", str(port), "--dtype", dtype,
            "--enable-lora", "--max-loras", str(cfg.max_loras), "--max-lora-rank", str(cfg.max_lora_rank),
            "--gpu-memory-utilization", str(cfg.gpu_memory_utilization), *cfg.args]


def check_vllm_installed() -> None:
    if not installed_tool("vllm").exists():
        raise SparringError("backend.name = 'vllm' starts `vllm serve`, which is not installed here: "
                            "pip install -e '.[vllm]' on a machine with a GPU, or set vllm.base_url to a server you run")


# vLLM refuses to load adapters at run time without it
RUNTIME_LORA = {"VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"}
Command = Callable[[str, int, str, VLLMConfig], list[str]]


class VLLMServer:
    """The run's one server: which model it holds and which adapters it has loaded, least recently
    used first. `command` builds the command line (tests pass `transformers serve`'s)."""

    def __init__(self, cfg: VLLMConfig, dtype: str, command: Command = vllm_serve_command):
        self.cfg, self.dtype, self.command = cfg, dtype, command
        self.base_url = cfg.base_url
        self.process: ServerProcess | None = None
        self.model: str | None = None  # the model it holds (None: not known yet)
        self.loaded: list[str] = []  # adapter names, least recently used first
        self.names: dict[str, str] = {}  # checkpoint -> its adapter's name (hashing weights once, not every call)
        self.restarts = 0
        self.logs = Path(tempfile.mkdtemp(prefix="sparring-vllm-"))

    def serve(self, checkpoint: str) -> str:
        """The model name under which the server answers as `checkpoint`: the served model itself, or
        its adapter (loaded now if need be); the server is (re)started on another model if need be."""
        base = adapter_base(checkpoint)
        if self.model is None:
            self.model = self._served_model() if self.base_url else None
            if self.model is None:
                self._start(base or checkpoint)
        if checkpoint == self.model:
            return checkpoint
        if base is not None and base == self.model:
            return self._adapter(checkpoint)
        self._start(base or checkpoint)
        return self.serve(checkpoint)

    def _served_model(self) -> str:
        import openai

        try:
            with openai.OpenAI(base_url=self.base_url, api_key="none", max_retries=0) as client:
                ids = [m.id for m in client.models.list()]
        except openai.OpenAIError as e:
            raise SparringError(f"vllm.base_url: no vLLM server answers at {self.base_url} ({type(e).__name__}: {e})") from None
        self.loaded = [i for i in ids if i.startswith("adapter-")]
        return next(i for i in ids if not i.startswith("adapter-"))

    def _start(self, model: str) -> None:
        if self.cfg.base_url:
            raise SparringError(f"vllm.base_url: {model} is not an adapter on the model the server at {self.base_url} "
                                f"holds ({self.model}), and a server you run cannot be restarted on it; train with "
                                "finetune = 'lora', or leave vllm.base_url out so the run starts its own server")
        self.stop()
        port = self.cfg.port or free_port()
        self.process = ServerProcess(self.command(model, port, self.dtype, self.cfg), port,
                                     self.logs / f"server-{self.restarts}.log", self.cfg.ready_timeout_s, env=RUNTIME_LORA)
        self.base_url, self.model, self.loaded = self.process.base_url, model, []
        self.restarts += 1

    def _adapter(self, checkpoint: str) -> str:
        from sparring.models.transformers_backend import checkpoint_hash

        if checkpoint not in self.names:
            self.names[checkpoint] = "adapter-" + checkpoint_hash(checkpoint)[:12]
        name = self.names[checkpoint]
        if name in self.loaded:
            self.loaded.remove(name)
        else:
            while len(self.loaded) >= self.cfg.max_loras:
                self._post("unload_lora_adapter", {"lora_name": self.loaded.pop(0)})
            self._post("load_lora_adapter", {"lora_name": name, "lora_path": str(Path(checkpoint) / "adapter")})
        self.loaded.append(name)
        return name

    def _post(self, endpoint: str, body: dict[str, Any]) -> None:
        request = urllib.request.Request(f"{self.base_url}/{endpoint}", data=json.dumps(body).encode(),
                                         headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.cfg.ready_timeout_s):
                return
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace")
            hint = " (a round's adapter grows by lora_r a round: raise vllm.max_lora_rank)" if "rank" in text.lower() else ""
            raise SparringError(f"vllm: {endpoint} {json.dumps(body)} at {self.base_url} answered {e.code}: "
                                f"{text[:300]}{hint}") from None
        except OSError as e:
            raise SparringError(f"vllm: {endpoint} at {self.base_url} failed: {type(e).__name__}: {e}") from None

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


_SERVERS: dict[str, VLLMServer] = {}


def shared_server(cfg: VLLMConfig, dtype: str) -> VLLMServer:
    """One server per run's settings in this process, stopped when the process ends."""
    key = json.dumps([cfg.model_dump(), dtype], sort_keys=True)
    if key not in _SERVERS:
        _SERVERS[key] = VLLMServer(cfg, dtype)
        atexit.register(_SERVERS[key].stop)
    return _SERVERS[key]


class VLLMBackend(OpenAIBackend):
    """A checkpoint answered by the run's vLLM server: its adapter there, or the served model."""

    def __init__(self, model: str, dtype: str = "auto", batch_size: int = 64, vllm: VLLMConfig | None = None,
                 server: VLLMServer | None = None):
        from sparring.models.transformers_backend import checkpoint_hash

        cfg = vllm or VLLMConfig()
        self.path = resolve_model(model)
        self.dtype, self.dtype_reason = resolve_dtype(dtype)
        self.server = server or shared_server(cfg, self.dtype)
        name = self.server.serve(self.path)
        super().__init__(model, ServerConfig(model=name, base_url=self.server.base_url, api_key_env="",
                                             tokenizer=self.path, concurrency=cfg.concurrency,
                                             timeout_s=cfg.timeout_s), where="vllm")
        self.checkpoint_hash = checkpoint_hash(self.path)  # the weights', not the server's fingerprint

    def generate(self, prompts: Sequence[Sequence[Message]], params: SamplingParams,
                 seeds: Sequence[int] | None = None) -> list[list[Completion]]:
        self._ensure_served()
        return super().generate(prompts, params, seeds)

    def logprobs(self, prompts, answers):
        self._ensure_served()
        return super().logprobs(prompts, answers)

    def _ensure_served(self) -> None:
        """Load this checkpoint's adapter again if it was unloaded to make room, or restart the server
        on this checkpoint if it holds another model now."""
        self.served_model = self.server.serve(self.path)
        self.base_url = self._client_args["base_url"] = self.server.base_url

    def extra_body(self, params: SamplingParams | None) -> dict[str, Any]:
        # vLLM samples with the rollout's top_k, a field beside OpenAI's own
        return {"top_k": params.top_k} if params is not None and params.top_k > 0 else {}

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "backend": "vllm"}
