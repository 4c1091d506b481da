"""LoCoMo QA (hins/evaluation/qa.py): Mem0's F1 and BLEU-1 against values computed by hand, evidence Recall@k with a
scripted search, answering through the fake OpenAI server, the refusal without an endpoint, and the table."""

from __future__ import annotations

import math

import pytest

from hins.core.config import ConfigError
from hins.evaluation.eval_llm import LLMNotConfigured
from hins.evaluation.locomo import load_locomo
from hins.evaluation.memory.base import Hit
from hins.evaluation.qa import bleu1, bleu_tokens, evaluate_qa, qa_table, token_f1
from tests.conftest import ROOT
from tests.fake_eval_llm import answering, llm_node

FIXTURE = ROOT / "tests" / "fixtures" / "locomo_tiny.json"


# ---- metrics: precision p, recall r, F1 = 2pr / (p + r); BLEU-1 = clipped unigram precision x exp(1 - r/c) if c < r
@pytest.mark.parametrize("pred, gold, f1, b1", [
    ("Paris", "Paris", 1.0, 1.0),  # exact match
    ("", "a lemon tree", 0.0, 0.0),  # empty answer
    ("a lemon tree", "", 0.0, 0.0),  # empty gold
    ("A lemon tree.", "a lemon tree", 1.0, 3 / 4),  # F1 drops "."; BLEU's tokens keep it: 3 of 4 match
    ("Yes!", "yes", 1.0, 1 / 2),
    ("2021", 2021, 1.0, 1.0),  # an int gold answer, as LoCoMo has
    ("7 May 2023", "May 7, 2023", 1.0, math.exp(1 - 4 / 3)),  # word order is free; "," is a 4th gold token for BLEU
    ("18", "eighteen", 0.0, 0.0),  # a number is matched as written
    ("the cat sat", "the cat sat on the mat", 2 * 1 * 0.6 / 1.6, math.exp(1 - 6 / 3)),  # p=3/3, r=3/5; c=3, r=6
    ("the the the", "the cat", 2 * 1 * 0.5 / 1.5, 1 / 3),  # sets: p=1/1, r=1/2; BLEU clips "the" to 1 of 3
    ("a half marathon", "a half marathon, 18 km runs", 2 * 0.5 / 1.5, math.exp(1 - 7 / 3)),
    ("Tomas's tree", "tomas's tree", 1.0, 1.0),  # "'s" stays attached for F1, is its own token for BLEU
])
def test_metrics_by_hand(pred, gold, f1, b1):
    assert token_f1(pred, gold) == pytest.approx(f1)
    assert bleu1(pred, gold) == pytest.approx(b1)


def test_bleu_splits_sentences_like_word_tokenize():
    assert bleu_tokens("She paints. She runs.") == ["she", "paints", ".", "she", "runs", "."]
    assert bleu1("She paints. She runs.", "she paints") == pytest.approx(2 / 6)  # "she" clipped to 1


