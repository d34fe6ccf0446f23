"""A small OpenAI-compatible server in a thread, for the faults a real server rarely shows on demand:
429s, 500s, timeouts, dropped connections, malformed bodies. Answers are a function of the prompt and
the seed, so seeded rows reproduce."""

from __future__ import annotations

import json
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeServer:
    """`faults`: what the next POSTs get, in order ("429", "500", "slow", "drop", "garbage", "two",
    "empty", "none", "die"; "ok" or anything else: a proper answer), then proper answers. `echo`:
    whether /v1/completions scores prompts (echo with logprobs; each token's log-probability is
    -(its index + 1) / 100), split by `tokenizer`. vLLM's /v1/load_lora_adapter and
    /v1/unload_lora_adapter keep `adapters`, which /v1/models lists beside `model`."""

    def __init__(self, model: str = "fake", tokenizer=None, echo: bool = True, port: int = 0):
        self.model, self.tokenizer, self.echo = model, tokenizer, echo
        self.faults: list[str] = []
        self.bodies: list[dict] = []
        self.adapters: dict[str, str] = {}  # loaded: name -> path, as vLLM's /v1/load_lora_adapter keeps them
        self.adapter_calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, payload, headers=()):
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path.endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": m, "object": "model", "created": 0,
                                                                  "owned_by": "test"}
                                                                 for m in [server.model, *server.adapters]]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                if self.path.endswith("_lora_adapter"):  # vLLM's run-time adapter endpoints
                    self._send(*server.adapter_call(self.path.rsplit("/", 1)[-1], body))
                    return
                with server.lock:
                    server.bodies.append(body)
                    fault = server.faults.pop(0) if server.faults else None
                if fault in ("drop", "die"):
                    self.connection.close()
                    if fault == "die":  # the server is killed: nothing answers on its port any more
                        threading.Thread(target=server.close).start()
                    return
                if fault == "slow":
                    time.sleep(2)
                if fault in ("429", "500"):
                    self._send(int(fault), {"error": {"message": f"fault {fault}"}}, [("retry-after-ms", "10")])
                    return
                if body.get("echo") and not server.echo:
                    self._send(400, {"error": {"message": "echo is not supported"}})
                    return
                if fault == "garbage":
                    self._send(200, b"<html>not json")
                    return
                self._send(200, server.answer(body, fault))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def adapter_call(self, endpoint: str, body: dict) -> tuple[int, dict]:
        name = body["lora_name"]
        with self.lock:
            self.adapter_calls.append((endpoint.split("_")[0], name))
            if endpoint == "load_lora_adapter":
                if name in self.adapters:
                    return 400, {"error": {"message": f"The lora adapter '{name}' has already been loaded."}}
                self.adapters[name] = body["lora_path"]
            elif self.adapters.pop(name, None) is None:
                return 404, {"error": {"message": f"The lora adapter '{name}' cannot be found."}}
        return 200, {}

    def answer(self, body: dict, fault: str | None) -> dict:
        chat = "messages" in body
        prompt = json.dumps(body["messages"]) if chat else body["prompt"]
        if body.get("echo"):
            return self.scored(body)
        text = f"Answer: {zlib.crc32(prompt.encode()) % 97 + body.get('seed', 0) % 5}"
        choice = ({"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"} if chat
                  else {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None})
        choices = {"two": [choice, choice], "none": [], "empty": [
            {**choice, "message": {"role": "assistant", "content": ""}} if chat else {**choice, "text": ""}]}
        return {"id": "x", "object": "chat.completion" if chat else "text_completion", "created": 0,
                "model": self.model, "system_fingerprint": "fp-test", "choices": choices.get(fault, [choice])}

    def scored(self, body: dict) -> dict:
        ids = self.tokenizer(body["prompt"], add_special_tokens=False)["input_ids"]
        tokens = [self.tokenizer.decode([i]) for i in ids]
        offsets, at = [], 0
        for t in tokens:
            offsets.append(at)
            at += len(t)
        values = [None] + [-(i + 1) / 100 for i in range(1, len(ids))]
        if body.get("max_tokens"):  # as vLLM: the new tokens follow the echoed prompt, with theirs
            tokens, offsets, values = tokens + [" more"], offsets + [at], values + [-0.5]
        logprobs = {"tokens": tokens, "text_offset": offsets, "token_logprobs": values, "top_logprobs": None}
        return {"id": "x", "object": "text_completion", "created": 0, "model": self.model,
                "choices": [{"index": 0, "text": "".join(tokens), "finish_reason": "length", "logprobs": logprobs}]}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
