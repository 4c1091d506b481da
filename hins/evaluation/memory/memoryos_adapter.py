"""MemoryOS (Kang et al., 2025; PyPI ``memoryos-pro==0.1.0``) with a hins model as its embedder.

MemoryOS calls an LLM for every stored page (continuity check, page meta-information, session summaries) and
answers through it, so it runs only where an LLM endpoint is configured (``llm.base_url``, ``llm.model``).

Install: ``memoryos-pro`` 0.1.0 pins numpy 1.24, sentence-transformers < 3 and faiss-gpu, none of which it
needs at those versions, so it is installed without its pins beside the packages it uses::

    pip install 'hins[memoryos]' && pip install --no-deps memoryos-pro==0.1.0

How our model gets in: MemoryOS embeds every text with ``memoryos.utils.get_embedding(text)``, which loads
``SentenceTransformer("all-MiniLM-L6-v2")`` into a module-level cache on first use; we put our model into that
cache under that name (and empty its text-embedding cache), so every embedding MemoryOS computes is ours.

Refusing garbage: MemoryOS's client turns any failed LLM call into the string "Error: Could not get response
from LLM." and stores it as memory. The adapter probes the endpoint before anything is stored, counts every such
failure, and raises :class:`MemoryUnavailable` at the first one instead of scoring a memory built from errors.

LoCoMo turns are stored as MemoryOS's LoCoMo evaluation stores them: consecutive turns as (user, assistant)
pairs with the session's date as timestamp. Each retrieved page maps back to the ``dia_id`` s of its two turns,
so evidence recall can be measured for MemoryOS too.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from hins.core.logging_utils import public_url, scrub
from hins.evaluation.memory.base import Hit
from hins.evaluation.memory.mem0_adapter import MemoryUnavailable
from hins.core.records import Conversation, Message

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"  # the name MemoryOS 0.1.0 asks get_embedding for
LLM_ERROR = "Error: Could not get response from LLM."
# MemoryOS's LoCoMo evaluation settings, as the paper runs it: mid-term capacity 2000, heat 5.0, similarity 0.6,
# retrieval queue 10, segment / page / knowledge thresholds 0.1, mid-term top 5, long-term knowledge top 10.
SETTINGS = {"short_term_capacity": 1, "mid_term_capacity": 2000, "retrieval_queue_capacity": 10,
            "mid_term_heat_threshold": 5.0, "mid_term_similarity_threshold": 0.6}
RETRIEVAL = {"segment_similarity_threshold": 0.1, "page_similarity_threshold": 0.1, "knowledge_threshold": 0.1,
             "top_k_sessions": 5, "top_k_knowledge": 10}


def _import_memoryos() -> Any:
    try:
        import memoryos
        import memoryos.utils
    except ImportError as err:
        raise MemoryUnavailable("MemoryOS is not installed: pip install 'hins[memoryos]' && "
                                "pip install --no-deps memoryos-pro==0.1.0") from err
    return memoryos


def _pairs(messages: Sequence[Message]) -> Iterator[list[Message]]:
    """Consecutive turns in twos, a session's odd last turn alone (MemoryOS stores user/assistant pairs)."""
    by_session: dict[str | None, list[Message]] = {}
    for msg in messages:
        by_session.setdefault(msg.session, []).append(msg)
    for msgs in by_session.values():
        for i in range(0, len(msgs), 2):
            yield msgs[i:i + 2]


class _Scrubbed(io.TextIOBase):
    """MemoryOS's printed lines on their way to a file, with the key taken out: it prints failed LLM calls with
    the server's message, which may echo the key."""

    def __init__(self, out: io.TextIOBase, secret: str):
        self.out = out
        self.secret = secret

    def write(self, text: str) -> int:
        # print() writes each formatted argument whole, so a key is never split between two calls.
        self.out.write(scrub(text, self.secret))
        return len(text)


