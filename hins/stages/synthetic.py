"""Source stage ``synthetic``: persona-grounded conversations written by a synthesis backend (paper §3.1-3.4, the
procedural generator offline or an LLM endpoint), with the backend's own queries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

from pydantic import Field

from hins.core.config import PersonasConfig, Settings, SynthesisConfig
from hins.core.records import Conversation, Persona, Query
from hins.stages.base import Progress
from hins.stages.sources import SourceData, SourceDryRun, SourceSize, load_source, write_source

CONVERSATION_BYTES = 13_000  # a synthetic conversation with its personas, events and queries (conversations.jsonl)
SAMPLES_PER_CONVERSATION = 50  # 6 queries x ~8 evidence messages, one sample per (query, positive)

Job = tuple[str, Persona, Persona]  # conversation id, P1, P2


class Synthesizer(Protocol):
    """A synthesis backend: conversations with their queries for (conversation id, P1, P2) jobs, and what the
    backend reports of itself (None: nothing)."""

    def synthesize(self, jobs: Sequence[Job], progress: Progress | None = None
                   ) -> tuple[list[Conversation], list[Query], dict[str, Any] | None]: ...


class SyntheticCount(Settings):
    source: Literal["synthetic"]
    n_conversations: int = Field(ge=1)


class SyntheticSettings(Settings):
    seed: int
    data: SyntheticCount
    personas: PersonasConfig
    synthesis: SynthesisConfig


class SyntheticSource:
    name: ClassVar[str] = "conversations"
    version: ClassVar[int] = 1
    inputs = ()

    def __init__(self, settings: SyntheticSettings):
        self.settings = settings

    def jobs(self) -> list[Job]:
        """(conversation id, P1, P2) for every conversation."""
        personas = self.settings.personas.build(seed=self.settings.seed)
        return [(f"c{i:06d}", *personas.pair(i)) for i in range(self.settings.data.n_conversations)]

    def synthesizer(self) -> Synthesizer:
        return self.settings.synthesis.build(seed=self.settings.seed)

    def build(self, inputs: Mapping[str, Any], out: Path, progress: Progress) -> None:
        from hins.synthesis.procedural import diversity_report

        convs, queries, backend = self.synthesizer().synthesize(self.jobs(), progress)
        info = {"diversity": diversity_report(convs, queries), **({"synthesis": backend} if backend else {})}
        write_source(out, convs, queries, info)

    def load(self, path: Path) -> SourceData:
        return load_source(path)

    def folds(self) -> list[int | None]:
        return [None]

    def eval_categories(self) -> list[int]:
        from hins.evaluation.locomo import DEFAULT_CATEGORIES

        return list(DEFAULT_CATEGORIES)

    def size(self) -> SourceSize:
        n = self.settings.data.n_conversations
        return SourceSize(n * CONVERSATION_BYTES, n * SAMPLES_PER_CONVERSATION, n * 40)

    def dry_run_requested(self) -> bool:
        return self.settings.synthesis.dry_run

    def dry_run(self) -> SourceDryRun | None:
        if not self.dry_run_requested():
            return None
        synthesizer, jobs = self.synthesizer(), self.jobs()
        return SourceDryRun(synthesizer.estimate(jobs), synthesizer.placeholders(jobs))  # type: ignore[attr-defined]
