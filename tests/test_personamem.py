"""PersonaMem (hins/evaluation/personamem.py): a hand-written fixture in the benchmark's schema, column and file checks, the
offline proxy with a keyword encoder whose choices can be worked out by hand, the tiny model through the
Embedder interface, and the LLM choice through the fake OpenAI server."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest

from hins.evaluation.eval_llm import LLMNotConfigured
from hins.evaluation.personamem import (PersonaMemFormatError, PersonaMemUnavailable, evaluate_personamem, fetch_personamem,
                             load_personamem, personamem_table)
from tests.conftest import ROOT
from tests.fake_eval_llm import answering, llm_node

FIXTURES = ROOT / "tests" / "fixtures" / "personamem"
QUESTIONS, CONTEXTS = FIXTURES / "questions_tiny.csv", FIXTURES / "shared_contexts_tiny.jsonl"
VOCAB = ("jazz", "rock", "sushi", "pizza", "hiking", "swimming", "paris", "tokyo", "violin", "guitar")


class KeywordEncoder:
    """One dimension per vocabulary word (its count in the text) plus a small constant one, L2-normalised:
    the cosine of two texts is their keyword overlap, so every retrieval and choice can be computed by hand."""

    def encode(self, texts: list[str], kind: str = "passage") -> np.ndarray:
        rows = []
        for text in texts:
            words = re.findall(r"[a-z]+", text.lower())
            rows.append([words.count(w) for w in VOCAB] + [0.01])
        vecs = np.asarray(rows, dtype=np.float64)
        return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def data():
    return load_personamem(QUESTIONS, CONTEXTS)


def test_loads_the_fixture(data):
    assert [q.qid for q in data.questions] == ["maya-1", "maya-2", "maya-3", "leo-1", "leo-2", "leo-3"]
    q = data.questions[0]
    assert (q.persona_id, q.qtype, q.topic, q.context_id, q.end_index) == (
        "0", "provide_preference_aligned_recommendations", "musicRecommendation", "ctx-maya", 5)
    assert q.labels == ("a", "b", "c", "d") and q.answer == "b"
    assert q.options[1] == "A jazz playlist for a calm evening."  # the "(b) " label is taken off
    assert len(data.contexts["ctx-maya"]) == 8 and data.contexts["ctx-maya"][0].role == "system"


# Keyword overlaps (cosines) decide everything; memories are the user/assistant messages before end_index.
#   maya-1 "jazz or rock?", end 5: top-2 = 1, 2 (jazz); profile jazz >> rock -> (b) jazz: right
#   maya-2 same question, end 8: top-2 = 5 (jazz + rock, cosine 1), 1 (jazz) -> still (b); the answer is (a) rock
#          (the user went off jazz): the proxy misses a preference change
#   maya-3 "pizza or sushi?": 3, 4 (sushi) -> (b) sushi: right
#   leo-1  "new hobby ... violin": 1, 2 (violin) -> (b) violin quartet; the answer is (a) guitar: wrong
#   leo-2  "Paris or Tokyo?": 3, 4 (tokyo) -> (b): right
#   leo-3  "swimming to hiking?": 5 (both), 6 (hiking) -> (a), sharing both words: right
RETRIEVED = {"maya-1": (1, 2), "maya-2": (5, 1), "maya-3": (3, 4), "leo-1": (1, 2), "leo-2": (3, 4),
             "leo-3": (5, 6)}


def test_offline_proxy_accuracy_by_hand(data):
    result = evaluate_personamem(data, KeywordEncoder(), k=2)
    assert result.mode == "embedding" and result.llm is None
    assert {i.qid: i.retrieved for i in result.items} == RETRIEVED
    assert {i.qid: i.chosen for i in result.items} == {"maya-1": "b", "maya-2": "b", "maya-3": "b", "leo-1": "b",
                                                       "leo-2": "b", "leo-3": "a"}
    assert (result.total.correct, result.total.n) == (4, 6)
    assert {t: (a.correct, a.n) for t, a in result.by_type.items()} == {
        "provide_preference_aligned_recommendations": (1, 1), "recall_user_shared_facts": (2, 2),
        "suggest_new_ideas": (0, 1), "recalling_the_reasons_behind_previous_updates": (1, 1),
        "track_full_preference_evolution": (0, 1)}
    assert list(result.by_type)[:3] == ["provide_preference_aligned_recommendations", "recall_user_shared_facts",
                                       "suggest_new_ideas"]  # Table 2's column order
    table = personamem_table({"base": result, "trained": result})
    assert "| Pref. Rec. (n=1) | Recall Facts (n=2) | Suggest Ideas (n=1) | Recall Reasons (n=1) | Track Pref. (n=1)" \
        " | Total (n=6) |" in table
    assert "| base | 1.0000 | 1.0000 | 0.0000 | 1.0000 | 0.0000 | 0.6667 |" in table
    assert "| Δ trained (points) | +0.00 |" in table
    assert result.to_dict()["accuracy"]["total"] == pytest.approx(4 / 6)


def test_tiny_model_through_the_embedder_interface(data, tiny_embedder):
    result = evaluate_personamem(data, tiny_embedder, k=3)
    assert result.total.n == 6 and 0 <= result.total.correct <= 6
    for q, item in zip(data.questions, result.items):
        assert len(item.retrieved) == 3 and all(i < q.end_index for i in item.retrieved)
        assert all(data.contexts[q.context_id][i].role in ("user", "assistant") for i in item.retrieved)
        assert item.chosen in q.labels


def test_llm_choice_through_the_fake_server(data, tmp_path, monkeypatch):
    seen: dict[str, list[dict]] = {}

    def choose(inp):
        seen.setdefault(inp["message"], []).append(inp)
        if inp["message"].startswith("Suggest"):
            return {"choice": "(z)"}  # never a valid letter: re-asked once, then given up (counted wrong)
        return {"choice": "(B)"}  # normalised to "b"

    with answering(monkeypatch, "personamem_choice", choose) as server:
        result = evaluate_personamem(data, KeywordEncoder(), k=2, choose="llm", llm=llm_node(server, tmp_path))
    assert result.mode == "llm"
    # right where the answer is (b): maya-1, maya-3, leo-2; leo-1 dropped
    assert {i.qid: i.chosen for i in result.items} == {"maya-1": "b", "maya-2": "b", "maya-3": "b", "leo-1": None,
                                                       "leo-2": "b", "leo-3": "b"}
    assert (result.total.correct, result.total.n) == (3, 6)
    assert result.llm["invalid_answers"] == {"personamem_choice": 2}
    assert result.llm["dropped_steps"] == {"personamem_choice": 1}
    # the LLM sees the retrieved memories in conversation order, none at or past end_index, and the bare options
    music = seen["What should I put on tonight, jazz or rock?"]  # maya-1 (end 5) and maya-2 (end 8)
    assert sorted([m.split("]")[0] for m in x["memories"]] for x in music) == [["[1", "[2"], ["[1", "[5"]]
    assert music[0]["memories"][0] == "[1] User: Lately I listen to jazz every evening after work."
    assert music[0]["options"] == {"a": "Some rock classics to play loud.", "b": "A jazz playlist for a calm evening.",
                                "c": "A recipe for homemade sushi.", "d": "A map of hiking trails."}


def test_llm_choice_refused_without_an_endpoint(data):
    with pytest.raises(LLMNotConfigured, match=r"personamem\.llm is not configured"):
        evaluate_personamem(data, KeywordEncoder(), k=2, choose="llm")


def _rewrite(tmp_path: Path, edit) -> Path:
    """The fixture's questions with ``edit(header, rows)`` applied."""
    with QUESTIONS.open(newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    header, body = edit(header, body)
    out = tmp_path / "questions.csv"
    with out.open("w", newline="") as fh:
        csv.writer(fh).writerows([header, *body])
    return out


def _set(column: str, value: str):
    def edit(header, body):
        body[1][header.index(column)] = value
        return header, body
    return edit


@pytest.mark.parametrize("edit, message", [
    (lambda h, b: ([c for c in h if c != "all_options"], [r[:-1] for r in b]),
     r"missing column\(s\) \['all_options'\]"),
    (_set("correct_answer", "(e)"), r"line 3: column 'correct_answer': expected one of the option letters"),
    (_set("all_options", "not a list"), r"line 3: column 'all_options': expected a list of at least two option"),
    (_set("shared_context_id", "ctx-nobody"), r"line 3: column 'shared_context_id'"),
    (_set("end_index_in_shared_context", "99"), r"column 'end_index_in_shared_context': expected 0 to 8"),
    (_set("end_index_in_shared_context", "five"), r"column 'end_index_in_shared_context': expected an integer"),
    (lambda h, b: (h, [b[0], b[1][:2], *b[2:]]), r"line 3: no value for column\(s\) \["),
])
def test_column_errors_name_the_file_and_column(tmp_path, edit, message):
    path = _rewrite(tmp_path, edit)
    with pytest.raises(PersonaMemFormatError, match=message) as err:
        load_personamem(path, CONTEXTS)
    assert str(path) in str(err.value)


def test_context_file_errors(tmp_path):
    bad = tmp_path / "contexts.jsonl"
    bad.write_text('{"c1": [{"role": "user", "content": "hi"}]}\n{"c2": [{"role": "user"}]}\n')
    with pytest.raises(PersonaMemFormatError, match=r"contexts\.jsonl: line 2: context 'c2', message 0"):
        load_personamem(QUESTIONS, bad)
    with pytest.raises(PersonaMemFormatError, match="no such file"):
        load_personamem(QUESTIONS, tmp_path / "absent.jsonl")


def test_offline_fetch_says_to_pass_local_paths():
    with pytest.raises(PersonaMemUnavailable, match=r"HF_HUB_OFFLINE is set: call load_personamem\(questions=\.\.\., "
                                                    r"contexts=\.\.\.\) with the local paths of questions_32k\.csv"):
        fetch_personamem("32k")
    with pytest.raises(ValueError, match="split"):
        fetch_personamem("64k")
