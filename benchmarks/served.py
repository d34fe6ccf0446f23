"""The OpenAI-compatible backend against `transformers serve` on this machine, beside the transformers
backend in this process: generated tokens/s at the same batch, then one round of tic-tac-toe trained
here against the same model served over HTTP (an opponent in the league).

Throughput: BATCH arithmetic prompts, greedy (`transformers serve --continuous-batching` does not
sample, so greedy is the one workload all modes share), MAX_NEW_TOKENS new tokens, in the backend's
dtype; `local` is one batched generate call of the transformers backend, `http` the openai backend
with BATCH requests in flight against `transformers serve` (one request at a time on its side),
`http, continuous batching` against `transformers serve --continuous-batching` (paged attention,
requests batched as they arrive), and `http alone` the same requests against a server that answers at
once (sparring/harness/fake_server.py, in a process of its own): the client's and HTTP's own cost, what
a server that batches as well as the local backend (vLLM) would add. Tokens are the tokenizer's count of
the returned texts. Each server is started, warmed up and measured alone, the in-process model idle.

    .venv/bin/python benchmarks/served.py [--batch 64] [--max-new-tokens 48] [--games 32] [--no-round|--no-throughput]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sparring import loop
from sparring.cli import _quiet_libraries
from sparring.config import load_config
from sparring.envs import make_env
from sparring.harness.fake_server import FakeServer
from sparring.models import load_backend
from sparring.models.openai_backend import ServerConfig
from sparring.models.paths import resolve_model
from sparring.models.server_process import ServerProcess, free_port, transformers_serve_command
from sparring.rundir import RunDir
from sparring.types import SamplingParams

# transformers serve samples only when its generation config says so (it reads no top_k from the request)
SAMPLE = {"generation_config": json.dumps({"do_sample": True, "top_k": 50})}


def tokens(tokenizer, rows) -> int:
    return sum(len(tokenizer.encode(c.text, add_special_tokens=False)) for row in rows for c in row)


def timed(backend, prompts, params) -> tuple[float, int, int]:
    """(seconds, tokens, failed rows) of one generate call."""
    started = time.time()
    rows = backend.generate(prompts, params, seeds=list(range(len(prompts))))
    return time.time() - started, tokens(backend.tokenizer, rows), sum(bool(c.error) for row in rows for c in row)


def serve_instantly(ports) -> None:
    """The fake server in a process of its own (in this one it would share the client's interpreter lock)."""
    server = FakeServer(model="instant")
    ports.put(server.port)
    server.thread.join()


def throughput(model: str, batch: int, max_new_tokens: int, scratch: Path, console: Console) -> Table:
    local = load_backend("transformers", model, batch_size=batch)
    params = SamplingParams(temperature=0.0, max_new_tokens=max_new_tokens)
    prompts = [make_env("arithmetic-v0", level=2).reset(i).messages for i in range(batch)]
    local.generate(prompts[:8], params)  # warm-up
    results = {"local (transformers, one batch)": timed(local, prompts, params)}
    path = resolve_model(model)
    for name, batched in (("http (transformers serve)", False), ("http, continuous batching", True)):
        port = free_port()
        started = time.time()
        with ServerProcess(transformers_serve_command(path, port, dtype=local.dtype, continuous_batching=batched),
                           port, scratch / f"server-{port}.log", ready_timeout_s=300) as server:
            up = time.time() - started
            served = load_backend("openai", "served:bench", server=ServerConfig(
                model=path, base_url=server.base_url, api_key_env="", tokenizer=path, concurrency=batch,
                timeout_s=600), where="servers.bench")
            served.generate(prompts[:8], params)  # warm-up
            results[name] = timed(served, prompts, params)
            console.print(f"{name}: up in {up:.0f} s")
    ports = multiprocessing.Queue()
    instant = multiprocessing.Process(target=serve_instantly, args=(ports,), daemon=True)
    instant.start()
    try:
        client = load_backend("openai", "served:instant", server=ServerConfig(
            model="instant", base_url=f"http://127.0.0.1:{ports.get(timeout=60)}/v1", api_key_env="", tokenizer=path,
            concurrency=batch), where="servers.instant")
        client.generate(prompts[:8], params)  # warm-up
        seconds, count, failed = timed(client, prompts, params)
    finally:
        instant.kill()
    # its answers are a few tokens: what it costs is time per request, set against local's time
    overhead = seconds / results["local (transformers, one batch)"][0]
    console.print(f"http alone: {batch} requests in {seconds:.2f} s ({1000 * seconds / batch:.1f} ms each with "
                  f"{batch} in flight, {failed} failed): {overhead:.1%} of local's time for the same batch")
    table = Table(title=f"{model} ({local.dtype}): generated tokens/s, {batch} prompts, max {max_new_tokens} new tokens")
    for column in ("mode", "seconds", "tokens", "failed rows", "tokens/s", "vs local", "HTTP cost"):
        table.add_column(column, justify="right")
    base = results["local (transformers, one batch)"]
    for name, (seconds, count, failed) in results.items():
        rate, ratio = count / seconds, (count / seconds) / (base[1] / base[0])
        table.add_row(name, f"{seconds:.1f}", str(count), str(failed), f"{rate:.0f}", f"{ratio:.2f}",
                      f"{1 - ratio:+.0%}" if name != next(iter(results)) else "-")
    return table


def served_round(model: str, games: int, scratch: Path, console: Console) -> None:
    """One round of examples/tictactoe.toml with recipe selfplay, its games against the base model served
    over HTTP, judged against random-legal and the served model."""
    path = resolve_model(model)
    port = free_port()
    with ServerProcess(transformers_serve_command(path, port), port, scratch / "round-server.log",
                       ready_timeout_s=300) as server:
        cfg = load_config(Path("examples/tictactoe.toml"), [
            "rounds=1", "recipe='selfplay'", f"rollout.problems_per_round={games}", "matches.opponents=['served:base']",
            "matches.eval_opponents=['random-legal', 'served:base']", f"matches.eval_games={games}",
            f"servers.base.model='{path}'", f"servers.base.base_url='{server.base_url}'",
            "servers.base.api_key_env=''", f"servers.base.tokenizer='{path}'",
            f"servers.base.extra_body={{generation_config='{SAMPLE['generation_config']}'}}"])
        run_dir = RunDir.create(scratch / "round", cfg)
        history = loop.run(cfg, run_dir, Console(quiet=True))
        run_dir.close()
    seconds = history[-1]["seconds"]
    console.print(f"one selfplay round of tic-tac-toe, {games} games against served:base: "
                  + ", ".join(f"{stage} {s:.0f} s" for stage, s in seconds.items()))
    for metrics in history:
        for name, result in metrics["eval"]["vs"].items():
            console.print(f"round {metrics['round']} vs {name}: win {result['win']:.0%}, draw {result['draw']:.0%}, "
                          f"loss {result['loss']:.0%} over {result['games']} games")
    opponent = run_dir.store.episodes(1, "train")[0].provenance["policies"]["served:base"]
    console.print(f"an episode's record of its served opponent: {json.dumps(opponent)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--games", type=int, default=32)
    parser.add_argument("--no-round", action="store_true", help="only the throughput table")
    parser.add_argument("--no-throughput", action="store_true", help="only the round")
    args = parser.parse_args()
    _quiet_libraries()
    console = Console()
    with tempfile.TemporaryDirectory() as scratch:
        if not args.no_throughput:
            console.print(throughput(args.model, args.batch, args.max_new_tokens, Path(scratch), console))
        if not args.no_round:
            served_round(args.model, args.games, Path(scratch), console)


if __name__ == "__main__":
    main()
