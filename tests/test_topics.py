from __future__ import annotations

import numpy as np
import pytest

from hins.stages.queries import filter_by_evidence, query_topic
from hins.stages.topics import AgglomerativeTopics, KMeansTopics, OracleTopics, SessionTopics, assign_topics, \
    speaker_topic_sets, tfidf_embed
from hins.core.records import Conversation, Message
from tests.conftest import make_conversation, make_queries


def _separated(conv, dim=16, seed=0):
    """Vectors that cluster exactly by ground-truth topic."""
    rng = np.random.default_rng(seed)
    centres = {t: rng.normal(size=dim) * 10 for t in {m.topic for m in conv.messages}}
    return np.stack([centres[m.topic] + rng.normal(size=dim) * 0.1 for m in conv.messages])


@pytest.mark.parametrize("method", [KMeansTopics(2, 8), AgglomerativeTopics(2, 8)])
def test_clustering_recovers_separated_topics_and_picks_k_by_silhouette(method):
    conv = make_conversation("c0", n_topics=4)
    vectors = _separated(conv)
    result = assign_topics([conv], method, lambda texts: vectors)
    assert result.ari == pytest.approx(1.0)
    assert result.mean_topics == 4


def test_oracle_and_session_topics():
    conv = make_conversation("c0")
    assert assign_topics([conv], OracleTopics(), None).ari == 1.0
    for m in conv.messages:
        m.session = f"s{m.mid // 24}"
    labels = SessionTopics().assign(conv)
    assert labels[0] == "s0" and labels[-1] == "s1"
    conv.messages[0].topic = None
    with pytest.raises(ValueError, match="topics=kmeans"):
        OracleTopics().assign(conv)


def test_k_range_is_checked():
    with pytest.raises(ValueError, match="k_min"):
        KMeansTopics(1, 3)


def test_tfidf_features_are_normalised():
    v = tfidf_embed(["the garden tomato harvest", "my chess opening", "tomato garden soil"])
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0)



@pytest.mark.parametrize("method", [KMeansTopics(2, 3), AgglomerativeTopics(2, 3)])
def test_tfidf_topics_with_messages_without_a_content_word(method):
    """LoCoMo has turns like "See you!" or ";)": all stop words, a zero TF-IDF row that cosine clustering
    rejects. Such a turn takes its neighbour's features, so it joins the topic at hand."""
    texts = ["See you!", "I went hiking in the mountains", "You too!", "The mountains trail was steep hiking",
             "My cat eats tuna", ";)", "Tuna for the cat again", "cat tuna dinner"]
    conv = Conversation("c0", ["A", "B"], [Message(mid=i, speaker="AB"[i % 2], text=t) for i, t in enumerate(texts)])
    labels = assign_topics([conv], method, tfidf_embed).labels["c0"]
    assert labels[0] == labels[1] == labels[2] and labels[5] == labels[4] != labels[0]
    assert np.allclose(np.linalg.norm(tfidf_embed(["you too", "see you"]), axis=1), 1.0)  # no content at all

def test_speaker_topic_sets_paper_form():
    conv = make_conversation("c0", n_topics=2, per_topic=4)
    sets = speaker_topic_sets(conv, [m.topic for m in conv.messages])
    assert sets["t0"] == {conv.speakers[0]: [0, 2], conv.speakers[1]: [1, 3]}


def test_query_topic_maps_to_majority_cluster_and_calibration_drops_out_of_range():
    conv = make_conversation("c0")
    queries = make_queries(conv)
    labels = {"c0": [f"k{int(m.topic[1:]) % 2}" for m in conv.messages]}  # t0,t2 -> k0; t1,t3 -> k1
    assert query_topic(queries[0], labels["c0"]) == "k0"
    short = queries[1].__class__(**{**queries[1].__dict__, "qid": "short", "evidence": [1, 3]})
    bad = queries[1].__class__(**{**queries[1].__dict__, "qid": "bad", "evidence": [1, 99, 3, 5, 7]})
    kept, stats = filter_by_evidence([*queries, short, bad], {"c0": conv}, labels, 5, 12)
    assert [q.qid for q in kept] == [q.qid for q in queries]
    assert stats.dropped == {"evidence < 5": 1, "evidence id out of range": 1}
    assert {q.topic for q in kept} == {"k0", "k1"}
