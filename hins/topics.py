"""Topic clustering per conversation (HiNS §3.4, Eq. 12): a topic label for every message.

``oracle`` takes the generator's own labels; ``kmeans`` and ``agglomerative`` cluster message
embeddings (scikit-learn), choosing K per conversation by silhouette; ``llm`` (hins.synthesis.llm.LLMTopics)
asks an LLM, for all conversations at once (``assign_all``). Clustering methods are scored against the
ground truth by the adjusted Rand index when it exists.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import adjusted_rand_score, silhouette_score

from hins.records import Conversation, DataError

Embed = Callable[[list[str]], np.ndarray]


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


class OracleTopics:
    """The generator's ground-truth labels (needs every message to carry one)."""

    needs_embeddings = False

    def assign(self, conv: Conversation, vectors: np.ndarray | None = None) -> list[str]:
        missing = [m.mid for m in conv.messages if m.topic is None]
        if missing:
            raise DataError(
                f"topics=oracle needs a ground-truth topic on every message; conversation {conv.cid} has none on "
                f"message ids {missing[:5]}: choose topics=kmeans or topics=agglomerative"
            )
        return [str(m.topic) for m in conv.messages]


class _SilhouetteClustering:
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
    def _fit(self, vectors: np.ndarray, k: int) -> np.ndarray:
        return KMeans(n_clusters=k, n_init=4, random_state=self.seed).fit_predict(vectors)


class AgglomerativeTopics(_SilhouetteClustering):
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


def assign_topics(
    conversations: Sequence[Conversation],
    method: Any,
    embed: Embed | None,
    progress: Callable[[int], None] | None = None,
) -> TopicResult:
    """Labels from ``method.assign`` per conversation, or from ``method.assign_all`` where it batches."""
    labels: dict[str, list[str]] = {}
    if hasattr(method, "assign_all"):
        labels = method.assign_all(conversations, progress)
    else:
        for conv in conversations:
            vectors = None
            if method.needs_embeddings:
                assert embed is not None, "a clustering method needs an embedder"
                vectors = embed([m.text for m in conv.messages])
            labels[conv.cid] = method.assign(conv, vectors)
            if progress:
                progress(1)
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
        method_stats=getattr(method, "last_stats", {}),
    )


class SessionTopics:
    """One topic per session (LoCoMo-style multi-session logs): a cheap proxy where sessions stay on a theme."""

    needs_embeddings = False

    def assign(self, conv: Conversation, vectors: np.ndarray | None = None) -> list[str]:
        return [m.session or "session" for m in conv.messages]
