"""The evaluation's speaker-shortcut check on a hand-built case with known shares."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hins.evaluation.evaluate import (EvalSet, EvalVectors, comparison_table, cross_validation_summary, named_speaker, score,
                           shortcut_table)
from hins.core.records import Conversation, Message, Query


def test_named_speaker_is_one_whole_name():
    speakers = ["Ann", "Bob"]
    assert named_speaker("What did Ann bake?", speakers) == "Ann"
    assert named_speaker("Where is Bob's dog?", speakers) == "Bob"
    assert named_speaker("What did Ann tell Bob?", speakers) is None  # both
    assert named_speaker("Where does Anne live?", speakers) is None  # another name
    assert named_speaker("What did ann bake?", speakers) is None  # a name as written
    assert named_speaker("Did Maria Lopez call?", ["Maria Lopez", "Maria Diaz"]) == "Maria Lopez"


def _case() -> tuple[EvalSet, EvalVectors]:
    """Conversation a: Ann says the even turns, Bob the odd ones (12 turns); b: Cy, Di, Cy. Every query ranks its
    conversation in one fixed order: a's top 10 is turns 0 2 4 1 6 8 3 10 5 7 (6 of Ann's, 4 of Bob's)."""
    a = Conversation("a", ["Ann", "Bob"], [Message(i, ["Ann", "Bob"][i % 2], f"a{i}") for i in range(12)])
    b = Conversation("b", ["Cy", "Di"], [Message(i, s, f"b{i}") for i, s in enumerate(["Cy", "Di", "Cy"])])
    queries = [
        Query("q-ann", "a", "What did Ann bake?", "Ann", "single-hop", "", [0, 2, 3]),  # evidence: 2 of 3 Ann's
        Query("q-bob", "a", "Is Bob's dog old?", "Bob", "single-hop", "", [1]),
        Query("q-both", "a", "What did Ann tell Bob?", "Ann", "multi-hop", "", [0]),  # names both: not checked
        Query("q-none", "a", "Who moved house?", "Bob", "multi-hop", "", [5]),  # names neither
        Query("q-cy", "b", "Did Cy call?", "Cy", "temporal", "", [0]),  # b has only 3 turns: 2 of them Cy's
    ]
    order = {"a": [0, 2, 4, 1, 6, 8, 3, 10, 5, 7, 9, 11], "b": [0, 1, 2]}
    keys, passages = [], []
    for conv in (a, b):
        rank = {mid: r for r, mid in enumerate(order[conv.cid])}
        for m in conv.messages:
            angle = 0.05 * rank[m.mid]
            keys.append(f"{conv.cid}:{m.mid}")
            passages.append([math.cos(angle), math.sin(angle)])
    vectors = EvalVectors(keys, np.array(passages), np.tile([1.0, 0.0], (len(queries), 1)))
    return EvalSet([a, b], queries, "{speaker}: {text}"), vectors


def test_speaker_shortcut_shares_on_a_hand_built_case():
    data, vectors = _case()
    result = score(vectors, data, ks=[1, 10])
    rows = {r["qid"]: r for r in result["per_query"]}
    assert rows["q-ann"]["named_speaker"] == "Ann"
    assert rows["q-ann"]["speaker_share@10"] == pytest.approx(0.6)
    assert rows["q-ann"]["evidence_speaker_share"] == pytest.approx(2 / 3)
    assert rows["q-bob"]["speaker_share@10"] == pytest.approx(0.4) and rows["q-bob"]["evidence_speaker_share"] == 1.0
    assert rows["q-cy"]["speaker_share@10"] == pytest.approx(2 / 3)  # a conversation shorter than 10 turns
    assert "named_speaker" not in rows["q-both"] and "speaker_share@10" not in rows["q-none"]
    check = result["speaker_shortcut"]
    assert check["k"] == 10 and check["n"] == 3
    assert check["top_share"] == pytest.approx((0.6 + 0.4 + 2 / 3) / 3)
    assert check["evidence_share"] == pytest.approx((2 / 3 + 1 + 1) / 3)
    assert set(result["overall"]) == {"recall@1", "recall@10", "ndcg@10", "mrr"}  # the check is no retrieval metric
    table = comparison_table({"untuned": result, "trained": result})
    assert "| top 10 said by the speaker the question names (n=3) | 55.6 | 55.6 |" in table
    assert "| evidence said by the speaker the question names | 88.9 | 88.9 |" in table


def test_cross_validation_pools_the_speaker_shortcut_over_folds():
    data, vectors = _case()
    result = score(vectors, data, ks=[10])
    fold = {"fold": 0, "data": {}, "training": {}, "results": {"untuned": result, "trained": result}}
    summary = cross_validation_summary("x", [fold, {**fold, "fold": 1}])
    assert summary["speaker_shortcut"]["trained"]["n"] == 6
    assert summary["speaker_shortcut"]["trained"]["top_share"] == pytest.approx(result["speaker_shortcut"]["top_share"])
    assert set(summary["pooled"]["trained"]["overall"]) == {"n", "recall@10", "ndcg@10", "mrr"}
    assert "55.6" in shortcut_table(summary["speaker_shortcut"])
    nobody = EvalSet(data.conversations, [data.queries[3]], data.template)
    none = score(EvalVectors(vectors.keys, vectors.passages, vectors.queries[:1]), nobody, ks=[10])
    assert none["speaker_shortcut"] == {"k": 10, "n": 0, "top_share": None, "evidence_share": None}
    assert "no speaker-shortcut check" in shortcut_table({"trained": none["speaker_shortcut"]})
