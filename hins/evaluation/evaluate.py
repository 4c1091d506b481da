"""Retrieval evaluation: for each query, rank the messages of its own conversation.

Each message is embedded once and ranked with a matrix product. Reports Recall@k, nDCG@k and MRR
overall and per query kind, and per-tier win rates (how often the positive outscores its hard /
medium / easy negatives) where samples with negatives are given.

The speaker-shortcut check: hard negatives are the other speaker's turns, so a model can
learn to rank the speaker a question names first. For each question that names exactly one of its conversation's
two speakers (the speaker's name as a whole word of the text, case as written: LoCoMo's questions name people
so; a synthetic query names its target, by first or full name, unless it refers to them by description), the
share of its top 10 said by that speaker is reported beside the share of its evidence said by them.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hins.core.artifacts import config_key
from hins.stages.samples import message_key, passage_text
from hins.evaluation.metrics import (SHORTCUT_K, SHORTCUT_KEYS, TOP_SHARE, mean_metrics, query_metrics, rank_by_score,
                          shortcut_summary)
from hins.training.model import Embedder
from hins.core.records import Conversation, Query


@dataclass
class EvalSet:
    conversations: Sequence[Conversation]
    queries: Sequence[Query]
    template: str
    samples: Any = None  # a samples dataset (hins.stages.samples.FEATURES) for tier win rates, or None


@dataclass
class EvalVectors:
    """Unit vectors of an eval set: every message (keys "cid:mid", in conversation order) and every query."""

    keys: list[str]
    passages: np.ndarray
    queries: np.ndarray


def test_set_id(data: EvalSet) -> str:
    """What makes two evaluations comparable question by question: the same queries, with the same evidence, over
    the same embedded messages (synthetic data and random splits change with the seed while their qids do not)."""
    return config_key("test_set", [(q.qid, q.text, list(q.evidence)) for q in data.queries],
                      [[passage_text(m, data.template) for m in c.messages] for c in data.conversations])


def embed(embedder: Embedder, data: EvalSet, batch_size: int = 128) -> EvalVectors:
    keys = [message_key(conv.cid, m.mid) for conv in data.conversations for m in conv.messages]
    texts = [passage_text(m, data.template) for conv in data.conversations for m in conv.messages]
    return EvalVectors(keys, embedder.encode(texts, "passage", batch_size),
                       embedder.encode([q.text for q in data.queries], "query", batch_size))


def evaluate(embedder: Embedder, data: EvalSet, ks: Sequence[int], ndcg_k: int = 10,
             batch_size: int = 128) -> dict[str, Any]:
    return score(embed(embedder, data, batch_size), data, ks, ndcg_k)


def named_speaker(text: str, speakers: Sequence[str]) -> str | None:
    """The one speaker of ``speakers`` whose name ``text`` holds as a whole word (``Ann's`` names Ann, ``Anne``
    does not), or None when it names neither or both."""
    named = [s for s in speakers if re.search(rf"(?<!\w){re.escape(s)}(?!\w)", text)]
    return named[0] if len(named) == 1 else None


def score(vectors: EvalVectors, data: EvalSet, ks: Sequence[int], ndcg_k: int = 10) -> dict[str, Any]:
    """Rank each query's own conversation by a matrix product and average the metrics."""
    spans: dict[str, tuple[int, int]] = {}
    convs = {conv.cid: conv for conv in data.conversations}
    start = 0
    for conv in data.conversations:
        spans[conv.cid] = (start, start + len(conv.messages))
        start += len(conv.messages)
    passages, queries = vectors.passages, vectors.queries
    rows: list[dict[str, float]] = []
    per_query: list[dict[str, Any]] = []  # kept for pooling across folds and paired comparisons
    by_kind: dict[str, list[dict[str, float]]] = defaultdict(list)
    for q, qv in zip(data.queries, queries):
        start, end = spans[q.cid]
        ranking = rank_by_score(passages[start:end] @ qv)
        row = query_metrics(ranking, set(q.evidence), ks, ndcg_k)
        rows.append(row)
        by_kind[q.kind].append(row)
        per_query.append({"qid": q.qid, "kind": q.kind, **row, **_speaker_shares(q, convs[q.cid], ranking)})
    result: dict[str, Any] = {
        "n_queries": len(rows),
        "n_conversations": len(data.conversations),
        "overall": mean_metrics(rows),
        "by_kind": {k: {"n": len(v), **mean_metrics(v)} for k, v in sorted(by_kind.items())},
        "per_query": per_query,
        "speaker_shortcut": shortcut_summary(per_query),
    }
    if data.samples is not None and len(data.samples):
        result["win_rate"] = _win_rates(data, dict(zip(vectors.keys, passages)),
                                        {q.qid: v for q, v in zip(data.queries, queries)})
    return result


def _speaker_shares(q: Query, conv: Conversation, ranking: Sequence[int]) -> dict[str, Any]:
    """The shortcut check's per-query fields (none for a question that does not name exactly one speaker)."""
    speaker = named_speaker(q.text, conv.speakers)
    if speaker is None:
        return {}
    said = [m.speaker == speaker for m in conv.messages]  # by position: message ids are positions
    return {"named_speaker": speaker, TOP_SHARE: float(np.mean([said[i] for i in ranking[:SHORTCUT_K]])),
            "evidence_speaker_share": float(np.mean([said[m] for m in q.evidence]))}


