"""The padding-free training forward (hins.training.packed) computes the model's own function, values and gradients."""

from __future__ import annotations

import logging
import random

import pytest
import torch

from hins.training.packed import PackedTexts, packing_unsupported

WORDS = "maria planted tomatoes in the garden on saturday with her sister before the storm came".split()


def texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 40))) for _ in range(n)]


def test_layout_by_hand():
    packed = PackedTexts.from_ids([[1, 2], [3, 4, 5, 6], [7], [8, 9, 10]], groups=2)
    assert packed.input_ids.tolist() == [3, 4, 5, 6, 8, 9, 10, 1, 2, 7]  # longest first
    assert packed.position_ids.tolist() == [0, 1, 2, 3, 0, 1, 2, 0, 1, 0]
    assert packed.text_index.tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2, 3]
    assert packed.lengths.tolist() == [4, 3, 2, 1] and packed.starts.tolist() == [0, 4, 7, 9]
    assert packed.restore.tolist() == [2, 0, 3, 1]  # input text i sits at packed position restore[i]
    # Two attention groups: texts 0-1 padded to 4 tokens, texts 2-3 to 2.
    assert packed.groups == ((0, 2, 0, 7, 4), (2, 4, 7, 10, 2))
    assert packed.slot.tolist() == [0, 1, 2, 3, 4, 5, 6, 0, 1, 2]
    with pytest.raises(ValueError, match="at least one token"):
        PackedTexts.from_ids([[1], []])


@pytest.mark.parametrize("pooling", ["cls", "mean"])
@pytest.mark.parametrize("groups", [1, 4, 50])
def test_same_embeddings_and_gradients_as_the_padded_forward(tiny_embedder, pooling, groups, monkeypatch):
    monkeypatch.setattr(tiny_embedder, "pooling", pooling)
    batch = texts(24)
    tiny_embedder.eval()  # dropout off: both sides compute the same deterministic function
    weights = torch.randn(len(batch), tiny_embedder.dim, generator=torch.Generator().manual_seed(1))

    def run(forward) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        tiny_embedder.zero_grad()
        out = forward()
        (out * weights).sum().backward()
        return out.detach(), {n: p.grad.clone() for n, p in tiny_embedder.named_parameters() if p.grad is not None}

    ref, ref_grads = run(lambda: tiny_embedder(tiny_embedder.tokenize(batch, "passage")))
    packed = PackedTexts.from_ids(tiny_embedder.token_ids(batch, "passage"), groups=groups)
    out, grads = run(lambda: tiny_embedder.forward_packed(packed))
    assert packed.tokens < len(batch) * packed.groups[0][-1]  # fewer tokens than the padded batch
    assert torch.allclose(out, ref, atol=1e-5), (out - ref).abs().max()
    assert set(grads) == set(ref_grads)
    scale = max(g.abs().max() for g in ref_grads.values())
    for name, grad in ref_grads.items():
        # Key biases get a zero gradient (softmax ignores a constant shift): compare at the gradients' scale.
        assert torch.allclose(grads[name], grad, atol=1e-5 * scale, rtol=1e-4), name


def test_training_step_packed_equals_length_chunks(tiny_embedder):
    """The same training batch through the Lightning module, packed or chunked: the same loss (dropout off)."""
    from hins.training.losses import InfoNCELoss
    from hins.training.train import ContrastiveModule, SampleCollator

    rows = [{"sid": f"s{i}", "qid": f"q{i % 3}", "query": t, "pos": p, "neg": texts(5, seed=i)}
            for i, (t, p) in enumerate(zip(texts(6, 1), texts(6, 2)))]
    module = ContrastiveModule(tiny_embedder, InfoNCELoss(0.05, in_batch_negatives=True), None)
    module.log = lambda *a, **k: None  # outside a Trainer
    tiny_embedder.eval()
    losses = [module.training_step(SampleCollator(tiny_embedder, chunk=4, packing=packing)(rows), 0)
              for packing in (True, False)]
    assert "packed" in SampleCollator(tiny_embedder, 4, packing=True)(rows)
    assert torch.allclose(losses[0], losses[1], atol=1e-5), losses



