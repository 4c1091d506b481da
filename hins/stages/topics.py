"""Topic clustering per conversation (HiNS §3.4, Eq. 12): a topic label for every message.

``oracle`` takes the generator's own labels; ``kmeans`` and ``agglomerative`` cluster message
embeddings (scikit-learn), choosing K per conversation by silhouette; ``session`` takes a multi-session log's
sessions; ``llm`` (hins.stages.topics_llm.LLMTopics) asks an LLM, for all conversations at once. Clustering
methods are scored against the ground truth by the adjusted Rand index when it exists.

Stage ``topics`` (``TopicsStage``): the method ``topics`` names, over the source's conversations; the clustering
methods over the base model's embeddings (the ``model`` input) or over TF-IDF features (``topics.features``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import adjusted_rand_score, silhouette_score

from hins.core.artifacts import write_json
from hins.core.config import Settings, TopicsConfig
from hins.core.records import Conversation, DataError
from hins.stages.base import Progress, no_progress

Embed = Callable[[list[str]], np.ndarray]


class TopicMethod(Protocol):
    """A topic clustering: a label for every message of every conversation; ``last_stats``: what it reports of
    itself (LLM usage, fallbacks) after ``assign_all``."""

    needs_embeddings: bool
    last_stats: dict[str, Any]

    def assign_all(self, conversations: Sequence[Conversation], embed: Embed | None,
                   progress: Progress) -> dict[str, list[str]]: ...


class PerConversation:
    """A method that labels one conversation at a time (``assign``), under the runner's progress bar."""

    needs_embeddings: bool = False
    last_stats: dict[str, Any] = {}
    label: str = "topics"

    def assign(self, conv: Conversation, vectors: np.ndarray | None = None) -> list[str]:
        raise NotImplementedError

    def assign_all(self, conversations: Sequence[Conversation], embed: Embed | None,
                   progress: Progress) -> dict[str, list[str]]:
        labels: dict[str, list[str]] = {}
        with progress(self.label, len(conversations)) as advance:
            for conv in conversations:
                vectors = None
                if self.needs_embeddings:
                    assert embed is not None, "a clustering method needs an embedder"
                    vectors = embed([m.text for m in conv.messages])
                labels[conv.cid] = self.assign(conv, vectors)
                advance(1)
        return labels


@dataclass
class TopicResult:
    labels: dict[str, list[str]]  # cid -> label per message id
    ari: float | None  # mean adjusted Rand index against ground truth, when every message has one
    mean_topics: float
    method_stats: dict = field(default_factory=dict)  # what the method reports of itself (LLM usage, fallbacks)


def speaker_topic_sets(conv: Conversation, labels: Sequence[str]) -> dict[str, dict[str, list[int]]]:
    """The paper's form {(τ_k, M_1^k, M_2^k)}: per topic, the message ids of each speaker."""
    out: dict[str, dict[str, list[int]]] = {}
    for m in conv.messages:
        out.setdefault(labels[m.mid], {s: [] for s in conv.speakers})[m.speaker].append(m.mid)
    return out


class OracleTopics(PerConversation):
    """The generator's ground-truth labels (needs every message to carry one)."""

    label = "topics (oracle)"

    def assign(self, conv: Conversation, vectors: np.ndarray | None = None) -> list[str]:
        missing = [m.mid for m in conv.messages if m.topic is None]
        if missing:
            raise DataError(
                f"topics=oracle needs a ground-truth topic on every message; conversation {conv.cid} has none on "
                f"message ids {missing[:5]}: choose topics=kmeans or topics=agglomerative"
            )
        return [str(m.topic) for m in conv.messages]


class _SilhouetteClustering(PerConversation):
    """Cluster with every K in [k_min, k_max] and keep the one with the best silhouette."""

    needs_embeddings = True

    def __init__(self, k_min: int = 2, k_max: int = 8, seed: int = 0):
        if not 2 <= k_min <= k_max:
            raise ValueError(f"topics.k_min/k_max must satisfy 2 <= k_min <= k_max, got {k_min}, {k_max}")
        self.k_min, self.k_max, self.seed = k_min, k_max, seed

    def _fit(self, vectors: np.ndarray, k: int) -> np.ndarray:
        raise NotImplementedError

    def assign(self, conv: Conversation, vectors: np.ndarray | None = None) -> list[str]:
        assert vectors is not None
        n = len(vectors)
        best, best_score = np.zeros(n, dtype=int), -2.0
        for k in range(self.k_min, min(self.k_max, n - 1) + 1):
            labels = self._fit(vectors, k)
            if len(set(labels)) < 2:
                continue
            score = silhouette_score(vectors, labels, metric="cosine")
            if score > best_score:
                best, best_score = labels, score
        return [f"k{int(x)}" for x in best]


