"""Stage ``queries``: the evidence filter of paper §3.4. Keep the queries whose evidence is valid and of 5-12
messages (``queries.evidence_min/max``), dropping and counting the others, and express each query's topic in the
label space of the chosen topic clustering. Applies alike to the source's own queries (``QueriesStage``) and to
those an LLM wrote for the source's conversations (``queries=llm``, hins.stages.queries_llm, ``is_llm_query``)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from hins.core.artifacts import read_jsonl, write_json, write_jsonl
from hins.core.config import QueriesConfig, Settings
from hins.core.records import Conversation, Query
from hins.stages.base import Progress

# Ids of the queries an LLM wrote for another source's conversations (queries=llm): {cid}-llm-q{i}.
LLM_QID_TAG = "-llm-q"


def is_llm_query(query: Query) -> bool:
    return query.qid.startswith(query.cid + LLM_QID_TAG)


@dataclass
class QueryStats:
    generated: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> count
    kept_by_kind: dict[str, int] = field(default_factory=dict)
    evidence_sizes: dict[int, int] = field(default_factory=dict)
    # Share of kept queries whose topic is the generator's own label (oracle-like labels only; else None).
    topic_matches_generator: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def query_topic(query: Query, labels: Sequence[str]) -> str:
    """The label most of the query's evidence carries; ties go to the generator's own label if tied."""
    counts = Counter(labels[i] for i in query.evidence)
    best = max(counts.values())
    tied = sorted(label for label, n in counts.items() if n == best)
    return query.topic if query.topic in tied else tied[0]


def filter_by_evidence(
    queries: Sequence[Query],
    conversations: dict[str, Conversation],
    labels: dict[str, Sequence[str]],
    evidence_min: int,
    evidence_max: int,
) -> tuple[list[Query], QueryStats]:
    stats = QueryStats(generated=len(queries))
    kept: list[Query] = []
    same_topic = comparable = 0

    def drop(reason: str) -> None:
        stats.dropped[reason] = stats.dropped.get(reason, 0) + 1

    for q in queries:
        conv = conversations.get(q.cid)
        if conv is None:
            drop("unknown conversation")
            continue
        evidence = sorted(set(q.evidence))
        if any(not 0 <= i < len(conv.messages) for i in evidence):
            drop("evidence id out of range")
            continue
        if q.target not in conv.speakers:
            drop("target is not a speaker")
            continue
        if len(evidence) < evidence_min:
            drop(f"evidence < {evidence_min}")
            continue
        if len(evidence) > evidence_max:
            drop(f"evidence > {evidence_max}")
            continue
        q = replace(q, evidence=evidence)
        topic = query_topic(q, labels[q.cid])
        if q.topic in set(labels[q.cid]):  # only comparable where the clustering speaks the generator's labels
            comparable += 1
            same_topic += topic == q.topic
        kept.append(replace(q, topic=topic))
        stats.kept_by_kind[q.kind] = stats.kept_by_kind.get(q.kind, 0) + 1
        stats.evidence_sizes[len(evidence)] = stats.evidence_sizes.get(len(evidence), 0) + 1
    stats.kept = len(kept)
    stats.topic_matches_generator = same_topic / comparable if comparable else None
    return kept, stats


@dataclass
class QuerySet:
    queries: list[Query]
    stats: dict[str, Any]


def write_queries(out: Path, queries: Sequence[Query], stats: dict[str, Any]) -> None:
    write_jsonl(out / "queries.jsonl", [q.to_dict() for q in queries])
    write_json(out / "stats.json", stats)


def load_queries(path: Path) -> QuerySet:
    return QuerySet([Query.from_dict(d) for d in read_jsonl(path / "queries.jsonl")],
                    json.loads((path / "stats.json").read_text()))


class QueriesSettings(Settings):
    queries: QueriesConfig


class QueriesStage:
    """Stage ``queries`` (``queries=default`` / ``queries=locomo``): the source's own queries, filtered to the
    evidence range, their topics in the clustering's labels."""

    name: ClassVar[str] = "queries"
    version: ClassVar[int] = 1
    inputs = ("conversations", "topics")

    def __init__(self, settings: QueriesSettings):
        self.settings = settings

    def build(self, inputs: Mapping[str, Any], out: Path, progress: Progress) -> None:
        source, q = inputs["conversations"], self.settings.queries
        kept, stats = filter_by_evidence(source.queries, source.conversations, inputs["topics"].labels,
                                         q.evidence_min, q.evidence_max)
        write_queries(out, kept, stats.to_dict())

    def load(self, path: Path) -> QuerySet:
        return load_queries(path)
