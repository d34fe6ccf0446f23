"""An OpenAI-compatible server run as a child process (`transformers serve`, `vllm serve`): started,
waited for until it answers /v1/models, and stopped with its whole process group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Mapping, Sequence

from sparring.errors import SparringError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def installed_tool(name: str) -> Path:
    """The console script `name` installed beside this Python (the venv's), not one elsewhere on PATH."""
    return Path(sys.executable).with_name(name)


def transformers_serve_command(model: str, port: int, dtype: str = "float32",
                               continuous_batching: bool = False) -> list[str]:
    """`transformers serve` holding `model` on the CPU (it ships with transformers: nothing to compile)."""
    exe = installed_tool("transformers")
    return [str(exe), "serve", model, "--host", "127.0.0.1", "--port", str(port), "--device", "cpu",
            "--dtype", dtype, *(["--continuous-batching"] if continuous_batching else [])]


class ServerProcess:
    """A server started from `command`, listening on 127.0.0.1:`port`; `base_url` is its /v1 root."""

    def __init__(self, command: Sequence[str], port: int, log: Path, ready_timeout_s: float = 120.0,
                 env: Mapping[str, str] | None = None):
        self.command, self.port, self.log = list(command), port, log
        self.base_url = f"http://127.0.0.1:{port}/v1"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            try:  # its own process group, so stopping it stops what it spawned too
                self.process = subprocess.Popen(self.command, stdout=out, stderr=subprocess.STDOUT,
                                                start_new_session=True, env={**os.environ, **(env or {})})
            except OSError as e:
                raise SparringError(f"could not start the server {self.command[0]}: {e}") from None
        self._wait_ready(ready_timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SparringError(f"the server {self.command[0]} exited with {self.process.returncode} before "
                                    f"answering; its log: {self.log}\n{self.log.read_text()[-1500:]}")
            try:
                with urllib.request.urlopen(self.base_url + "/models", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.25)
        self.stop()
        raise SparringError(f"the server {self.command[0]} did not answer on port {self.port} within {timeout_s:.0f} s; "
                            f"its log: {self.log}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
