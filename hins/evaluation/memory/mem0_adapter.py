"""Mem0 (open-source, ``mem0ai==1.0.2``: pure dense search) with a hins model as its embedder.

The memory is a real ``mem0.Memory``: its ``huggingface`` embedder loads our sentence-transformers directory by
path, its vector store is an embedded qdrant on disk, and every add and search goes through Mem0's own code.
Two modes:

* ``retrieval`` (offline): every turn is stored as it is (``add(..., infer=False)``: no LLM), tagged with its
  LoCoMo ``dia_id``, so each search can be scored by evidence recall.
* ``full``: Mem0's LLM extracts and updates memories from each session, as in Mem0's own LoCoMo evaluation;
  needs an LLM endpoint (``llm.base_url`` / ``llm.model``, key from the variable named in ``llm.api_key_env``).
  Extracted memories carry no ``dia_id``: only answer F1 / BLEU-1 score them.

Why the embedding cache: Mem0 embeds one text per call (0.1-0.3 s each on a CPU: 5,882 LoCoMo turns would take
20 minutes). Before a batch of adds or searches we encode all its texts at once with Mem0's own
SentenceTransformer instance and serve Mem0's ``embed`` calls from that table; a text not in it (Mem0's
``full`` mode embeds texts it wrote itself) is encoded by Mem0 as usual. The vectors are the ones Mem0 would
compute, just computed in batches.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hins.core.logging_utils import scrub
from hins.evaluation.memory.base import Hit
from hins.core.records import Conversation

log = logging.getLogger(__name__)
logging.getLogger("mem0").setLevel(logging.WARNING)  # one INFO line per stored vector otherwise

MODES = ("retrieval", "full")


class MemoryUnavailable(RuntimeError):
    """A memory system cannot run here: its package is missing or it needs an LLM that is not configured."""


def _import_mem0() -> Any:
    os.environ.setdefault("MEM0_TELEMETRY", "False")  # before the import: mem0 reads it at import time
    try:
        import mem0
    except ImportError as err:
        raise MemoryUnavailable("Mem0 is not installed: pip install 'hins[memory]' (mem0ai==1.0.2)") from err
    if not mem0.__version__.startswith("1."):
        log.warning("mem0ai %s: hins is tested with 1.0.2; 2.x mixes keyword and entity scores into search",
                    mem0.__version__)
    return mem0


class _BatchedEmbeddings:
    """Serves Mem0's one-text ``embed`` calls from vectors encoded in batches by the same model."""

    def __init__(self, embedder: Any, batch_size: int):
        self.embedder = embedder  # mem0.embeddings.huggingface.HuggingFaceEmbedding
        self.batch_size = batch_size
        self.table: dict[str, list[float]] = {}
        self._embed_one = embedder.embed
        embedder.embed = self.embed

    def prefetch(self, texts: Sequence[str]) -> None:
        todo = sorted({t for t in texts if t not in self.table})
        if todo:
            vectors = self.embedder.model.encode(todo, batch_size=self.batch_size, convert_to_numpy=True,
                                                 show_progress_bar=False)
            self.table.update(zip(todo, vectors.tolist()))

    def embed(self, text: str, memory_action: str | None = None) -> list[float]:
        hit = self.table.get(text)
        return hit if hit is not None else self._embed_one(text, memory_action)


