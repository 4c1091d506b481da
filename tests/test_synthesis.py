"""The procedural synthesis backend: bounds from the paper, determinism, and data usable for HiNS negatives."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from hins.stages.personas import BuiltinPersonas
from hins.core.records import Conversation, Persona
from hins.synthesis import ProceduralSynthesizer, diversity_report
from hins.synthesis.themes import CATEGORIES, THEMES

N_CONVERSATIONS = 200


def _words(text: str) -> int:
    return len(text.split())


@pytest.fixture(scope="module")
def corpus():
    source = BuiltinPersonas(seed=11)
    synth = ProceduralSynthesizer(seed=11)
    convs, queries = [], []
    for i in range(N_CONVERSATIONS):
        conv = synth.conversation(f"t{i}", *source.pair(i))
        convs.append(conv)
        queries.append(synth.queries(conv))
    return synth, convs, queries


def _persona(pid: str, name: str, traits: dict[str, str] | None = None, age: int = 40) -> Persona:
    return Persona(pid=pid, name=name, sex="Female", age=age, marital_status="married",
                   education_level="bachelor's degree", education_field="nursing", city="Tucson",
                   state="Arizona", country="USA", traits=traits or {})


def test_theme_bank_is_large_and_complete():
    assert len(THEMES) >= 40
    assert len({t.key for t in THEMES}) == len(THEMES)
    per_category = Counter(t.category for t in THEMES)
    assert set(per_category) == set(CATEGORIES)
    assert min(per_category.values()) >= 8
    for t in THEMES:
        assert len(t.acts) >= 6 and len(t.things) >= 6 and len(t.details) >= 6, t.key
        assert len(t.habits) >= 4 and len(t.plans) >= 4 and len(t.feelings) >= 3, t.key
        assert len(t.refs) >= 3 and len(t.questions) >= 3 and len(t.brief) >= 2 and t.keywords, t.key
        assert all("{who}" in q for q in t.questions), t.key


def test_events_six_named_bounded_all_categories(corpus):
    synth, convs, _ = corpus
    for conv in convs[:50]:
        for persona in conv.personas:
            events = synth.events(persona)
            assert len(events) == 6
            assert [e.order for e in events] == list(range(6))
            assert {e.category for e in events} == set(CATEGORIES)
            assert len({e.theme for e in events}) == 6
            first = persona.name.split()[0]
            for e in events:
                assert 10 <= _words(e.text) <= 25, e.text
                assert first in e.text, e.text
                assert not re.search(r"\b(he|she)\b", e.text.lower()), e.text
                assert e.person == persona.name


def test_events_reflect_traits():
    # A persona whose traits are all about gardening and baking should get those themes more often.
    synth = ProceduralSynthesizer(seed=0)
    traits = {"hobbies": "spends weekends gardening in the backyard", "culinary": "bakes sourdough bread"}
    themes = Counter(e.theme for i in range(100) for e in synth.events(_persona(f"x{i}", "Ana Lopez", traits)))
    plain = Counter(e.theme for i in range(100) for e in synth.events(_persona(f"x{i}", "Ana Lopez")))
    assert themes["gardening"] + themes["baking"] > 2 * (plain["gardening"] + plain["baking"])


def test_brief_bounds(corpus):
    synth, convs, _ = corpus
    for conv in convs:
        assert len(conv.briefs) == 2
        for persona, brief in zip(conv.personas, conv.briefs):
            assert 15 <= _words(brief) <= 25, brief
            assert brief == synth.brief(persona)
            assert brief.startswith("the ")


def test_conversation_shape(corpus):
    _, convs, _ = corpus
    for conv in convs:
        assert len(conv.messages) == 40
        assert [m.mid for m in conv.messages] == list(range(40))
        assert len(set(conv.speakers)) == 2
        assert [m.speaker for m in conv.messages] == conv.speakers * 20
        assert conv.speakers == [p.name.split()[0] for p in conv.personas]
        assert conv.messages[0].topic == "greeting" and conv.messages[-1].topic == "closing"
        for m in conv.messages:
            assert 5 <= _words(m.text) <= 40, m.text
            assert m.topic, m
        assert len(conv.events) == 12


def test_dialogue_has_topic_blocks_and_transitions(corpus):
    _, convs, _ = corpus
    for conv in convs:
        topics = Counter(m.topic for m in conv.messages)
        blocks = [t for t, n in topics.items() if n >= 10 and t not in ("greeting", "closing", "smalltalk")]
        assert len(blocks) == 3
        # Not every message is about an event: greetings, closings (and often small talk) are not.
        assert topics["greeting"] >= 2 and topics["closing"] >= 2


def test_events_are_discussed_in_time_order(corpus):
    _, convs, _ = corpus
    for conv in convs:
        for speaker, persona in zip(conv.speakers, conv.personas):
            order = {e.theme: e.order for e in conv.events if e.person == persona.name}
            seen = []
            for m in conv.messages:
                if m.speaker == speaker and m.topic in order and order[m.topic] not in seen:
                    seen.append(order[m.topic])
            assert seen == sorted(seen), (conv.cid, speaker, seen)
            assert seen, "each person discusses at least one of their events"


def test_same_seed_same_output_different_seed_different():
    a, b = BuiltinPersonas(seed=5).pair(3)
    s1, s2, s3 = ProceduralSynthesizer(seed=5), ProceduralSynthesizer(seed=5), ProceduralSynthesizer(seed=6)
    c1, c2, c3 = s1.conversation("x", a, b), s2.conversation("x", a, b), s3.conversation("x", a, b)
    assert c1.to_dict() == c2.to_dict()
    assert [q.to_dict() for q in s1.queries(c1)] == [q.to_dict() for q in s2.queries(c2)]
    assert [m.text for m in c1.messages] != [m.text for m in c3.messages]
    assert [e.text for e in c1.events] != [e.text for e in c3.events]
    assert s1.conversation("y", a, b).to_dict() != c1.to_dict()


def test_independent_of_call_order():
    source = BuiltinPersonas(seed=2)
    first, second = ProceduralSynthesizer(seed=2), ProceduralSynthesizer(seed=2)
    for i in (4, 1, 3):
        first.conversation(f"c{i}", *source.pair(i))
    target = first.conversation("c0", *source.pair(0))
    fresh = second.conversation("c0", *source.pair(0))
    assert target.to_dict() == fresh.to_dict()
    # queries() of a fresh synthesizer (no cached composition) give the same answer
    third = ProceduralSynthesizer(seed=2)
    assert [q.to_dict() for q in third.queries(target)] == [q.to_dict() for q in first.queries(target)]


def test_query_kinds_targets_and_ids(corpus):
    _, convs, queries = corpus
    for conv, qs in zip(convs, queries):
        assert [q.kind for q in qs] == ["p1", "p1", "p2", "p2", "shared", "shared"]
        assert [q.qid for q in qs] == [f"{conv.cid}-q{j}" for j in range(6)]
        assert [q.target for q in qs[:4]] == [conv.speakers[0]] * 2 + [conv.speakers[1]] * 2
        for q in qs:
            assert q.cid == conv.cid and q.text[-1] in "?."
            assert len(set(q.evidence)) == len(q.evidence) and q.evidence == sorted(q.evidence)
            assert all(0 <= mid < len(conv.messages) for mid in q.evidence)
            ev = [conv.messages[mid] for mid in q.evidence]
            assert all(m.topic == q.topic for m in ev)
            by_speaker = Counter(m.speaker for m in ev)
            # Evidence is primarily the target's; for shared queries the target has the most.
            assert by_speaker[q.target] == max(by_speaker.values())
            assert by_speaker[q.target] >= 2 * (len(ev) - by_speaker[q.target])
            # Every message of the target on the topic is evidence.
            assert set(q.evidence) >= {m.mid for m in conv.messages if m.topic == q.topic and m.speaker == q.target}
        shared = qs[4:]
        assert {q.target for q in shared} == set(conv.speakers)


def test_evidence_sizes_mostly_in_range(corpus):
    _, _, queries = corpus
    sizes = [len(q.evidence) for qs in queries for q in qs]
    assert sum(5 <= s <= 12 for s in sizes) / len(sizes) >= 0.85


def test_hard_and_medium_candidates_available(corpus):
    _, convs, queries = corpus
    hard_ok = medium_ok = total = 0
    for conv, qs in zip(convs, queries):
        for q in qs:
            rest = [m for m in conv.messages if m.mid not in q.evidence]
            hard = [m for m in rest if m.topic == q.topic and m.speaker != q.target]
            medium = [m for m in rest if m.topic != q.topic]
            hard_ok += len(hard) >= 3
            medium_ok += len(medium) >= 3
            total += 1
    assert hard_ok / total >= 0.9 and medium_ok == total


def test_queries_refer_to_the_target_and_do_not_copy_evidence(corpus):
    _, convs, queries = corpus
    for conv, qs in zip(convs, queries):
        for q in qs:
            target = conv.personas[conv.speakers.index(q.target)]
            brief = conv.briefs[conv.speakers.index(q.target)].lower()
            if target.name.split()[0] not in q.text:
                # Referred to by a phrase from the brief: its job words appear in the brief.
                ref_words = set(re.findall(r"[a-z]+", q.text.lower())) & set(re.findall(r"[a-z]+", brief))
                assert ref_words - {"the", "from", "who", "and", "a", "of", "in", "with", "for"}, (q.text, brief)
            for m in conv.messages:
                assert q.text not in m.text


def test_queries_rejected_for_foreign_conversations(corpus):
    synth, convs, _ = corpus
    other = ProceduralSynthesizer(seed=12)
    with pytest.raises(ValueError, match="not generated"):
        other.queries(convs[0])
    edited = Conversation.from_dict(convs[0].to_dict())
    edited.messages[5].text = "Something else entirely, said by nobody."
    with pytest.raises(ValueError, match="not generated"):
        synth.queries(edited)


def test_round_trip_through_json(corpus):
    synth, convs, queries = corpus
    restored = Conversation.from_dict(convs[3].to_dict())
    assert restored.to_dict() == convs[3].to_dict()
    assert [q.to_dict() for q in ProceduralSynthesizer(seed=11).queries(restored)] == \
           [q.to_dict() for q in queries[3]]


def test_diversity_report(corpus):
    _, convs, queries = corpus
    flat = [q for qs in queries for q in qs]
    text_only = diversity_report(convs)
    for key in ("vocabulary", "distinct_1", "distinct_2", "distinct_3", "duplicate_message_share",
                "mean_words_per_message"):
        assert key in text_only
    assert 0 < text_only["distinct_1"] < text_only["distinct_2"] < text_only["distinct_3"] <= 1
    assert text_only["vocabulary"] > 1500
    assert text_only["duplicate_message_share"] < 0.2
    report = diversity_report(convs, flat)
    assert sum(report["evidence_size_histogram"].values()) == len(flat)
    assert report["evidence_in_range_share"] >= 0.85
    assert report["hard_candidates_mean"] >= 3 and report["medium_candidates_mean"] >= 3
    assert report["queries_copying_evidence"] == 0
    assert report["query_content_in_evidence"] > report["query_content_in_hard"]
    assert report["duplicate_query_share"] < 0.05


@pytest.mark.parametrize("turns", [17, 24])
def test_other_lengths(turns):
    synth = ProceduralSynthesizer(seed=1, turns=turns)
    source = BuiltinPersonas(seed=1)
    for i in range(20):
        conv = synth.conversation(f"c{i}", *source.pair(i))
        assert len(conv.messages) == 2 * turns
        for q in synth.queries(conv):
            assert 5 <= len(q.evidence) <= 12


def test_invalid_parameters():
    with pytest.raises(ValueError, match="turns"):
        ProceduralSynthesizer(seed=0, turns=5)
    with pytest.raises(ValueError, match="events_per_person"):
        ProceduralSynthesizer(seed=0, events_per_person=3)
    same = _persona("a", "Ana Lopez")
    with pytest.raises(ValueError, match="distinct"):
        ProceduralSynthesizer(seed=0).conversation("c", same, _persona("b", "Ana Lopez"))


def test_other_persona_shapes():
    synth = ProceduralSynthesizer(seed=3)
    # MSC-style sentence traits, a shared first name (speakers then go by full name), an older person.
    p1 = _persona("m1", "Ana Lopez", {"sentence_1": "I like Metallica.", "sentence_2": "I play basketball."}, age=75)
    p2 = _persona("m2", "Ana Smith", {"professional": "Ana Smith, a pediatric nurse, works nights."})
    conv = synth.conversation("m", p1, p2)
    assert conv.speakers == ["Ana Lopez", "Ana Smith"]
    assert "retired" in conv.briefs[0] and "pediatric nurse" in conv.briefs[1]
    qs = synth.queries(conv)
    assert {q.target for q in qs} == set(conv.speakers)
    assert all(5 <= len(q.evidence) <= 12 for q in qs)
