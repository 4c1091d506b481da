"""A small OpenAI-compatible chat endpoint on 127.0.0.1 that plays scripted answers, for the LLM tests and the
throughput benchmark (``python -m tests.fake_openai`` serves one and prints its base URL).

By default it answers every step of hins' prompts with a valid answer built from the prompt's input. Faults
are queued with ``script("429", "malformed@events", ...)``: each request takes the first queued fault meant for
its step (or for any step) and plays it:
    401 (echoing the key it got, as some servers do), 429 (with Retry-After), 500, hang (longer than any
    client timeout), drop (close the connection unanswered), malformed (not JSON), schema (JSON that breaks
    the step's rules), 400 (this request exceeds the model's context length), nojson (400: no JSON mode),
    empty (an answer with no choices).
It counts the answers it gave per cache key (the ``X-Hins-Cache-Key`` header), so tests can tell whether a
finished call was ever sent twice, and it records the Authorization headers it received.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import re
import threading
from collections import Counter
from typing import Any

from aiohttp import web

FAULTS = ("401", "429", "500", "hang", "drop", "malformed", "schema", "400", "nojson", "empty")


def _input(request: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The first user message (the task) and the JSON input at its end."""
    task = next(m["content"] for m in request["messages"] if m["role"] == "user")
    _, _, tail = task.rpartition("\nInput:\n")
    return task, json.loads(tail) if tail.strip().startswith("{") else {}


def _number(task: str, pattern: str, default: int) -> int:
    m = re.search(pattern, task)
    return int(m.group(1)) if m else default


