"""Async client for OpenAI-compatible chat endpoints, built to run ~10^5 calls unattended.

- At most ``concurrency`` requests in flight and at most ``requests_per_second`` started per second.
- Transient failures (429, 408/409, 5xx, timeouts, dropped connections) are retried with exponential backoff
  and jitter, or after the server's Retry-After; the openai package's own retries are off so that ours are
  the only ones. After ``max_retries`` the run stops (``LLMUnavailable``): finished calls are cached, so a
  rerun resumes. A refused key or unknown model stops it at once (``LLMFatal``). A request the endpoint
  refuses on its own merits (HTTP 400/413/422: too long for the model, filtered) fails alone (``LLMRefused``)
  and the refusal is cached like an answer, so a rerun does not send it again.
- Every finished call is appended to a JSONL cache (write, fsync) keyed by the request (messages, model,
  sampling settings, the answer's schema where one is sent, a caller salt); a rerun replays cached calls
  instead of sending them. Runs sharing the cache send each call once between them (``CallCache.claim``), and
  a line torn by a kill is cut off under the write lock, so it is never a live run's line.
- Where the endpoint can constrain its sampling to a JSON schema (``json_schema``: llama.cpp, vLLM, Ollama,
  OpenAI), each step's answer schema goes with the request in ``response_format``.
- Token usage and the estimated cost are accumulated in ``Usage``.
The API key is read from the environment at the first request and kept only inside the openai client.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import errno
import fcntl
import hashlib
import json
import logging
import os
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import openai

from hins.core.config import LLMEndpointConfig
from hins.core.logging_utils import scrub

log = logging.getLogger(__name__)
# The HTTP transports log every request at INFO: 10^5 lines in a run's log. Their warnings still show.
for _name in ("httpx", "httpx2"):
    logging.getLogger(_name).setLevel(logging.WARNING)
_TRANSIENT_STATUS = (408, 409, 429)
_REFUSED_STATUS = (400, 413, 422)  # about this request only; other 4xx (key, model, quota) are about every request
_MAX_RETRY_AFTER_S = 900.0  # a longer Retry-After is treated as this, so a run never sleeps for hours


class LLMFatal(RuntimeError):
    """The endpoint refuses the request for good (bad key, unknown model): retrying cannot help."""


class LLMUnavailable(RuntimeError):
    """Transient failures outlasted ``max_retries``; rerun to resume from the cache."""


class LLMRefused(RuntimeError):
    """The endpoint refuses this one request for good (too long for the model, filtered); others may pass."""


@dataclass
class StepUsage:
    """One step's calls answered by the endpoint in this run, their tokens and their request seconds (summed
    over the calls: with several in flight they overlap), and its calls replayed from the cache."""

    calls: int = 0
    cached: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0


@dataclass
class Usage:
    calls: int = 0  # answered by the endpoint in this run
    cached: int = 0  # replayed from the cache
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cached_output_tokens: int = 0
    cost_usd: float = 0.0
    retries: Counter = field(default_factory=Counter)  # reason -> count
    steps: dict[str, StepUsage] = field(default_factory=dict)  # step -> its answered calls
    wall_s: float = 0.0  # from the client's opening to its closing

    def to_dict(self) -> dict[str, Any]:
        steps = {name: {**asdict(st), "seconds": round(st.seconds, 3)} for name, st in sorted(self.steps.items())}
        return {**asdict(self), "cost_usd": round(self.cost_usd, 6), "retries": dict(self.retries), "steps": steps,
                "wall_s": round(self.wall_s, 3),
                "output_tokens_per_s": round(self.output_tokens / self.wall_s, 2) if self.wall_s else None}

    def line(self) -> str:
        return (f"{self.input_tokens:,} in / {self.output_tokens:,} out tok · ${self.cost_usd:.4f} · "
                f"{self.calls} calls, {self.cached} cached, {sum(self.retries.values())} retries")


@dataclass(frozen=True)
class Answer:
    text: str
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class Refusal:
    reason: str  # the endpoint's HTTP status and message (openai's error text, the key scrubbed)


class CallCache:
    """Finished calls, one JSON line each, appended durably; the file is opened once per run and may be shared
    by concurrent runs (the jobs of a sweep, the nodes of a cluster on a shared file system).

    - Appends are group-committed: lines that arrive while an fsync runs (in a thread, off the event loop)
      go out together in the next write + fsync, and each caller resumes only once its line is on disk.
    - Every write holds an exclusive ``flock`` on the file for its whole write + fsync, so a live writer's line
      is always complete while the lock is free. Under that lock, a tail after the last newline is a line a
      killed writer left unfinished, and is cut off (at the start of a run and before each write).
    - A call is *claimed* before it is sent (``claim``): a POSIX record lock on one byte of ``<cache>.claims``
      per request key, which the kernel drops when its holder dies. A run that finds a call claimed waits,
      reading the lines others append, until the answer is there (or the claim is gone: it then sends the call
      itself), so two runs needing the same call send it once. Within a run, identical requests in flight are
      joined by the client; one cache file is used by one client of a process at a time (POSIX locks are the
      process's: a second client in the same process would not see the first one's claims).
    """

    _CLAIM_POLL_S = (0.01, 1.0)  # first and longest wait between looks at a call another run has claimed

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.claims_path = self.path.with_name(self.path.name + ".claims")
        self.entries: dict[str, Answer | Refusal] = {}
        self._fd: int | None = None
        self._claims: int | None = None
        self._read_to = 0  # bytes of the file parsed into ``entries`` (always just after a newline)
        self._pending: list[tuple[bytes, asyncio.Future]] = []
        self._writer: asyncio.Task | None = None

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        self._claims = os.open(self.claims_path, os.O_RDWR | os.O_CREAT, 0o644)
        with self._locked():
            self._cut_torn_tail()
        self.refresh()

    def refresh(self) -> None:
        """Parse the whole lines appended since the last look (by this run or another)."""
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if size <= self._read_to:
            return
        data = os.pread(self._fd, size - self._read_to, self._read_to)
        end = data.rfind(b"\n") + 1  # a line still being written (or cut short by a kill) waits for the next look
        for line in data[:end].splitlines():
            try:
                rec = json.loads(line)
                self.entries[rec["key"]] = (Refusal(rec["refused"]) if "refused" in rec else
                                            Answer(rec["text"], rec["input_tokens"], rec["output_tokens"]))
            except (ValueError, KeyError, TypeError):
                log.warning("LLM call cache %s: a line at byte %d is not a record; ignored", self.path,
                            self._read_to)
        self._read_to += end

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        assert self._fd is not None
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _cut_torn_tail(self) -> None:
        """Under the write lock: cut off what follows the last newline, a record whose writer was killed."""
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if size == 0 or os.pread(self._fd, 1, size - 1) == b"\n":
            return
        start = size
        while start > 0:  # back to the last newline, a block at a time
            start = max(0, start - 65536)
            block = os.pread(self._fd, min(65536, size - start), start)
            if b"\n" in block:
                end = start + block.rfind(b"\n") + 1
                break
        else:
            end = 0
        log.warning("LLM call cache %s: cutting off %d bytes of an unfinished record", self.path, size - end)
        os.ftruncate(self._fd, end)

    @contextlib.asynccontextmanager
    async def claim(self, key: str) -> AsyncIterator[Answer | Refusal | None]:
        """Hold ``key``'s claim while the call is sent and its answer written; yields the finished entry
        instead (holding nothing) when another run has written it meanwhile."""
        assert self._claims is not None
        byte = int(key[:15], 16)  # 60 bits of the key's hash: one byte of a sparse lock file per call
        wait, longest = self._CLAIM_POLL_S
        while True:
            try:
                fcntl.lockf(self._claims, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, byte)
                break
            except OSError as err:  # EAGAIN / EACCES: another live run is sending it
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            # Non-blocking, polled: a blocking POSIX lock would let the kernel report a false deadlock between
            # two runs that each hold one claim and wait for the other's.
            self.refresh()
            if key in self.entries:
                yield self.entries[key]
                return
            await asyncio.sleep(wait)
            wait = min(2 * wait, longest)
        try:
            self.refresh()  # a run that finished it just before we claimed it
            yield self.entries.get(key)
        finally:
            fcntl.lockf(self._claims, fcntl.LOCK_UN, 1, byte)

    async def close(self) -> None:
        """Close once the lines being written are on disk (a run stopping on an error keeps them too)."""
        if self._writer is not None:
            await asyncio.shield(self._writer)
        for fd in (self._fd, self._claims):
            if fd is not None:
                os.close(fd)  # the claims' close drops any claim still held (a cancelled call's)
        self._fd = self._claims = None

    async def add(self, key: str, step: str, model: str, answer: Answer | Refusal) -> None:
        result = {"refused": answer.reason} if isinstance(answer, Refusal) else asdict(answer)
        rec = {"key": key, "step": step, "model": model, **result}
        done = asyncio.get_running_loop().create_future()
        self._pending.append(((json.dumps(rec, ensure_ascii=False) + "\n").encode(), done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._drain())
        await done
        self.entries[key] = answer

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await asyncio.to_thread(self._append, b"".join(line for line, _ in batch))
            except OSError as err:
                waiting = [done for _, done in batch if not done.done()]
                for done in waiting:
                    done.set_exception(err)
                if len(waiting) < len(batch):  # their callers are gone (the run stopped): only the log can tell
                    log.error("LLM call cache %s: %d finished calls could not be written: %s", self.path,
                              len(batch) - len(waiting), err)
            else:
                # A caller cancelled meanwhile (another call stopped the run) is not waiting; its line is written.
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)

    def _append(self, data: bytes) -> None:
        assert self._fd is not None
        with self._locked():
            self._cut_torn_tail()
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            os.fsync(self._fd)


def cost_usd(settings: LLMEndpointConfig, input_tokens: int, output_tokens: int) -> float:
    return input_tokens / 1000 * settings.price_input_per_1k + output_tokens / 1000 * settings.price_output_per_1k


def response_format(settings: LLMEndpointConfig, step: str, schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """The request's ``response_format``: the answer's JSON schema in the form ``settings.json_schema`` names
    (a server then constrains its sampling to it), else JSON mode, else none."""
    if settings.json_schema == "json_schema" and schema is not None:  # OpenAI's form: vLLM, Ollama, llama-server
        return {"type": "json_schema", "json_schema": {"name": step, "schema": schema}}
    if settings.json_schema == "json_object" and schema is not None:  # llama-cpp-python's server
        return {"type": "json_object", "schema": schema}
    return {"type": "json_object"} if settings.json_mode else None


def request_key(settings: LLMEndpointConfig, messages: list[dict[str, str]], salt: str,
                schema: dict[str, Any] | None = None) -> str:
    """What makes an answer reusable: the prompt and inputs, the model, the sampling settings and the schema
    the answer was constrained to, in the form sent (none: the key is as it was before schemas were sent)."""
    parts: list[Any] = [messages, settings.model, settings.temperature, settings.max_tokens, settings.json_mode, salt]
    if settings.json_schema is not None and schema is not None:
        parts += [settings.json_schema, schema]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _retry_after(err: openai.APIStatusError) -> float | None:
    """Seconds the server asks us to wait: ``retry-after-ms``, or ``retry-after`` as seconds or an HTTP date."""
    headers = err.response.headers
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return float(value)
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return when.timestamp() - time.time()
    except (TypeError, ValueError):
        return None


def _http_client() -> Any:
    """openai's aiohttp transport where the ``aiohttp`` extra is installed, else its httpx default (None).
    Its connection pool (100 kept alive) is wider than the concurrency it is used at."""
    try:
        return openai.DefaultAioHttpClient()
    except (AttributeError, RuntimeError):  # an openai without it, or without aiohttp
        return None


class _RateLimiter:
    """Start times spaced 1/rate apart (no burst); a no-op without a rate."""

    def __init__(self, per_second: float | None):
        self.interval = 1.0 / per_second if per_second else 0.0
        self.next = 0.0

    async def wait(self) -> None:
        if not self.interval:
            return
        now = asyncio.get_running_loop().time()
        slot = max(now, self.next)
        self.next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


class LLMClient:
    """Use inside one event loop: ``async with LLMClient(settings) as c: await c.complete(...)``."""

    def __init__(self, settings: LLMEndpointConfig):
        self.settings = settings
        self.cache = CallCache(settings.cache_path)
        self.usage = Usage()
        self._inflight: dict[str, asyncio.Future] = {}
        self._sem = asyncio.Semaphore(settings.concurrency)
        self._limiter = _RateLimiter(settings.requests_per_second)
        self._opened = time.monotonic()
        self._secret = os.environ.get(settings.api_key_env or "", "")
        # Local servers (vLLM, Ollama) take any key; the openai package insists on one. Its aiohttp transport
        # sustains ~2x the requests per second of the default httpx one on a small CPU (benchmarks/README.md).
        self._api = openai.AsyncOpenAI(base_url=settings.base_url, api_key=self._secret or "none", max_retries=0,
                                       timeout=settings.timeout_s, http_client=_http_client())

    async def __aenter__(self) -> "LLMClient":
        self.cache.open()
        self._opened = time.monotonic()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        try:
            # Requests still running when the caller stops (on an error) are abandoned; an answer already
            # received is in the cache's queue by then, and cache.close() writes it.
            sends = list(self._inflight.values())
            for send in sends:
                send.cancel()
            await asyncio.gather(*sends, return_exceptions=True)
            await self.cache.close()
        finally:
            await self._api.close()
        self.usage.wall_s = time.monotonic() - self._opened
        log.info("LLM usage: %s", self.usage.line())

    async def complete(self, step: str, messages: list[dict[str, str]], salt: str = "",
                       schema: dict[str, Any] | None = None) -> Answer:
        """The answer to ``messages``: from the cache, from an identical request in flight (in this run or
        another one sharing the cache), or sent. ``schema``: the answer's JSON schema, sent when
        ``json_schema`` asks for it. Raises ``LLMRefused`` when the endpoint refuses this request (now or in a
        cached earlier run)."""
        fmt = response_format(self.settings, step, schema)
        key = request_key(self.settings, messages, salt, schema)
        hit = self.cache.entries.get(key)
        if hit is not None:
            return self._replay(step, hit)
        running = self._inflight.get(key)
        if running is not None:
            return await asyncio.shield(running)
        task = asyncio.ensure_future(self._claim_and_send(step, messages, key, fmt))
        self._inflight[key] = task
        try:
            return await task
        finally:
            self._inflight.pop(key, None)

    def _replay(self, step: str, hit: Answer | Refusal) -> Answer:
        self.usage.cached += 1
        self.usage.steps.setdefault(step, StepUsage()).cached += 1
        if isinstance(hit, Refusal):
            raise LLMRefused(_refused(step, hit))
        self.usage.cached_input_tokens += hit.input_tokens
        self.usage.cached_output_tokens += hit.output_tokens
        return hit

    async def _claim_and_send(self, step: str, messages: list[dict[str, str]], key: str,
                              fmt: dict[str, Any] | None) -> Answer:
        async with self.cache.claim(key) as done:  # another run sharing the cache may be sending it
            if done is None:
                return await self._send(step, messages, key, fmt)
        return self._replay(step, done)

    async def _send(self, step: str, messages: list[dict[str, str]], key: str, fmt: dict[str, Any] | None) -> Answer:
        s = self.settings
        extra: dict[str, Any] = {"response_format": fmt} if fmt is not None else {}
        # The headers tell a server or proxy log which call is which (the tests' server counts repeats by them).
        headers = {"X-Hins-Cache-Key": key, "X-Hins-Step": step}
        answer: Answer | Refusal | None = None
        for attempt in range(s.max_retries + 1):
            async with self._sem:
                await self._limiter.wait()
                start = time.monotonic()
                try:
                    resp = await self._api.chat.completions.create(
                        model=s.model, messages=messages, temperature=s.temperature,  # type: ignore[arg-type]
                        max_tokens=s.max_tokens, extra_headers=headers, **extra)
                except openai.APIStatusError as err:
                    status, message = err.status_code, scrub(str(err), self._secret)[:500]
                    # A server without JSON mode refuses every request alike: that stops the run, below.
                    if status in _REFUSED_STATUS and "response_format" not in message:
                        answer = Refusal(message)
                    elif status not in _TRANSIENT_STATUS and status < 500:
                        raise LLMFatal(f"{s.base_url} answered HTTP {status} to a {step} request: {message} "
                                       f"(check the model, base_url, the key in ${s.api_key_env}, or "
                                       f"json_mode=false / json_schema=null for a server without JSON mode or "
                                       f"schemas)") from None
                    else:
                        reason, wait = f"http {status}", _retry_after(err)
                except openai.APITimeoutError:
                    reason, wait = "timeout", None
                except openai.APIConnectionError:
                    reason, wait = "connection", None
                else:
                    answer = Answer(_text(resp, step), resp.usage.prompt_tokens if resp.usage else 0,
                                    resp.usage.completion_tokens if resp.usage else 0)
            # Written outside the semaphore: the slot serves the next request meanwhile.
            if isinstance(answer, Answer):
                self._account(step, answer, time.monotonic() - start)
                await self.cache.add(key, step, s.model, answer)
                return answer
            if answer is not None:
                await self.cache.add(key, step, s.model, answer)
                log.warning("%s", _refused(step, answer))
                raise LLMRefused(_refused(step, answer))
            self.usage.retries[reason] += 1
            if attempt == s.max_retries:
                break
            # Waits happen outside the semaphore, so the other requests keep the endpoint busy.
            backoff = min(s.max_backoff_s, s.backoff_s * 2 ** attempt) * random.uniform(0.5, 1.0)
            await asyncio.sleep(min(max(wait, 0.0), _MAX_RETRY_AFTER_S) if wait is not None else backoff)
        raise LLMUnavailable(f"{step} request to {s.base_url} failed {s.max_retries + 1} times (last: {reason}); "
                             f"finished calls are cached in {self.cache.path}: rerun to resume")

    def _account(self, step: str, answer: Answer, seconds: float) -> None:
        u = self.usage
        u.calls += 1
        u.input_tokens += answer.input_tokens
        u.output_tokens += answer.output_tokens
        u.cost_usd += cost_usd(self.settings, answer.input_tokens, answer.output_tokens)
        st = u.steps.setdefault(step, StepUsage())
        st.calls += 1
        st.input_tokens += answer.input_tokens
        st.output_tokens += answer.output_tokens
        st.seconds += seconds


def _refused(step: str, refusal: Refusal) -> str:
    return f"the endpoint refused a {step} request ({refusal.reason}); cached, so a rerun does not resend it"


def _text(resp: Any, step: str) -> str:
    """The answer's text; an answer without one is empty, so the caller's schema check rejects it (and re-asks)."""
    if not resp.choices:
        log.warning("the endpoint answered a %s request with no choices; taken as an empty answer", step)
        return ""
    return resp.choices[0].message.content or ""