# ---- evaluate_qa
# Scripted hits per question, each with its source dia_ids (k=2 keeps the first two); (): a memory an LLM wrote.
HITS = {
    "What did Ines repot?": [("D1:1",), ("D1:3",), ("D2:4",)],  # evidence D1:1 -> 1
    "In which year did Tomas start baking rye bread?": [("D1:4",), ()],  # D1:4, D2:1 -> 1/2
    "What colour pot does Ines plan to make for her lemon tree?": [("D1:3",), ("D1:3",)],  # D1:3, D2:4 -> 1/2
    "What does Ines do on Thursdays?": [("D2:3",), ("D2:1",)],  # D2:2 -> 0
    "What did Tomas bake?": [("D2:1",)],  # D2:1 -> 1 (one hit only)
    "What did Ines show Tomas?": [("D1:3",), ("D1:1",)],  # D1:3 -> 1
    "What is the name of Ravi's cat?": [("D1:3", "d2:2")],  # a two-turn page; evidence D1:1, D1:3 -> 1/2
    "How far did Lena run?": [("D2:1",), ("D1:2",)],  # D2:1 -> 1
    "Which race is Lena preparing for and how is training going?": [("D1:2",), ("D2:1",)],  # D1:2, D2:1 -> 1
}
# recall by category: 1 (multi-hop) 1/2, 1 -> 3/4; 2 (temporal) 1/2, 1 -> 3/4; 3 (open-domain) 1; 4 (single-hop)
# 1, 0, 1, 1/2 -> 5/8; all 9: 6.5/9
RECALL = {1: 0.75, 2: 0.75, 3: 1.0, 4: 0.625}
ANSWERS = {  # the fake LLM's answer -> (F1, BLEU-1) against the gold answer
    "What did Ines repot?": ("A lemon tree.", 1.0, 3 / 4),  # gold "a lemon tree"
    "In which year did Tomas start baking rye bread?": (2021, 1.0, 1.0),  # a number, gold "2021"
    "What colour pot does Ines plan to make for her lemon tree?": ("blue", 0.0, 0.0),  # gold "green"
    "What does Ines do on Thursdays?": ("a pottery class", 0.8, 2 / 3),  # gold "pottery class": p=2/3, r=1
    "What did Tomas bake?": ("rye bread", 1.0, 1.0),
    "What did Ines show Tomas?": ("the lemon tree", 2 / 3, 2 / 3),  # gold "her lemon tree"
    "What is the name of Ravi's cat?": ("Pebble", 1.0, 1.0),
    "How far did Lena run?": ("eighteen kilometres", 0.0, 0.0),  # gold "18"
    "Which race is Lena preparing for and how is training going?": ("a half marathon", 2 / 3, math.exp(-4 / 3)),
}
CATEGORY_OF = {"What colour pot does Ines plan to make for her lemon tree?": 1,
               "Which race is Lena preparing for and how is training going?": 1,
               "In which year did Tomas start baking rye bread?": 2, "How far did Lena run?": 2,
               "What did Ines show Tomas?": 3}


@pytest.fixture(scope="module")
def corpus():
    return load_locomo(FIXTURE)


def _search(corpus, calls: list):
    def search_many(cid, questions, k):
        calls.append((cid, list(questions), k))
        conv = corpus.conversation(cid)
        text = {m.dia_id: f"{m.speaker}: {m.text}" for m in conv.messages}
        return [[Hit(text=" / ".join(text[d.upper()] for d in ids) if ids else "Tomas likes baking.",
                     score=1.0 - 0.1 * r, dia_ids=ids) for r, ids in enumerate(HITS[q])] for q in questions]
    return search_many


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def test_retrieval_only(corpus):
    calls: list = []
    result = evaluate_qa(corpus, _search(corpus, calls), k=2, answer=False)
    assert [(cid, len(qs), k) for cid, qs, k in calls] == [("tiny-1", 6, 2), ("tiny-2", 3, 2)]  # one call each
    assert not result.answered and result.llm is None
    assert {c: s.recall for c, s in result.by_category.items()} == pytest.approx(RECALL)
    assert {c: s.n for c, s in result.by_category.items()} == {1: 2, 2: 2, 3: 1, 4: 4}
    assert result.overall.n == 9 and result.overall.recall == pytest.approx(6.5 / 9)
    # the first hit alone: 1, 1/2, 1/2, 0, 1, 1, 1/2, 1, 1/2 (same comments as HITS, one hit each)
    assert result.overall.recall_at == pytest.approx({1: 6 / 9, 2: 6.5 / 9})
    assert result.overall.f1 is None and all(i.prediction is None for i in result.items)
    first = next(i for i in result.items if i.qid == "tiny-1-qa0")
    assert first.retrieved == (("D1:1",), ("D1:3",))  # truncated to k
    assert "adversarial" not in qa_table({"base": result}) and "F1" not in qa_table({"base": result})