class MemoryOSMemory:
    """One MemoryOS user per conversation (``user_id`` = conversation id), all under ``store_dir``."""

    name = "memoryos"

    def __init__(self, model_dir: str | Path, store_dir: str | Path, *, llm: dict[str, Any] | None,
                 passage_template: str = "{speaker}: {text}"):
        if not (llm and llm.get("base_url") and llm.get("model")):
            raise MemoryUnavailable("MemoryOS calls an LLM for every stored page and every answer: set "
                                    "llm.base_url and llm.model (no LLM-free mode exists)")
        self.memoryos = _import_memoryos()
        from sentence_transformers import SentenceTransformer

        utils = self.memoryos.utils
        utils._model_cache[DEFAULT_EMBEDDER] = SentenceTransformer(str(model_dir))
        utils.clear_embedding_cache()  # keyed by model name: vectors of a previous model must not be reused
        self.llm = llm
        self.secret = os.environ.get(llm.get("api_key_env") or "OPENAI_API_KEY", "")
        self.api_key = self.secret or "none"  # local servers take any key; MemoryOS's client insists on one
        self.template = passage_template
        self.store_dir = Path(store_dir)
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.store_dir / "memoryos.log"  # MemoryOS prints a line per step; kept, not shown
        self.failures = 0
        self.users: dict[str, Any] = {}
        # cid -> (user_input, agent_response, timestamp) -> dia_ids: a page's first text alone repeats ("See you!")
        self.page_ids: dict[str, dict[tuple[str, str, str], list[str]]] = {}
        self._probe()

    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        with open(self.log_path, "a") as log, contextlib.redirect_stdout(_Scrubbed(log, self.secret)):
            yield
        if self.failures:
            raise MemoryUnavailable(f"the LLM at {public_url(self.llm['base_url'])} failed {self.failures} call(s) "
                                    f"while MemoryOS was working (details in {self.log_path}); refusing to score "
                                    "a memory built from error strings")

    def _probe(self) -> None:
        client = self.memoryos.utils.OpenAIClient(api_key=self.api_key, base_url=self.llm["base_url"])
        self._guard(client)
        with self._quiet():
            client.chat_completion(self.llm["model"], [{"role": "user", "content": "Reply with OK."}], max_tokens=5)
        client.shutdown()

    def _guard(self, client: Any) -> None:
        """Count the failed calls MemoryOS's client would silently turn into memory text."""
        call = client.chat_completion

        def checked(*args: Any, **kwargs: Any) -> str:
            answer = call(*args, **kwargs)
            if answer == LLM_ERROR:
                self.failures += 1
            return answer

        client.chat_completion = checked

    def _user(self, cid: str) -> Any:
        if cid not in self.users:
            with self._quiet():
                mos = self.memoryos.Memoryos(user_id=cid, openai_api_key=self.api_key,
                                             openai_base_url=self.llm["base_url"], llm_model=self.llm["model"],
                                             data_storage_path=str(self.store_dir), **SETTINGS)
            self._guard(mos.client)
            self.users[cid] = mos
        return self.users[cid]

    def add_conversation(self, conversation: Conversation) -> None:
        mos = self._user(conversation.cid)
        ids = self.page_ids.setdefault(conversation.cid, {})
        with self._quiet():
            for pair in _pairs(conversation.messages):
                texts = [self.template.format(speaker=m.speaker, text=m.text) for m in pair]
                # MemoryOS stamps a page given no time with the time now; stamping it here the same way keeps
                # the page's key known.
                stamp = pair[0].session or self.memoryos.utils.get_timestamp()
                page = (texts[0], texts[1] if len(texts) > 1 else "", stamp)
                ids[page] = [m.dia_id or str(m.mid) for m in pair]
                mos.add_memory(user_input=page[0], agent_response=page[1], timestamp=page[2])

    def search(self, cid: str, question: str, k: int) -> list[Hit]:
        mos = self._user(cid)
        with self._quiet():
            found = mos.retriever.retrieve_context(user_query=question, user_id=cid, **RETRIEVAL)
        ids = self.page_ids.get(cid, {})
        hits = [Hit(text=f"{p.get('user_input', '')}\n{p.get('agent_response', '')}".strip(),
                    score=float(p.get("score", 0.0)),
                    dia_ids=tuple(ids.get((p.get("user_input", ""), p.get("agent_response", ""),
                                           p.get("timestamp", "")), ())))
                for p in found["retrieved_pages"]]
        hits += [Hit(text=e["knowledge"], score=float(e.get("score", 0.0)))
                 for e in found["retrieved_user_knowledge"]]
        return hits[:k]

    def search_many(self, cid: str, questions: Sequence[str], k: int) -> list[list[Hit]]:
        return [self.search(cid, q, k) for q in questions]

    def close(self) -> None:
        for mos in self.users.values():
            mos.client.shutdown()
