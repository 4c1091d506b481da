"""LoCoMo loader and evaluation: a hand-written fixture in LoCoMo's schema, and the real file where present."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from hins.evaluation.evaluate import evaluate
from hins.evaluation.locomo import (
    KS,
    LocomoFormatError,
    load_locomo,
    locomo_eval_set,
    main,
    parse_dia_ids,
)
from hins.training.model import ModelSpec, load_embedder

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "locomo_tiny.json"
REAL = Path(os.environ.get("HINS_LOCOMO", ROOT.parent / "shared" / "data" / "locomo" / "locomo10.json"))


@pytest.fixture(scope="module")
def tiny():
    return load_locomo(FIXTURE)


@pytest.fixture(scope="module")
def tiny_model():
    return load_embedder(ModelSpec(name="tiny", source="random", pooling="cls", arch=dict(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)))


def _write(tmp_path: Path, data, name: str = "bad.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def _raw():
    return json.loads(FIXTURE.read_text())


# --------------------------------------------------------------------------------------------- parsing


@pytest.mark.parametrize("value, keys, bad, repaired", [
    (["D1:3"], [(1, 3)], 0, 0),
    (["D8:6; D9:17"], [(8, 6), (9, 17)], 0, 0),
    (["D10:19 D10:20"], [(10, 19), (10, 20)], 0, 0),
    ("D26:14, D26:34,D26:42", [(26, 14), (26, 34), (26, 42)], 0, 0),
    (["d2:2"], [(2, 2)], 0, 1),
    (["D:11:26"], [(11, 26)], 0, 1),
    (["D30:05"], [(30, 5)], 0, 1),
    (["D"], [], 1, 0),
    (["D1:1", "D1:1"], [(1, 1)], 0, 0),
    ([], [], 0, 0),
    (None, [], 0, 0),
    ([3], [], 1, 0),
])
def test_parse_dia_ids(value, keys, bad, repaired):
    assert parse_dia_ids(value) == (keys, bad, repaired)


# --------------------------------------------------------------------------------------------- loader


def test_conversations_and_messages(tiny):
    assert [c.cid for c in tiny.conversations] == ["tiny-1", "tiny-2"]
    c1 = tiny.conversations[0]
    assert c1.speakers == ["Ines", "Tomas"]
    # session_3 is empty and sessions 4-5 only have dates: 8 turns from sessions 1 and 2, in order
    assert [m.dia_id for m in c1.messages] == ["D1:1", "D1:2", "D1:3", "D1:4", "D2:1", "D2:2", "D2:3", "D2:4"]
    assert [m.mid for m in c1.messages] == list(range(8))
    assert c1.messages[0].session == "9:05 am on 3 March, 2021"
    assert c1.messages[4].session == "6:40 pm on 17 March, 2021"
    assert c1.messages[2].text == ("Here is how it looks now. "
                                   "[shares a photo: a photo of a small lemon tree in a blue pot]")
    assert c1.messages[6].text == "Pottery! Will you make a pot for the lemon tree?"  # empty caption: nothing added
    assert c1.messages[3].speaker == "Tomas"
    assert sum(len(c.messages) for c in tiny.conversations) == 13
    assert tiny.stats["empty_sessions"] == 1
    assert tiny.stats["date_keys_without_session"] == 2


def test_questions(tiny):
    qs = {q.qid: q for q in tiny.questions}
    assert sorted(qs) == sorted(["tiny-1-qa0", "tiny-1-qa1", "tiny-1-qa2", "tiny-1-qa3", "tiny-1-qa5", "tiny-1-qa6",
                                 "tiny-1-qa10", "tiny-2-qa0", "tiny-2-qa1", "tiny-2-qa2"])
    assert qs["tiny-1-qa0"].kind == "single-hop" and qs["tiny-1-qa0"].evidence == [0]
    assert qs["tiny-1-qa1"].kind == "temporal" and qs["tiny-1-qa1"].evidence == [3, 4]  # "D1:4; D2:1"
    assert qs["tiny-1-qa2"].kind == "multi-hop" and qs["tiny-1-qa2"].evidence == [2, 7]  # "D1:3 D2:4"
    assert qs["tiny-1-qa3"].evidence == [5]  # lower case
    assert qs["tiny-1-qa6"].evidence == [4]  # D9:9 points nowhere: dropped
    assert qs["tiny-1-qa10"].kind == "open-domain" and qs["tiny-1-qa10"].evidence == [2]  # "D:1:3"
    assert qs["tiny-2-qa2"].evidence == [1, 3]  # "D2:01"
    adv = qs["tiny-1-qa5"]
    assert adv.kind == "adversarial" and tiny.categories[adv.qid] == 5
    assert tiny.answers[adv.qid] == "Not mentioned in the conversation"
    assert tiny.answers["tiny-1-qa1"] == "2021" and tiny.answers["tiny-2-qa1"] == "18"  # ints cast to str
    assert all(isinstance(a, str) for a in tiny.answers.values())
    # target: the speaker of most evidence turns; a tie goes to speaker_a
    assert qs["tiny-1-qa1"].target == "Tomas"
    assert qs["tiny-1-qa2"].target == "Ines"
    assert qs["tiny-2-qa2"].target == "Lena"
    assert qs["tiny-2-qa0"].target == "Ravi"
    assert all(q.topic == "" and q.cid in q.qid for q in tiny.questions)


def test_skip_stats(tiny):
    s = tiny.stats
    # empty list, only a dangling id, only an unparseable token, no evidence key
    assert s["qa_no_valid_evidence"] == 4
    assert s["qa_no_valid_evidence_cat3"] == 2 and s["qa_no_valid_evidence_cat4"] == 2
    assert s["qa_evidence_dangling"] == 2  # D9:9 (dropped from a kept question) and D7:3
    assert s["qa_evidence_unparseable"] == 1  # "D"
    assert s["qa_evidence_repaired"] == 3  # d2:2, D:1:3, D2:01
    assert s["qa_unknown_category"] == 1
    summary = tiny.summary()
    assert summary["qa_in_file"] == 15
    assert summary["questions"] == 10
    assert summary["questions_by_category"] == {1: 2, 2: 2, 3: 1, 4: 4, 5: 1}
    assert summary["turns"] == 13 and summary["conversations"] == 2


def test_observations(tiny):
    obs = {o.qid: o for o in tiny.observations}
    assert sorted(obs) == [f"tiny-1-obs{j}" for j in range(5)]  # obs5 (D5:1) points nowhere: skipped
    assert all(o.kind == "observation" for o in obs.values())
    assert obs["tiny-1-obs0"].target == "Ines" and obs["tiny-1-obs0"].evidence == [0]
    assert obs["tiny-1-obs2"].target == "Tomas" and obs["tiny-1-obs2"].text == "Tomas is learning to bake rye bread."
    assert obs["tiny-1-obs3"].evidence == [5, 7]  # a list of dia_ids
    assert obs["tiny-1-obs4"].evidence == [4, 6]  # "D2:1, D2:3"
    assert tiny.stats["obs_no_valid_evidence"] == 1 and tiny.stats["obs_evidence_dangling"] == 1


# --------------------------------------------------------------------------------------------- schema errors


def _assert_error(path: Path, *parts: str) -> None:
    with pytest.raises(LocomoFormatError) as info:
        load_locomo(path)
    message = str(info.value)
    assert str(path) in message
    for part in parts:
        assert part in message, message


def test_missing_file(tmp_path):
    _assert_error(tmp_path / "nope.json", "not found")


def test_invalid_json(tmp_path):
    _assert_error(_write(tmp_path, "[{\"sample_id\": "), "invalid JSON", "line 1")


def test_top_level_not_a_list(tmp_path):
    _assert_error(_write(tmp_path, {"sample_id": "x"}), "JSON list", "got dict")


def test_sample_without_conversation(tmp_path):
    data = _raw()
    del data[1]["conversation"]
    _assert_error(_write(tmp_path, data), "sample 1", "'tiny-2'", "'conversation'", "missing")


def test_session_not_a_list(tmp_path):
    data = _raw()
    data[0]["conversation"]["session_2"] = {"speaker": "Ines"}
    _assert_error(_write(tmp_path, data), "sample 0", "'tiny-1'", "conversation.session_2", "list of turns")


@pytest.mark.parametrize("key", ["speaker", "text", "dia_id"])
def test_turn_without_required_key(tmp_path, key):
    data = _raw()
    del data[1]["conversation"]["session_2"][1][key]
    _assert_error(_write(tmp_path, data), "sample 1", "'tiny-2'", f"conversation.session_2[1].{key}", "a string")


def test_speaker_missing(tmp_path):
    data = _raw()
    del data[0]["conversation"]["speaker_b"]
    _assert_error(_write(tmp_path, data), "sample 0", "conversation.speaker_b")


def test_qa_not_a_list(tmp_path):
    data = _raw()
    data[1]["qa"] = {"question": "?"}
    _assert_error(_write(tmp_path, data), "sample 1", "'qa'")


def test_extra_keys_are_fine(tmp_path):
    data = copy.deepcopy(_raw())
    data[0]["something_new"] = {"a": 1}
    data[0]["conversation"]["session_1"][0]["emotion"] = "happy"
    data[0]["qa"][0]["notes"] = "extra"
    corpus = load_locomo(_write(tmp_path, data, "extra.json"))
    assert len(corpus.questions) == 10


# --------------------------------------------------------------------------------------------- evaluation


def test_eval_set_restrictions(tiny):
    full = locomo_eval_set(tiny)
    assert full.template == "{speaker}: {text}"
    assert len(full.queries) == 9 and all(q.kind != "adversarial" for q in full.queries)
    with_adv = locomo_eval_set(tiny, categories=(1, 2, 3, 4, 5))
    assert len(with_adv.queries) == 10
    one = locomo_eval_set(tiny, cids=["tiny-2"], categories=(4,), template="{text}")
    assert [c.cid for c in one.conversations] == ["tiny-2"]
    assert [q.qid for q in one.queries] == ["tiny-2-qa0"] and one.template == "{text}"
    with pytest.raises(ValueError, match="tiny-9"):
        locomo_eval_set(tiny, cids=["tiny-9"])
    with pytest.raises(ValueError, match="categor"):
        locomo_eval_set(tiny, categories=(6,))


def test_evaluate_end_to_end(tiny, tiny_model):
    data = locomo_eval_set(tiny)
    result = evaluate(tiny_model, data, ks=KS)
    assert result["n_queries"] == 9 and result["n_conversations"] == 2
    assert set(result["by_kind"]) == {"multi-hop", "temporal", "open-domain", "single-hop"}
    assert {k: v["n"] for k, v in result["by_kind"].items()} == {"multi-hop": 2, "temporal": 2, "open-domain": 1,
                                                                  "single-hop": 4}
    overall = result["overall"]
    assert set(overall) == {"recall@1", "recall@5", "recall@10", "recall@25", "recall@50", "ndcg@10", "mrr"}
    assert overall["recall@50"] == 1.0  # every conversation has fewer than 50 turns
    assert all(0.0 <= v <= 1.0 for v in overall.values())
    # the overall mean is question-weighted over the categories
    weighted = sum(v["n"] * v["recall@5"] for v in result["by_kind"].values()) / 9
    assert overall["recall@5"] == pytest.approx(weighted)


def test_cli(tmp_path, tiny_model, capsys):
    model_dir = tiny_model.save(tmp_path / "tiny-model")
    out = tmp_path / "res.json"
    rc = main(["--model-dir", str(model_dir), "--model-dir", str(model_dir), "--path", str(FIXTURE),
               "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "| recall@25 |" in printed and "tiny-model (2)" in printed and "wall time" in printed
    saved = json.loads(out.read_text())
    assert saved["ks"] == list(KS)
    assert set(saved["results"]) == {"tiny-model", "tiny-model (2)"}
    assert saved["results"]["tiny-model"]["n_queries"] == 9
    assert saved["data"]["stats"]["qa_no_valid_evidence"] == 4


def test_cli_errors(tmp_path, capsys):
    assert main(["--model-dir", str(tmp_path / "none"), "--path", str(FIXTURE)]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert main(["--model-dir", str(tmp_path), "--path", str(tmp_path / "missing.json")]) == 2
    assert "not found" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------- the real file


@pytest.mark.skipif(not REAL.is_file(), reason=f"LoCoMo not found at {REAL} (set HINS_LOCOMO)")
def test_real_file_counts():
    corpus = load_locomo(REAL)
    summary = corpus.summary()
    assert summary["conversations"] == 10
    assert summary["turns"] == 5882
    assert summary["qa_in_file"] == 1986
    assert summary["qa_in_file_by_category"] == {1: 282, 2: 321, 3: 96, 4: 841, 5: 446}
    skipped = corpus.stats.get("qa_no_valid_evidence", 0)
    assert summary["questions"] == 1986 - skipped
    assert skipped <= 10  # a handful of empty evidence lists, not a parsing failure
    assert corpus.stats["date_keys_without_session"] > 0  # conv-26
    data = locomo_eval_set(corpus)
    assert len(data.queries) == 1540 - sum(corpus.stats.get(f"qa_no_valid_evidence_cat{c}", 0) for c in (1, 2, 3, 4))
    assert {q.kind for q in data.queries} == {"multi-hop", "temporal", "open-domain", "single-hop"}
    assert all(q.evidence for q in corpus.questions)
    assert len(corpus.observations) > 0 and all(o.evidence for o in corpus.observations)
