"""``topics=llm``: an LLM clusters the messages of every conversation of any source into labelled topics (paper
Eq. 12), through the LLM steps of hins.synthesis.llm (prompt files, answer schemas, repairs, the durable call cache).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hins.core.config import LLMTopicsConfig
from hins.core.records import Conversation
from hins.stages.base import Progress
from hins.synthesis.llm import _run_all, _Steps, _Tally
from hins.stages.topics import Embed


class LLMTopics:
    """All conversations concurrently. A conversation whose answers stay invalid keeps one topic per session (one
    in all for a single session) and is counted, so the labels never come from an invalid answer. The progress bar
    is the client's own (tokens and cost beside the count), not the runner's."""

    needs_embeddings = False

    def __init__(self, **settings: Any):
        self.settings = LLMTopicsConfig.model_validate(settings)
        self.steps = _Steps(self.settings)
        self.last_stats: dict[str, Any] = {}

    def assign_all(self, conversations: Sequence[Conversation], embed: Embed | None = None,
                   progress: Progress | None = None) -> dict[str, list[str]]:
        k = (self.settings.k_min, self.settings.k_max)
        results, usage = _run_all(self.steps, f"LLM topics ({self.settings.model})", conversations,
                                  lambda conv: self.steps.cluster(conv, k))
        labels = {conv.cid: got if got is not None else [m.session or "all" for m in conv.messages]
                  for conv, got in zip(conversations, results)}
        self.last_stats = {"fallback_conversations": sum(r is None for r in results), **self.steps.stats(usage)}
        return labels

    def estimate(self, conversations: Sequence[Conversation]) -> dict[str, Any]:
        """Calls, tokens and cost of ``assign_all`` without repairs, spending nothing: the real prompts."""
        tally = _Tally(self.steps)
        for conv in conversations:
            tally.topics(conv, (self.settings.k_min, self.settings.k_max))
        return tally.report(len(conversations))
