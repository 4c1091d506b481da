"""The memory with nothing around the embedder: plain sentence-transformers, every turn a memory, cosine top-k.

It is the reference the memory systems are read against: Mem0's retrieval-only mode is pure dense search over
the same texts, so its evidence recall must match this one (a difference would be Mem0's doing, e.g. its
vector store's approximate search); MemoryOS's pages and summaries are what it adds on top.
Queries get the model's own ``query`` prompt where its directory defines one (bge's instruction), which
Mem0 and MemoryOS never add: that gap is part of what a user gives up inside those systems.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hins.evaluation.memory.base import Hit
from hins.core.records import Conversation


class DenseMemory:
    name = "dense"

    def __init__(self, model: str | Path, *, passage_template: str = "{speaker}: {text}", batch_size: int = 64):
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(model), device="cpu")
        self.template = passage_template
        self.batch_size = batch_size
        self.memories: dict[str, tuple[list[str], list[str], np.ndarray]] = {}  # cid -> texts, dia_ids, vectors

    def add_conversation(self, conversation: Conversation) -> None:
        texts = [self.template.format(speaker=m.speaker, text=m.text) for m in conversation.messages]
        vectors = self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                    show_progress_bar=False)
        self.memories[conversation.cid] = (texts, [m.dia_id or str(m.mid) for m in conversation.messages], vectors)

    def search(self, cid: str, question: str, k: int) -> list[Hit]:
        return self.search_many(cid, [question], k)[0]

    def search_many(self, cid: str, questions: Sequence[str], k: int) -> list[list[Hit]]:
        texts, ids, vectors = self.memories[cid]
        prompt = "query" if "query" in (self.model.prompts or {}) else None
        queries = self.model.encode(list(questions), batch_size=self.batch_size, normalize_embeddings=True,
                                    prompt_name=prompt, show_progress_bar=False)
        scores = queries @ vectors.T
        out = []
        for row in scores:
            top = np.argsort(-row, kind="stable")[:k]
            out.append([Hit(text=texts[i], score=float(row[i]), dia_ids=(ids[i],)) for i in top])
        return out

    def close(self) -> None:
        self.memories.clear()
