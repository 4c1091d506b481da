"""Throughput of the LLM client against a local OpenAI-compatible server that answers at once.

    python benchmarks/llm_throughput.py [--requests 4000] [--concurrency 64] [--naive 300] [--conversations 100]
                                        [--latency 0.05]

Starts tests/fake_openai.py in its own process, answering at once and then after ``--latency`` seconds (a
stand-in for an LLM's time per answer), and prints one markdown table of requests per second:
- a naive sequential loop over the openai package's synchronous client (what a script would do);
- hins' LLMClient at the given concurrency, every answer appended durably (fsync) to a fresh call cache,
  on openai's aiohttp transport and, for comparison, on its default httpx one;
- the whole LLM synthesizer (7 calls per conversation, answers validated), as calls and conversations per second.
Against the instant server this measures the client's own overhead: the most it can ask of a fast endpoint
(vLLM on a GPU). Against the slower one, what concurrency buys over a sequential loop.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import openai
import yaml

from hins.core.config import LLMEndpointConfig
from hins.stages.personas import BuiltinPersonas
from hins.synthesis import llm_client
from hins.synthesis.llm import LLMSynthesizer
from hins.synthesis.llm_client import LLMClient

ROOT = Path(__file__).resolve().parents[1]


def settings(url: str, concurrency: int, cache: Path) -> dict:
    node = yaml.safe_load((ROOT / "hins" / "conf" / "synthesis" / "openai.yaml").read_text())
    del node["_target_"]
    node.update(base_url=url, model="bench", concurrency=concurrency, cache_path=str(cache))
    return node


def naive(url: str, n: int) -> float:
    client = openai.OpenAI(base_url=url, api_key="none", max_retries=0)
    start = time.perf_counter()
    for i in range(n):
        client.chat.completions.create(model="bench", messages=[{"role": "user", "content": f"request {i}"}])
    return n / (time.perf_counter() - start)


def ours(url: str, n: int, concurrency: int, cache: Path) -> float:
    node = settings(url, concurrency, cache)
    endpoint = LLMEndpointConfig.model_validate({k: v for k, v in node.items() if k in LLMEndpointConfig.model_fields})

    async def main() -> float:
        async with LLMClient(endpoint) as client:
            start = time.perf_counter()
            await asyncio.gather(*(client.complete("bench", [{"role": "user", "content": f"request {i}"}])
                                   for i in range(n)))
            return n / (time.perf_counter() - start)

    return asyncio.run(main())


def synthesizer(url: str, n: int, concurrency: int, cache: Path) -> tuple[float, float]:
    people = BuiltinPersonas(seed=0)
    jobs = [(f"c{i:06d}", *people.pair(i)) for i in range(n)]
    synth = LLMSynthesizer(seed=0, **settings(url, concurrency, cache))
    start = time.perf_counter()
    convs, _, stats = synth.synthesize(jobs)
    seconds = time.perf_counter() - start
    assert len(convs) == n, stats
    return stats["usage"]["calls"] / seconds, n / seconds


def serve(delay: float) -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen([sys.executable, "-m", "tests.fake_openai", "--delay", str(delay)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    return server, server.stdout.readline().strip()  # type: ignore[union-attr]


def measure(args: argparse.Namespace, delay: float, tmp: Path) -> list[float]:
    """Requests/s of each client against a server that answers after ``delay`` seconds."""
    server, url = serve(delay)
    try:
        rates = [naive(url, args.naive), ours(url, args.requests, args.concurrency, tmp / f"a{delay}.jsonl")]
        default_transport = llm_client._http_client
        llm_client._http_client = lambda: None  # openai's default (httpx) transport
        try:
            rates.append(ours(url, args.requests, args.concurrency, tmp / f"b{delay}.jsonl"))
        finally:
            llm_client._http_client = default_transport
        calls, convs = synthesizer(url, args.conversations, args.concurrency, tmp / f"c{delay}.jsonl")
        return [*rates, calls, convs]
    finally:
        server.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--naive", type=int, default=300, help="requests of the sequential loop")
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.05, help="the second server's seconds per answer")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        instant, slow = measure(args, 0.0, Path(tmp)), measure(args, args.latency, Path(tmp))
    ms = f"{1000 * args.latency:g} ms"
    print(f"\n| client | concurrency | requests/s, instant server | requests/s, server answering in {ms} |")
    print("|---|---|---|---|")
    names = [("naive sequential loop, openai.OpenAI", 1),
             ("LLMClient, aiohttp transport, durable cache", args.concurrency),
             ("LLMClient, httpx transport, durable cache", args.concurrency),
             (f"LLMSynthesizer, {args.conversations} conversations (7 validated calls each)", args.concurrency)]
    for i, (name, conc) in enumerate(names):
        extra = (f" ({instant[4]:,.1f} conv/s)", f" ({slow[4]:,.1f} conv/s)") if i == 3 else ("", "")
        print(f"| {name} | {conc} | {instant[i]:,.0f}{extra[0]} | {slow[i]:,.0f}{extra[1]} |")


if __name__ == "__main__":
    main()
