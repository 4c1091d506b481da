"""What every memory-system adapter offers: store a conversation's turns, then search them per question."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

from hins.core.records import Conversation


@dataclass(frozen=True)
class Hit:
    """One retrieved memory: its text, its score, and the source turns it holds (LoCoMo ``dia_id`` s: one for a
    stored turn, two for a MemoryOS page, none for a memory an LLM wrote)."""

    text: str
    score: float
    dia_ids: tuple[str, ...] = ()


class MemoryBackend(Protocol):
    """A memory holding one or more conversations, each searchable on its own (``cid`` scopes a search)."""

    name: str

    def add_conversation(self, conversation: Conversation) -> None: ...

    def search(self, cid: str, question: str, k: int) -> list[Hit]: ...

    def search_many(self, cid: str, questions: Sequence[str], k: int) -> list[list[Hit]]: ...
