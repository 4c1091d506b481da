"""The first stage: where the conversations and their own queries come from, one stage per kind of source, chosen
by ``data.source`` (``SOURCES``). Every source writes the same artifact (``conversations``: conversations.jsonl,
queries.jsonl, info.json) and answers the questions the rest of the run asks of its data: which folds a run covers,
which question categories an extra test set is scored on, how big its artifacts get."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from hins.core.artifacts import read_jsonl, write_json, write_jsonl
from hins.core.config import RunConfig
from hins.core.records import Conversation, Query
from hins.stages.base import Stage


@dataclass
class SourceData:
    conversations: dict[str, Conversation]
    queries: list[Query]  # the source's own (synthesised with the conversations, or the file's QA and observations)
    stats: dict[str, Any]  # info.json: what the source reports of itself


def write_source(out: Path, conversations: Sequence[Conversation], queries: Sequence[Query],
                 info: dict[str, Any]) -> None:
    write_jsonl(out / "conversations.jsonl", [c.to_dict() for c in conversations])
    write_jsonl(out / "queries.jsonl", [q.to_dict() for q in queries])
    write_json(out / "info.json", info)


def load_source(path: Path) -> SourceData:
    convs = [Conversation.from_dict(d) for d in read_jsonl(path / "conversations.jsonl")]
    queries = [Query.from_dict(d) for d in read_jsonl(path / "queries.jsonl")]
    return SourceData({c.cid: c for c in convs}, queries, json.loads((path / "info.json").read_text()))


@dataclass
class SourceDryRun:
    estimate: dict[str, Any]  # the LLM calls, tokens and cost of building the source
    conversations: list[Conversation]  # stand-ins of the configured size, to price the LLM stages after it


@dataclass(frozen=True)
class SourceSize:
    """Rough sizes for the disk estimate (hins.core.disk)."""

    conversations_bytes: int
    samples: int
    messages: int


class Source(Stage[SourceData], Protocol):
    name: ClassVar[str]  # "conversations"

    def folds(self) -> list[int | None]:
        """The folds a run covers: [None] for one random split, else the held-out fold indices."""
        ...

    def eval_categories(self) -> list[int]:
        """The LoCoMo question categories an ``eval.extra`` file is scored on."""
        ...

    def size(self) -> SourceSize: ...

    def dry_run_requested(self) -> bool:
        """Whether its settings ask to cost the LLM work of building it instead of doing it."""
        ...

    def dry_run(self) -> SourceDryRun | None:
        """The LLM calls, tokens and cost of building this source, when its settings ask for a dry run; else None."""
        ...


def source_for(run: RunConfig) -> Source:
    from hins.stages.locomo_file import LocomoSettings, LocomoSource
    from hins.stages.synthetic import SyntheticSettings, SyntheticSource

    sources: dict[str, Any] = {"synthetic": (SyntheticSource, SyntheticSettings),
                               "locomo": (LocomoSource, LocomoSettings)}
    source, settings = sources[run.data.source]
    return source(settings.of(run))