def _blocks(messages: list[str], k: int) -> list[list[tuple[int, str]]]:
    """Message ids and speakers in ``k`` contiguous blocks."""
    parsed = []
    for line in messages:
        m = re.match(r"\[(\d+)\] (.*?): ", line)
        assert m, line
        parsed.append((int(m.group(1)), m.group(2)))
    size = -(-len(parsed) // k)
    return [parsed[i:i + size] for i in range(0, len(parsed), size)]


def valid_answer(step: str, task: str, data: dict[str, Any]) -> dict[str, Any]:
    if step == "events":
        first = data["person"]["name"].split()[0]
        kinds = ("routine", "social", "hobby", "mundane")
        n = _number(task, r"write (\d+) events", 6)
        return {"events": [{"text": f"{first} spent part of week {i + 1} on a small {kinds[i % 4]} plan and "
                                    "told a friend about it afterwards",
                            "category": kinds[i % 4], "theme": f"{kinds[i % 4]} plan {i + 1}"} for i in range(n)]}
    if step == "brief":
        return {"brief": "the cheerful neighbourhood librarian from a small coastal town who loves birdwatching, "
                         "jigsaw puzzles and slow Sunday breakfasts"}
    if step == "conversation":
        n = _number(task, r"Exactly (\d+) messages", 40)
        n_events = {label: len(data[label]["events"]) for label in "AB"}
        out = []
        for i in range(n):
            label, j = "AB"[i % 2], i // 2
            event = f"{label}{j // 3 + 1}" if j % 3 == 0 and j // 3 < n_events[label] else None
            opener = "Hi there, message" if i < 2 else "Message"  # each person's first message greets
            out.append({"speaker": label, "text": f"{opener} {i} of our chat about plans, friends and the week",
                        "event": event})
        return {"messages": out}
    if step == "topics":
        return {"topics": [f"subject {k}" for k in range(4)],
                "messages": [{"id": i, "topic": k} for k, block in enumerate(_blocks(data["messages"], 4))
                             for i, _ in block]}
    if step == "queries":
        a, b = list(data["people"])
        blocks = _blocks(data["messages"], len(data["topics"]))
        plan = [(a, a, 0), (a, a, 1), (b, b, 2), (b, b, 3), ("both", a, 0), ("both", b, 2)]
        return {"queries": [{"text": f"What did {target} say about {data['topics'][k]}?", "about": about,
                             "target": target, "topic": data["topics"][k],
                             "evidence": [i for i, who in blocks[k] if about == "both" or who == target]}
                            for about, target, k in plan]}
    if step == "qa_answer":  # a short phrase from the most relevant memory, as the prompt asks
        words = re.sub(r"^\(.*?\)\s*", "", data["memories"][0] if data["memories"] else "").split()
        return {"answer": " ".join(words[1:5]) or "unknown"}
    if step == "personamem_choice":
        return {"choice": sorted(data["options"])[0]}
    return {"ok": True}


def plain_answer(messages: list[dict[str, str]]) -> str:
    """What a real model would answer to other libraries' prompts (MemoryOS's, Mem0's), in the format each asks
    for: a JSON array of themes, 'true'/'false', a comma-separated keyword list, sectioned knowledge, Mem0's
    facts / memory-update JSON, else a short sentence built from the dialogue it was given."""
    system = next((m["content"] for m in messages if m["role"] == "system"), "")
    user = "\n".join(m["content"] for m in messages if m["role"] == "user")
    words = re.findall(r"[A-Za-z]{4,}", user.split("\n")[-1] or user)[:4] or ["small", "talk"]
    if "Format as JSON array" in user:
        return json.dumps([{"theme": words[0], "keywords": words[:2], "content": " ".join(words)}])
    if "'true' or 'false'" in system:
        return "false"
    if "comma-separated" in system:
        return ", ".join(words[:3])
    if "User Private Data" in system + user:
        return "【User Private Data】\n- None\n【Assistant Knowledge】\n- None"
    if '"event"' in system + user and "ADD" in system + user:  # Mem0's memory update: add every new fact
        block = user.rsplit("triple backticks", 1)[-1].split("```")
        facts = ast.literal_eval(block[1].strip()) if len(block) > 2 else []  # a Python list literal
        return json.dumps({"memory": [{"id": str(i), "text": f, "event": "ADD"} for i, f in enumerate(facts)]})
    if '"facts"' in system + user:  # Mem0's fact extraction: the last turns, as facts
        return json.dumps({"facts": [line.split(":", 1)[-1].strip() for line in user.splitlines() if ":" in line][-3:]})
    return f"They talked about {' and '.join(words[:2])}."


def broken_answer(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer with one item fewer in its last list (too few events, messages, queries; a message with no
    topic), or its text cut to three words (a brief too short)."""
    *rest, (key, value) = answer.items()
    return {**dict(rest), key: value[:-1] if isinstance(value, list) else " ".join(str(value).split()[:3])}


class FakeOpenAI:
    def __init__(self, delay_s: float = 0.0, hang_s: float = 30.0, retry_after: str = "1"):
        self.delay_s, self.hang_s, self.retry_after = delay_s, hang_s, retry_after
        self.faults: list[tuple[str, str | None]] = []
        self.answered: Counter[str] = Counter()  # cache key -> answers given
        self.requests: Counter[str] = Counter()  # step -> requests received
        self.played: list[str] = []
        self.in_flight = self.max_in_flight = 0
        self.auth: set[str] = set()
        self.formats: dict[str, Any] = {}  # step -> the response_format of its latest request
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None

    def script(self, *faults: str) -> None:
        for f in faults:
            fault, _, step = f.partition("@")
            assert fault in FAULTS, fault
            self.faults.append((fault, step or None))

    def _take(self, step: str) -> str | None:
        for i, (fault, only) in enumerate(self.faults):
            if only in (None, step):
                del self.faults[i]
                self.played.append(f"{fault}@{step}")
                return fault
        return None

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        step = request.headers.get("X-Hins-Step", "")
        self.requests[step] += 1
        self.auth.add(request.headers.get("Authorization", ""))
        self.formats[step] = body.get("response_format")
        fault = self._take(step)
        if fault == "401":
            key = request.headers.get("Authorization", "").removeprefix("Bearer ")
            return web.json_response({"error": {"message": f"Incorrect API key provided: {key}"}}, status=401)
        if fault == "429":
            return web.json_response({"error": {"message": "slow down", "type": "rate_limit_error"}}, status=429,
                                     headers={"Retry-After": self.retry_after})
        if fault == "500":
            return web.json_response({"error": {"message": "boom", "type": "server_error"}}, status=500)
        if fault == "400":  # OpenAI's words and code for it
            return web.json_response({"error": {
                "message": "This model's maximum context length is 2048 tokens. However, your messages resulted "
                           "in 2817 tokens. Please reduce the length of the messages.",
                "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}},
                status=400)
        if fault == "nojson":
            return web.json_response({"error": {
                "message": "Invalid parameter: 'response_format' of type 'json_object' is not supported with "
                           "this model.", "type": "invalid_request_error", "param": "response_format"}}, status=400)
        if fault == "hang":  # the client has given up long before; nothing counts as answered
            await asyncio.sleep(self.hang_s)
            return web.Response(status=504)
        if fault == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if fault == "malformed":
            content = '{"oops": [1, 2'
        elif not step:  # not one of hins' steps: another library's prompt
            content = plain_answer(body["messages"])
        else:
            answer = valid_answer(step, *_input(body))
            content = json.dumps(broken_answer(answer) if fault == "schema" else answer)
        self.answered[request.headers.get("X-Hins-Cache-Key", "")] += 1
        prompt_words = sum(len(m["content"].split()) for m in body["messages"])
        choices = [] if fault == "empty" else [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}]
        return web.json_response({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": choices,
            "usage": {"prompt_tokens": prompt_words, "completion_tokens": len(content.split()),
                      "total_tokens": prompt_words + len(content.split())}})

    async def _start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/v1"

    def start(self) -> "FakeOpenAI":
        """Serve from a background thread; returns once the port is open."""
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def serve() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._start())
            ready.set()
            self._loop.run_forever()

        threading.Thread(target=serve, daemon=True).start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer (an LLM's latency)")
    args = parser.parse_args()
    server = FakeOpenAI(delay_s=args.delay)

    async def run() -> None:
        await server._start(args.port)
        print(server.url, flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


if __name__ == "__main__":
    main()