def _win_rates(data: EvalSet, vectors: dict[str, np.ndarray], query_vecs: dict[str, np.ndarray]) -> dict[str, float]:
    wins: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    for row in data.samples.select_columns(["qid", "pos_id", "neg_ids", "neg_tier"]):
        qv = query_vecs.get(row["qid"])
        if qv is None:  # a query the eval set does not hold
            continue
        pos = float(vectors[row["pos_id"]] @ qv)
        for nid, tier in zip(row["neg_ids"], row["neg_tier"]):
            total[tier] += 1
            wins[tier] += pos > float(vectors[nid] @ qv)
    return {t: wins[t] / total[t] for t in sorted(total)}


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}"


def comparison_table(results: dict[str, dict[str, Any]]) -> str:
    """A markdown table: one row per metric (overall, per kind, win rates), one column per model."""
    names = list(results)
    first = results[names[0]]
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for metric in first["overall"]:
        lines.append(f"| {metric} | " + " | ".join(_pct(results[n]["overall"][metric]) for n in names) + " |")
    for kind, vals in first["by_kind"].items():
        for metric in ("recall@10", "ndcg@10"):
            if metric in vals:
                lines.append(f"| {kind} (n={vals['n']}) {metric} | "
                             + " | ".join(_pct(results[n]["by_kind"][kind].get(metric)) for n in names) + " |")
    for tier in first.get("win_rate", {}):
        lines.append(f"| win rate vs {tier} | " + " | ".join(_pct(results[n]["win_rate"].get(tier)) for n in names) + " |")
    lines += _shortcut_rows({n: results[n].get("speaker_shortcut") for n in names})
    return "\n".join(lines)


def _shortcut_rows(by_model: dict[str, dict[str, Any] | None]) -> list[str]:
    """Table rows of the speaker-shortcut check, one column per model (none where no question names one speaker)."""
    first = next(iter(by_model.values()))
    if not first or not first["n"]:
        return []
    return [f"| top {first['k']} said by the speaker the question names (n={first['n']}) | "
            + " | ".join(_pct(s["top_share"] if s else None) for s in by_model.values()) + " |",
            "| evidence said by the speaker the question names | "
            + " | ".join(_pct(s["evidence_share"] if s else None) for s in by_model.values()) + " |"]


def shortcut_table(by_model: dict[str, dict[str, Any] | None]) -> str:
    """The speaker-shortcut check alone (for reports whose main table has another layout), in %."""
    rows = _shortcut_rows(by_model)
    if not rows:
        return "No question names exactly one speaker: no speaker-shortcut check."
    return "\n".join(["| speaker-shortcut check | " + " | ".join(by_model) + " |", "|---|" + "---|" * len(by_model),
                      *rows])


def cross_validation_summary(name: str, folds: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Pool per-question results over folds (each question is held out once) and give fold-to-fold spread."""
    out: dict[str, Any] = {"name": name, "folds": len(folds), "pooled": {}, "fold_sd": {}, "speaker_shortcut": {},
                           "per_fold": [{"fold": f["fold"], "data": f["data"], "training": f["training"],
                                         **{m: f["results"][m]["overall"] for m in f["results"]}} for f in folds]}
    for model in folds[0]["results"]:
        rows = [r for f in folds for r in f["results"][model]["per_query"]]
        metrics = [k for k in rows[0] if k not in ("qid", "kind", *SHORTCUT_KEYS)]
        kinds = sorted({r["kind"] for r in rows})
        pooled = {"overall": {"n": len(rows), **mean_metrics([{k: r[k] for k in metrics} for r in rows])},
                  **{kind: {"n": sum(r["kind"] == kind for r in rows),
                            **mean_metrics([{k: r[k] for k in metrics} for r in rows if r["kind"] == kind])}
                     for kind in kinds}}
        spread: dict[str, dict[str, float]] = {}
        for group in ["overall", *kinds]:
            fold_means = [f["results"][model]["overall"] if group == "overall" else f["results"][model]["by_kind"].get(group)
                          for f in folds]
            fold_means = [m for m in fold_means if m]
            spread[group] = {k: float(np.std([m[k] for m in fold_means], ddof=1)) if len(fold_means) > 1 else 0.0
                             for k in metrics}
        out["pooled"][model], out["fold_sd"][model] = pooled, spread
        out["speaker_shortcut"][model] = shortcut_summary(rows)
    return out


def cv_table(summary: dict[str, Any]) -> str:
    """Rows: (group, model); columns: every metric as pooled mean ± sd of the fold means, in %."""
    models = list(summary["pooled"])
    first = summary["pooled"][models[0]]
    metrics = [k for k in first["overall"] if k != "n"]
    lines = ["| group | model | n | " + " | ".join(metrics) + " |", "|---|---|---|" + "---|" * len(metrics)]
    for group in first:
        for model in models:
            vals = summary["pooled"][model][group]
            sd = summary["fold_sd"][model][group]
            cells = [f"{100 * vals[k]:.1f} ± {100 * sd[k]:.1f}" for k in metrics]
            lines.append(f"| {group} | {model} | {vals['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
