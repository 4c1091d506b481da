"""``queries=llm``: an LLM writes the training queries for the conversations of any source (paper §3.4): per
conversation a topic clustering, then 2 questions about each person and 2 shared ones, each with a target person, a
topic and evidence ids, through the LLM steps of hins.synthesis.llm. The source's own queries stay the evaluation
queries of the held-out split (hins.stages.splits)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from hins.core.config import LLMQueriesConfig, Settings
from hins.stages.queries import LLM_QID_TAG, QuerySet, filter_by_evidence, load_queries, write_queries
from hins.core.records import Conversation, Query
from hins.stages.base import Progress
from hins.synthesis.llm import QUERIES_PER_KIND, _batch, _Steps, _Tally

log = logging.getLogger(__name__)


class LLMQueries:
    """``queries=llm``: the LLM writes the training queries for the conversations of any source (procedural,
    LoCoMo-format), concurrently: per conversation, topic clusters (the topics the queries prompt offers), then
    2 questions about each person and 2 shared ones, each with a target, a topic and evidence_min-evidence_max
    evidence ids. A conversation whose answers stay invalid after the repairs gets no query; the queries lost
    are counted by reason. Query ids carry ``LLM_QID_TAG``, so the pipeline tells them from the source's own."""

    def __init__(self, **settings: Any):
        self.settings = LLMQueriesConfig.model_validate(settings)
        self.steps = _Steps(self.settings)

    def generate(self, conversations: Sequence[Conversation]) -> tuple[list[Query], dict[str, Any]]:
        evidence = (self.settings.evidence_min, self.settings.evidence_max)
        _, queries, stats = _batch(self.steps, "LLM queries", conversations,
                                   lambda conv: self.steps.annotate(conv, evidence, LLM_QID_TAG))
        per_conversation = 3 * QUERIES_PER_KIND
        stats["requested_queries"] = per_conversation * len(conversations)
        stats["lost_queries"] = {f"invalid LLM answer ({step})": per_conversation * n
                                 for step, n in sorted(stats["dropped_steps"].items())}
        return queries, stats

    def estimate(self, conversations: Sequence[Conversation]) -> dict[str, Any]:
        """Calls, tokens and cost of ``generate`` without repairs, spending nothing: the topics prompts are the
        real ones; the queries prompts are too, with TOPIC_RANGE's midpoint of placeholder topic labels."""
        tally = _Tally(self.steps)
        for conv in conversations:
            tally.annotation(conv, (self.settings.evidence_min, self.settings.evidence_max))
        return tally.report(len(conversations))


class LLMQueriesSettings(Settings):
    queries: LLMQueriesConfig


class LLMQueriesStage:
    """Stage ``queries`` with ``queries=llm``: the LLM writes 2+2+2 queries for every conversation (all of them: each
    fold trains on others, and the artifact serves every fold), filtered like any source's. The stats count them from
    the queries asked for: ``generated`` = 6 per conversation, ``dropped`` by reason (the LLM's invalid answers, then
    the evidence filter's), ``llm`` = calls, repairs, tokens and cost. The source's own queries are kept beside them,
    as the source gives them (only those without valid evidence dropped; ``source_queries``): they are the
    evaluation queries of the held-out split."""

    name: ClassVar[str] = "queries"
    version: ClassVar[int] = 1
    inputs = ("conversations", "topics")

    def __init__(self, settings: LLMQueriesSettings):
        self.settings = settings

    def writer(self) -> LLMQueries:
        return LLMQueries(**self.settings.queries.model_dump())

    def build(self, inputs: Mapping[str, Any], out: Path, progress: Progress) -> None:
        source, labels = inputs["conversations"], inputs["topics"].labels
        convs, raw = source.conversations, source.queries
        q_cfg = self.settings.queries
        generated, llm_stats = self.writer().generate(list(convs.values()))
        kept, stats = filter_by_evidence(generated, convs, labels, q_cfg.evidence_min, q_cfg.evidence_max)
        for reason, n in llm_stats["lost_queries"].items():
            stats.dropped[reason] = n
            stats.generated += n
        longest = max(len(c.messages) for c in convs.values())
        own, own_stats = filter_by_evidence(raw, convs, labels, 1, longest)
        log.info("queries: %d of %d LLM queries kept (dropped: %s); %d of the source's own kept for evaluation",
                 stats.kept, stats.generated, stats.dropped or "none", own_stats.kept)
        write_queries(out, own + kept, {"source": "llm", **stats.to_dict(), "llm": llm_stats,
                                        "source_queries": own_stats.to_dict()})

    def estimate(self, conversations: Sequence[Conversation]) -> dict[str, Any]:
        """The LLM's calls, tokens and cost for these conversations (hins.stages.base.Priced)."""
        return self.writer().estimate(conversations)

    def load(self, path: Path) -> QuerySet:
        return load_queries(path)