class KMeansTopics(_SilhouetteClustering):
    label = "topics (kmeans)"

    def _fit(self, vectors: np.ndarray, k: int) -> np.ndarray:
        return KMeans(n_clusters=k, n_init=4, random_state=self.seed).fit_predict(vectors)


class AgglomerativeTopics(_SilhouetteClustering):
    label = "topics (agglomerative)"

    def _fit(self, vectors: np.ndarray, k: int) -> np.ndarray:
        return AgglomerativeClustering(n_clusters=k, metric="cosine", linkage="average").fit_predict(vectors)


def tfidf_embed(texts: list[str]) -> np.ndarray:
    """Model-free message features: TF-IDF of words, L2-normalised (a cheap, deterministic option).

    A message without a content word ("See you!", ";)") would be a zero vector, which cosine clustering rejects;
    it takes the features of the message before it instead (a reply continues the topic at hand), or after it
    at the start of a conversation."""
    try:
        vectors = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(texts).toarray()
    except ValueError:  # not one content word in the whole conversation: a single topic
        return np.ones((len(texts), 1))
    filled = np.flatnonzero(vectors.any(axis=1))
    nearest = np.searchsorted(filled, np.arange(len(texts)), side="right") - 1
    return vectors[filled[np.maximum(nearest, 0)]]


def assign_topics(conversations: Sequence[Conversation], method: TopicMethod, embed: Embed | None,
                  progress: Progress | None = None) -> TopicResult:
    """The method's labels for every conversation, scored against the ground truth where every message has one."""
    labels = method.assign_all(conversations, embed, progress or no_progress)
    aris: list[float] = []
    for conv in conversations:
        truth = [m.topic for m in conv.messages]
        if all(t is not None for t in truth):
            aris.append(adjusted_rand_score(truth, labels[conv.cid]))
    n_topics = [len(set(v)) for v in labels.values()]
    return TopicResult(
        labels=labels,
        ari=float(np.mean(aris)) if len(aris) == len(conversations) and aris else None,
        mean_topics=float(np.mean(n_topics)) if n_topics else 0.0,
        method_stats=method.last_stats,
    )


class SessionTopics(PerConversation):
    """One topic per session (LoCoMo-style multi-session logs): a cheap proxy where sessions stay on a theme."""

    label = "topics (session)"

    def assign(self, conv: Conversation, vectors: np.ndarray | None = None) -> list[str]:
        return [m.session or "session" for m in conv.messages]


@dataclass
class Topics:
    labels: dict[str, list[str]]  # cid -> label per message id
    stats: dict[str, Any]


class TopicsSettings(Settings):
    topics: TopicsConfig


class TopicsStage:
    """Stage ``topics``: reads the source's conversations, and the base model where the method clusters its
    embeddings (``TopicsConfig.uses_model``)."""

    name: ClassVar[str] = "topics"
    version: ClassVar[int] = 1

    def __init__(self, settings: TopicsSettings):
        self.settings = settings
        self.inputs: tuple[str, ...] = ("conversations", *(("model",) if settings.topics.uses_model else ()))

    def build(self, inputs: Mapping[str, Any], out: Path, progress: Progress) -> None:
        cfg = self.settings.topics
        method: TopicMethod = cfg.build()
        embed = None
        if method.needs_embeddings:
            embed = (lambda texts: inputs["model"].embedder.encode(texts, "passage")) if cfg.uses_model else tfidf_embed
        result = assign_topics(list(inputs["conversations"].conversations.values()), method, embed, progress)
        write_json(out / "labels.json", result.labels)
        write_json(out / "stats.json", {"method": cfg.method, "ari_vs_ground_truth": result.ari,
                                        "mean_topics_per_conversation": result.mean_topics, **result.method_stats})

    def estimate(self, conversations: Sequence[Conversation]) -> dict[str, Any] | None:
        """The LLM's calls, tokens and cost with ``topics=llm`` (hins.stages.base.Priced); None for the others."""
        return self.settings.topics.build().estimate(conversations) if self.settings.topics.method == "llm" else None

    def load(self, path: Path) -> Topics:
        return Topics(json.loads((path / "labels.json").read_text()), json.loads((path / "stats.json").read_text()))
