"""Retrieval metrics over ranked lists with a set of relevant ids (binary relevance)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

SHORTCUT_K = 10  # the speaker-shortcut check reads each question's top 10
TOP_SHARE = f"speaker_share@{SHORTCUT_K}"
# Keys of a per-query row that only questions naming one speaker carry (not retrieval metrics).
SHORTCUT_KEYS = ("named_speaker", TOP_SHARE, "evidence_speaker_share")


def recall_at_k(ranking: Sequence[int], relevant: set[int], k: int) -> float:
    """Share of the relevant items found in the top k."""
    if not relevant:
        raise ValueError("recall is undefined for a query with no relevant item")
    return len(relevant.intersection(ranking[:k])) / len(relevant)


def ndcg_at_k(ranking: Sequence[int], relevant: set[int], k: int) -> float:
    """nDCG@k with gain 1 for relevant items and the log2(rank + 1) discount."""
    dcg = sum(1.0 / math.log2(i + 2) for i, item in enumerate(ranking[:k]) if item in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    return dcg / ideal if ideal else 0.0


def reciprocal_rank(ranking: Sequence[int], relevant: set[int]) -> float:
    for i, item in enumerate(ranking):
        if item in relevant:
            return 1.0 / (i + 1)
    return 0.0


def query_metrics(ranking: Sequence[int], relevant: set[int], ks: Iterable[int], ndcg_k: int = 10) -> dict[str, float]:
    """All metrics of one query, as fractions in [0, 1]."""
    out = {f"recall@{k}": recall_at_k(ranking, relevant, k) for k in ks}
    out[f"ndcg@{ndcg_k}"] = ndcg_at_k(ranking, relevant, ndcg_k)
    out["mrr"] = reciprocal_rank(ranking, relevant)
    return out


def rank_by_score(scores: np.ndarray) -> list[int]:
    """Indices by descending score; ties keep the original order so results are reproducible."""
    return np.argsort(-scores, kind="stable").tolist()


def mean_metrics(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    if not rows:
        return {}
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def shortcut_summary(per_query: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The speaker-shortcut check over per-query rows: how many questions name one speaker, and the mean over them
    of the share of the top SHORTCUT_K said by that speaker (``top_share``) and of the evidence (``evidence_share``);
    the shares are None when no question names one speaker."""
    named = [r for r in per_query if "named_speaker" in r]
    return {"k": SHORTCUT_K, "n": len(named),
            "top_share": float(np.mean([r[TOP_SHARE] for r in named])) if named else None,
            "evidence_share": float(np.mean([r["evidence_speaker_share"] for r in named])) if named else None}