class Mem0Memory:
    """A Mem0 memory over conversations; each conversation is its own Mem0 user (``user_id`` = conversation id)."""

    name = "mem0"

    def __init__(self, model_dir: str | Path, store_dir: str | Path, *, mode: str = "retrieval",
                 llm: dict[str, Any] | None = None, passage_template: str = "{speaker}: {text}",
                 batch_size: int = 64, dims: int | None = None):
        if mode not in MODES:
            raise ValueError(f"memory.mode={mode!r}: expected one of {MODES}")
        model_dir = Path(model_dir)
        if not (model_dir / "modules.json").is_file():
            raise FileNotFoundError(f"{model_dir}: not a sentence-transformers directory (no modules.json)")
        if mode == "full" and not (llm and llm.get("base_url") and llm.get("model")):
            raise MemoryUnavailable("Mem0 full mode extracts memories with an LLM: set llm.base_url and llm.model "
                                    "(or use memory.mode=retrieval, which needs none)")
        self.mode = mode
        self.template = passage_template
        store_dir = Path(store_dir)
        store_dir.mkdir(parents=True, exist_ok=True)
        os.environ["MEM0_DIR"] = str(store_dir / "mem0_home")  # Mem0 keeps its own files there, not in ~/.mem0
        mem0 = _import_mem0()
        dims = dims or _dimension(model_dir)
        # Handed to Mem0 in memory, never written; scrubbed from the errors of servers that echo it.
        self.secret = os.environ.get((llm or {}).get("api_key_env") or "OPENAI_API_KEY", "")
        self.memory = mem0.Memory.from_config(self._config(model_dir, store_dir, dims, llm, self.secret))
        self.cache = _BatchedEmbeddings(self.memory.embedding_model, batch_size)
        self.failures: list[str] = []
        if mode == "full":
            self._guard_llm()

    def _guard_llm(self) -> None:
        """Mem0 logs a failed extraction call and stores nothing; count each failure so a memory that lost
        sessions to LLM errors is refused, not scored."""
        call = self.memory.llm.generate_response

        def checked(*args: Any, **kwargs: Any) -> Any:
            try:
                return call(*args, **kwargs)
            except Exception as err:
                self.failures.append(f"{type(err).__name__}: {scrub(str(err), self.secret)[:200]}")
                # Mem0 logs some of these itself: it gets the scrubbed message, not the original error.
                raise MemoryUnavailable(self.failures[-1]) from None

        self.memory.llm.generate_response = checked

    @staticmethod
    def _config(model_dir: Path, store_dir: Path, dims: int, llm: dict[str, Any] | None,
                api_key: str) -> dict[str, Any]:
        llm_config: dict[str, Any] = {"model": "unused", "api_key": "unused"}  # Mem0 builds a client even unused
        if llm and llm.get("base_url"):
            llm_config = {"model": llm["model"], "openai_base_url": llm["base_url"], "api_key": api_key or "none",
                          "temperature": 0.0, "max_tokens": 2000}  # Mem0's extraction writes JSON lists
        return {
            "embedder": {"provider": "huggingface", "config": {"model": str(model_dir), "embedding_dims": dims}},
            # on_disk: Mem0 deletes an in-memory store's folder; dims must be given or qdrant assumes 1536.
            "vector_store": {"provider": "qdrant", "config": {"collection_name": "hins", "path": str(store_dir / "qdrant"),
                                                               "on_disk": True, "embedding_model_dims": dims}},
            "llm": {"provider": "openai", "config": llm_config},
            "history_db_path": str(store_dir / "history.db"),
        }

    def _text(self, speaker: str, text: str) -> str:
        return self.template.format(speaker=speaker, text=text)

    def add_conversation(self, conversation: Conversation) -> None:
        if self.mode == "retrieval":
            texts = [self._text(m.speaker, m.text) for m in conversation.messages]
            self.cache.prefetch(texts)
            for msg, text in zip(conversation.messages, texts):
                self.memory.add([{"role": "user", "content": text}], user_id=conversation.cid,
                                metadata={"dia_id": msg.dia_id or str(msg.mid), "session": msg.session}, infer=False)
            return
        # full: one LLM extraction per session, the session's date in the metadata (as Mem0's LoCoMo evaluation)
        sessions: dict[str | None, list[Any]] = {}
        for msg in conversation.messages:
            sessions.setdefault(msg.session, []).append(msg)
        for session, msgs in sessions.items():
            chat = [{"role": "user", "content": self._text(m.speaker, m.text)} for m in msgs]
            try:
                self.memory.add(chat, user_id=conversation.cid, metadata={"session": session}, infer=True)
            except Exception:  # the extraction call is not caught inside Mem0; it is already counted
                if not self.failures:
                    raise
            if self.failures:
                raise MemoryUnavailable(f"Mem0's LLM failed while building the memory of {conversation.cid} "
                                        f"({len(self.failures)} call(s), first: {self.failures[0]}); refusing to "
                                        "score a memory with missing sessions")

    def search(self, cid: str, question: str, k: int) -> list[Hit]:
        found = self.memory.search(question, user_id=cid, limit=k)["results"]
        return [Hit(text=r["memory"], score=float(r["score"]),
                    dia_ids=tuple(filter(None, [(r.get("metadata") or {}).get("dia_id")]))) for r in found]

    def search_many(self, cid: str, questions: Sequence[str], k: int) -> list[list[Hit]]:
        self.cache.prefetch(questions)
        return [self.search(cid, q, k) for q in questions]

    def count(self, cid: str) -> int:
        """Memories stored for one conversation (for checks and reports)."""
        return len(self.memory.get_all(user_id=cid, limit=100_000)["results"])

    def close(self) -> None:
        """Release the qdrant stores (Mem0 opens two: ours and its own bookkeeping one); each locks its folder."""
        for store in (self.memory.vector_store, getattr(self.memory, "_telemetry_vector_store", None)):
            client = getattr(store, "client", None)
            if client is not None:
                client.close()


def _dimension(model_dir: Path) -> int:
    import json

    pooling = model_dir / "1_Pooling" / "config.json"
    if pooling.is_file():
        return int(json.loads(pooling.read_text())["word_embedding_dimension"])
    return int(json.loads((model_dir / "config.json").read_text())["hidden_size"])