def test_training_step_with_ragged_negatives_is_the_loss_over_each_samples_own_passages(tiny_embedder):
    """Samples with fewer negatives than others (their tiers ran dry) share a batch: packed or chunked, the step's
    loss is the mean of each sample's InfoNCE over its own real passages, and its gradients are finite."""
    from hins.training.losses import InfoNCELoss
    from hins.training.train import ContrastiveModule, SampleCollator

    kept = [5, 2, 5, 1, 3, 5]
    rows = [{"sid": f"s{i}", "qid": f"q{i % 3}", "query": t, "pos": p, "neg": texts(k, seed=i)}
            for i, (t, p, k) in enumerate(zip(texts(6, 1), texts(6, 2), kept))]
    loss_fn = InfoNCELoss(0.05)
    module = ContrastiveModule(tiny_embedder, loss_fn, None)
    module.log = lambda *a, **k: None  # outside a Trainer
    tiny_embedder.eval()
    with torch.no_grad():
        expected = torch.stack([
            loss_fn(tiny_embedder(tiny_embedder.tokenize([r["query"]], "query")),
                    tiny_embedder(tiny_embedder.tokenize([r["pos"], *r["neg"]], "passage"))[None]) for r in rows]).mean()
    for packing in (True, False):
        batch = SampleCollator(tiny_embedder, chunk=4, packing=packing)(rows)
        assert batch["mask"].sum(1).tolist() == [1 + k for k in kept]
        tiny_embedder.zero_grad()
        loss = module.training_step(batch, 0)
        loss.backward()
        assert torch.allclose(loss, expected, atol=1e-5), (packing, loss, expected)
        assert all(torch.isfinite(p.grad).all() for p in tiny_embedder.parameters() if p.grad is not None)
    full = [{**r, "neg": texts(5, seed=i)} for i, r in enumerate(rows)]
    assert SampleCollator(tiny_embedder, chunk=4)(full)["mask"] is None  # nothing to mask: the step as before


def test_collator_tokenises_each_text_once_with_the_same_ids(tiny_embedder, monkeypatch):
    """A collator remembers the ids of the texts it has seen (queries apart from passages: a query gets the
    model's prefix); batches come out as if every text were tokenised anew, and the memo starts over when full."""
    import hins.training.train
    from hins.training.train import SampleCollator

    passages = texts(12, seed=7)
    rows = [{"sid": f"s{i}", "qid": f"q{i % 3}", "query": passages[i % 3], "pos": passages[i],
             "neg": random.Random(i).sample(passages, 4)} for i in range(8)]
    parts = (rows[:4], rows[4:], rows[:4])
    want = [SampleCollator(tiny_embedder, chunk=4, packing=True)(part)["packed"] for part in parts]
    tokenised: list[str] = []
    original = tiny_embedder.token_ids
    monkeypatch.setattr(tiny_embedder, "token_ids", lambda t, kind: tokenised.extend(t) or original(t, kind))
    collator = SampleCollator(tiny_embedder, chunk=4, packing=True)
    for part, expected in zip(parts, want):
        got = collator(part)["packed"]
        assert torch.equal(got.input_ids, expected.input_ids) and torch.equal(got.restore, expected.restore)
    # every distinct query and passage tokenised once over the three batches (the third: nothing new)
    queries, passages_seen = {r["query"] for r in rows}, {p for r in rows for p in [r["pos"], *r["neg"]]}
    assert len(tokenised) == len(queries) + len(passages_seen)
    monkeypatch.setattr(hins.training.train, "TOKEN_MEMO_TEXTS", 2)
    collator(rows[4:])
    assert len(collator._memo["passage"]) <= len({p for r in rows[4:] for p in [r["pos"], *r["neg"]]})

def test_other_architectures_fall_back_to_chunks(tiny_embedder, caplog):
    from transformers import DistilBertConfig, DistilBertModel

    from hins.core.config import TrainerConfig
    from hins.training.model import Embedder
    from hins.training.train import sample_collator

    assert packing_unsupported(tiny_embedder.backbone) is None
    distil = DistilBertModel(DistilBertConfig(vocab_size=tiny_embedder.tokenizer.vocab_size, dim=32, n_layers=1,
                                              n_heads=2, hidden_dim=64))
    other = Embedder(distil, tiny_embedder.tokenizer, tiny_embedder.spec, "cls")
    cfg = TrainerConfig(accelerator="cpu", devices=1, strategy="auto", precision="32-true", batch_size=2,
                        length_chunk=8, max_steps=1, lr=1e-5, weight_decay=0.0, warmup_ratio=0.0,
                        val_every_n_steps=1, num_workers=0, log_every_n_steps=1)
    assert sample_collator(tiny_embedder, cfg).packing
    with caplog.at_level(logging.INFO, logger="hins.training.train"):
        assert not sample_collator(other, cfg).packing
    assert "DistilBertModel is not a BertModel" in caplog.text and "trainer.length_chunk" in caplog.text
    assert not sample_collator(tiny_embedder, cfg.model_copy(update={"packing": False})).packing


def test_bf16_autocast_matches_the_padded_forward(tiny_embedder):
    """Under bf16 mixed precision (what trainer=gpu runs; here the CPU's autocast) the packed forward trains in the
    same dtypes as the model's own and agrees with it to bfloat16 resolution."""
    batch = texts(16, seed=3)
    tiny_embedder.eval()
    tiny_embedder.zero_grad(set_to_none=True)
    packed = PackedTexts.from_ids(tiny_embedder.token_ids(batch, "passage"))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ref = tiny_embedder(tiny_embedder.tokenize(batch, "passage"))
        out = tiny_embedder.forward_packed(packed)
    assert out.dtype == ref.dtype == torch.float32  # pooled and normalised in float32
    assert torch.nn.functional.cosine_similarity(out, ref).min() > 0.99
    out.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in tiny_embedder.parameters())
