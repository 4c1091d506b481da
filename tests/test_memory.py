"""Memory systems with a hins model inside: real Mem0 (embedded qdrant on disk) offline; MemoryOS's plumbing
against the local fake OpenAI server."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hins.evaluation.locomo import load_locomo
from hins.evaluation.memory.mem0_adapter import Mem0Memory, MemoryUnavailable
from hins.core.records import Conversation, Message

FIXTURE = Path(__file__).parent / "fixtures" / "locomo_tiny.json"
KEY = "sk-test-DO-NOT-LEAK-9d3e"  # the fake server echoes it in its 401, as some servers do


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_embedder) -> Path:
    return tiny_embedder.save(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture(scope="module")
def corpus():
    return load_locomo(FIXTURE)


def _passages(conv):
    return [f"{m.speaker}: {m.text}" for m in conv.messages]


def test_mem0_retrieval_mode_is_mem0_search_with_our_model(tmp_path, model_dir, corpus):
    from sentence_transformers import SentenceTransformer

    mem = Mem0Memory(model_dir, tmp_path / "mem0")
    try:
        for conv in corpus.conversations:
            mem.add_conversation(conv)
        for conv in corpus.conversations:
            assert mem.count(conv.cid) == len(conv.messages)  # every turn stored once, in its own conversation
        conv = corpus.conversations[0]
        questions = [q.text for q in corpus.questions if q.cid == conv.cid][:4]
        hits = mem.search_many(conv.cid, questions, k=5)
        # The same ranking as our model's cosine over that conversation's turns, computed apart from Mem0.
        st = SentenceTransformer(str(model_dir), device="cpu")
        passages = st.encode(_passages(conv), normalize_embeddings=True)
        queries = st.encode(questions, normalize_embeddings=True)
        ids = [m.dia_id for m in conv.messages]
        for q_vec, found in zip(queries, hits):
            scores = passages @ q_vec
            top = [ids[i] for i in np.argsort(-scores)[:5]]
            assert [h.dia_ids[0] for h in found] == top
            assert np.allclose([h.score for h in found], np.sort(scores)[::-1][:5], atol=1e-4)
        # A search is scoped to its conversation.
        other = {m.dia_id for m in corpus.conversations[1].messages} - set(ids)
        assert not {d for found in hits for h in found for d in h.dia_ids} & other
    finally:
        mem.close()


def test_mem0_batched_embeddings_equal_mem0s_own(tmp_path, model_dir):
    mem = Mem0Memory(model_dir, tmp_path / "mem0")
    try:
        text = "Caroline: I went to a support group yesterday."
        own = np.array(mem.cache._embed_one(text, "add"))
        mem.cache.prefetch([text, "something else"])
        assert np.allclose(mem.cache.embed(text, "add"), own, atol=1e-5)
    finally:
        mem.close()


def test_mem0_refuses_full_mode_without_llm_and_bad_inputs(tmp_path, model_dir):
    with pytest.raises(MemoryUnavailable, match="llm.base_url"):
        Mem0Memory(model_dir, tmp_path / "a", mode="full")
    with pytest.raises(ValueError, match="memory.mode"):
        Mem0Memory(model_dir, tmp_path / "b", mode="hybrid")
    with pytest.raises(FileNotFoundError, match="modules.json"):
        Mem0Memory(tmp_path, tmp_path / "c")


def test_memoryos_refuses_without_llm(tmp_path, model_dir):
    from hins.evaluation.memory.memoryos_adapter import MemoryOSMemory

    with pytest.raises(MemoryUnavailable, match="llm.base_url"):
        MemoryOSMemory(model_dir, tmp_path, llm=None)


@pytest.fixture()
def fake_llm():
    from tests.fake_openai import FakeOpenAI

    server = FakeOpenAI().start()
    yield server
    server.stop()


def test_memoryos_stores_pages_with_our_model_and_maps_them_to_turns(tmp_path, model_dir, corpus, fake_llm):
    pytest.importorskip("memoryos")
    import memoryos.utils

    from hins.evaluation.memory.memoryos_adapter import DEFAULT_EMBEDDER, MemoryOSMemory

    conv = corpus.conversations[1]
    mem = MemoryOSMemory(model_dir, tmp_path, llm={"base_url": fake_llm.url, "model": "fake"})
    try:
        assert Path(memoryos.utils._model_cache[DEFAULT_EMBEDDER][0].auto_model.name_or_path) == model_dir
        mem.add_conversation(conv)
        hits = mem.search(conv.cid, corpus.questions[-1].text, k=10)
        turn_ids = {m.dia_id for m in conv.messages}
        paged = [h for h in hits if h.dia_ids]
        assert paged, "MemoryOS retrieved no stored page"
        assert all(set(h.dia_ids) <= turn_ids and len(h.dia_ids) <= 2 for h in paged)
        assert sum(fake_llm.requests.values()) > 1  # the probe and MemoryOS's own page processing
    finally:
        mem.close()


def test_memoryos_maps_pages_that_open_alike_to_their_own_turns(tmp_path, model_dir, fake_llm):
    pytest.importorskip("memoryos")
    from hins.evaluation.memory.memoryos_adapter import MemoryOSMemory

    texts = [("See you!", "Bye, see you at the market."), ("See you!", "Good luck with the exam tomorrow.")]
    messages = [Message(mid=2 * i + j, speaker=("Jolene", "Deborah")[j], text=pair[j], session=f"day {i + 1}",
                        dia_id=f"D{i + 1}:{j + 1}") for i, pair in enumerate(texts) for j in range(2)]
    conv = Conversation(cid="c", speakers=["Jolene", "Deborah"], messages=messages)
    mem = MemoryOSMemory(model_dir, tmp_path, llm={"base_url": fake_llm.url, "model": "fake"})
    try:
        mem.add_conversation(conv)
        paged = {h.text: h.dia_ids for h in mem.search(conv.cid, "See you!", k=10) if h.dia_ids}
        assert paged == {"Jolene: See you!\nDeborah: Bye, see you at the market.": ("D1:1", "D1:2"),
                         "Jolene: See you!\nDeborah: Good luck with the exam tomorrow.": ("D2:1", "D2:2")}
    finally:
        mem.close()


def test_memoryos_refuses_when_the_llm_fails_and_keeps_the_key_out(tmp_path, model_dir, fake_llm, monkeypatch):
    pytest.importorskip("memoryos")
    from hins.evaluation.memory.memoryos_adapter import MemoryOSMemory

    monkeypatch.setenv("HINS_TEST_KEY", KEY)
    fake_llm.script("401")  # a refused key is not retried: MemoryOS would store its error string as memory
    with pytest.raises(MemoryUnavailable, match="refusing to score") as err:
        MemoryOSMemory(model_dir, tmp_path, llm={"base_url": fake_llm.url, "model": "fake",
                                                 "api_key_env": "HINS_TEST_KEY"})
    log = (tmp_path / "memoryos.log").read_text()
    assert "401" in log and KEY not in log and KEY not in str(err.value)


def test_mem0_full_mode_builds_memories_with_the_llm(tmp_path, model_dir, corpus, fake_llm):
    conv = corpus.conversations[1]
    mem = Mem0Memory(model_dir, tmp_path / "mem0", mode="full", llm={"base_url": fake_llm.url, "model": "fake"})
    try:
        mem.add_conversation(conv)
        stored = mem.count(conv.cid)
        assert 0 < stored <= 3 * len({m.session for m in conv.messages})  # facts the LLM wrote, per session
        hits = mem.search(conv.cid, corpus.questions[-1].text, k=5)
        assert hits and all(h.dia_ids == () for h in hits)  # written by the LLM: no source turn to score
    finally:
        mem.close()


def test_mem0_full_mode_refuses_when_the_llm_fails(tmp_path, model_dir, corpus, fake_llm, monkeypatch):
    monkeypatch.setenv("HINS_TEST_KEY", KEY)
    mem = Mem0Memory(model_dir, tmp_path / "mem0", mode="full",
                     llm={"base_url": fake_llm.url, "model": "fake", "api_key_env": "HINS_TEST_KEY"})
    fake_llm.script("401")  # Mem0 itself would log it and store nothing for that session
    try:
        with pytest.raises(MemoryUnavailable, match="refusing to score") as err:
            mem.add_conversation(corpus.conversations[1])
        assert "401" in str(err.value) and KEY not in str(err.value)
    finally:
        mem.close()