def test_answering_through_the_fake_server(corpus, tmp_path, monkeypatch):
    seen: dict[str, list[str]] = {}
    asked: dict[str, int] = {}

    def answer(data):
        q = data["question"]
        seen[q] = data["memories"]
        asked[q] = asked.get(q, 0) + 1
        if q == "What did Tomas bake?" and asked[q] == 1:
            return {"answer": "   "}  # empty: re-asked once, then answered
        return {"answer": ANSWERS[q][0]}

    with answering(monkeypatch, "qa_answer", answer) as server:
        node = llm_node(server, tmp_path)
        result = evaluate_qa(corpus, _search(corpus, []), k=2, llm=node)
        assert sum(server.answered.values()) == 10  # 9 questions + 1 re-ask
        again = evaluate_qa(corpus, _search(corpus, []), k=2, llm=node)  # every call replayed from the cache
        assert sum(server.answered.values()) == 10 and again.llm["usage"]["cached"] == 10
    assert result.answered and result.llm["repaired"] == {"qa_answer": 1} and not result.llm["dropped_steps"]
    by_q = {i.question: i for i in result.items}
    for q, (pred, f1, b1) in ANSWERS.items():
        assert by_q[q].prediction == str(pred)
        assert (by_q[q].f1, by_q[q].bleu1) == pytest.approx((f1, b1)), q
    for c, s in result.by_category.items():
        qs = [q for q in ANSWERS if CATEGORY_OF.get(q, 4) == c]
        assert s.f1 == pytest.approx(_mean(ANSWERS[q][1] for q in qs))
        assert s.bleu1 == pytest.approx(_mean(ANSWERS[q][2] for q in qs))
    assert result.overall.f1 == pytest.approx(_mean(a[1] for a in ANSWERS.values()))  # question-weighted
    assert result.overall.bleu1 == pytest.approx(_mean(a[2] for a in ANSWERS.values()))
    # memories reach the LLM in rank order, with their session's date; a memory without a source turn has none
    assert seen["What did Ines repot?"] == [
        "(9:05 am on 3 March, 2021) Ines: Morning Tomas! I finally repotted the lemon tree on my balcony.",
        "(9:05 am on 3 March, 2021) Ines: Here is how it looks now. [shares a photo: a photo of a small lemon tree "
        "in a blue pot]"]
    assert seen["In which year did Tomas start baking rye bread?"][1] == "Tomas likes baking."
    assert seen["What is the name of Ravi's cat?"] == [  # a page of two turns: the earlier session's date
        "(2:00 pm on 5 June, 2022) Ravi: Pebble already sleeps on my keyboard. / "
        "Ravi: Impressive. Pebble knocked my coffee over this morning."]
    table = qa_table({"base": again, "trained": result})
    assert "| F1 / BLEU-1 | Temporal (n=2) | Open-domain (n=1) | Multi-hop (n=2) | Single-hop (n=4) | Average (n=9) |" \
        in table
    assert f"| base | 0.5000 / 0.5000 | 0.6667 / 0.6667 | 0.3333 / {math.exp(-4 / 3) / 2:.4f} |" in table
    assert "| Δ trained (points) | +0.00 / +0.00 |" in table and "Evidence Recall@2" in table


def test_refuses_without_an_endpoint(corpus, tmp_path):
    calls: list = []
    with pytest.raises(LLMNotConfigured, match=r"qa\.llm is not configured"):
        evaluate_qa(corpus, _search(corpus, calls), k=2)
    assert not calls  # refused before any retrieval
    with pytest.raises(LLMNotConfigured, match=r"eval\.qa_llm\.base_url is not set"):
        evaluate_qa(corpus, _search(corpus, calls), k=2, llm={"model": "m"}, llm_key="eval.qa_llm")
    node = {"base_url": "http://127.0.0.1:9/v1", "model": "m", "concurrency": 0}
    with pytest.raises(ConfigError, match=r"qa\.llm\.concurrency"):
        evaluate_qa(corpus, _search(corpus, calls), k=2, llm=node)


def test_argument_errors(corpus):
    search = _search(corpus, [])
    with pytest.raises(ValueError, match="unknown LoCoMo categories"):
        evaluate_qa(corpus, search, k=2, answer=False, categories=(1, 9))
    with pytest.raises(ValueError, match="not in"):
        evaluate_qa(corpus, search, k=2, answer=False, cids=["nope"])
    with pytest.raises(ValueError, match="hit lists"):
        evaluate_qa(corpus, lambda cid, qs, k: [], k=2, answer=False)
    only = evaluate_qa(corpus, search, k=2, answer=False, cids=["tiny-2"], categories=(2, 3))
    assert only.overall.n == 1 and list(only.by_category) == [2]  # tiny-2 has no open-domain question
    with pytest.raises(ValueError, match="no questions of categories"):
        evaluate_qa(corpus, search, k=2, answer=False, cids=["tiny-2"], categories=(3,))
