"""Padding-free encoding: every text of a training step in one flat token stream through a BERT's own layers.

A contrastive step encodes 17 texts per example (query, positive, 15 negatives) of 7-45 words; padded batches
spend a third or more of their compute on pad tokens, and length-sorted chunks pay a forward pass each. Here the
texts are concatenated (``PackedTexts``, longest first) and every token-wise part of the encoder (embeddings, the
q/k/v and output projections, the feed-forward block, the layer norms) runs once on the ``[tokens, hidden]``
stream: no pad token is ever multiplied by a weight matrix. Only attention needs the texts apart: for each of a
few groups of texts of similar length it pads ``q``/``k``/``v`` into a ``[texts, heads, longest, head_dim]`` block
just for ``scaled_dot_product_attention`` with a key mask (attention is ~2% of a BERT's FLOPs at these lengths)
and gathers the result back. The model's own modules and parameters are used, with the same dropout sites and
rates, so training, checkpoints and saving are unchanged; with dropout off the output equals the model's padded
forward (tests/test_packed.py, forward and gradients).

The same idea as unpadded BERT training (e.g. MosaicBERT, Portes et al. 2023, arXiv:2312.17482) and
transformers' ``DataCollatorWithFlattening``, written for the plain BERT layer so that it needs no flash-attention
build: any BertModel (bge, all-MiniLM, e5, ...) qualifies; other architectures use length-sorted chunks.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hins.training.losses import at_least_float32


# Attention runs per group of texts of similar length, each padded to its own longest text: more groups pad less
# but launch more kernels. 4 groups cut the attention's padding ~4x on the paper's workload (7-45 words).
ATTENTION_GROUPS = 4


@dataclass
class PackedTexts:
    """Texts' token ids back to back, longest text first. Built on the host (in the loader's workers), so a
    step needs no device-to-host copy: ``groups`` holds plain ints."""

    input_ids: torch.Tensor  # [tokens] int64
    position_ids: torch.Tensor  # [tokens] each token's position in its text
    text_index: torch.Tensor  # [tokens] each token's text, in packed (length) order
    slot: torch.Tensor  # [tokens] each token's place in its attention group's [texts, longest] block
    lengths: torch.Tensor  # [texts] tokens per text, packed order
    starts: torch.Tensor  # [texts] offset of each text's first token
    restore: torch.Tensor  # [texts] packed position of the i-th input text
    groups: tuple[tuple[int, int, int, int, int], ...]  # (first text, end text, first token, end token, longest)

    @classmethod
    def from_ids(cls, ids: list[list[int]], groups: int = ATTENTION_GROUPS) -> "PackedTexts":
        if not ids or min(map(len, ids)) < 1:
            raise ValueError("every packed text needs at least one token")
        by_input = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        order = np.argsort(-by_input, kind="stable")
        lengths = by_input[order]
        total = int(lengths.sum())
        starts = np.cumsum(lengths) - lengths
        flat = np.fromiter(itertools.chain.from_iterable(ids[i] for i in order), dtype=np.int64, count=total)
        text_index = np.repeat(np.arange(len(ids)), lengths)
        positions = np.arange(total) - starts[text_index]
        bounds = np.linspace(0, len(ids), min(groups, len(ids)) + 1).round().astype(np.int64)
        spans, slot = [], np.empty(total, dtype=np.int64)
        for first, end in zip(bounds[:-1], bounds[1:]):
            lo, hi, longest = int(starts[first]), int(starts[end - 1] + lengths[end - 1]), int(lengths[first])
            slot[lo:hi] = (text_index[lo:hi] - first) * longest + positions[lo:hi]
            spans.append((int(first), int(end), lo, hi, longest))
        restore = np.empty_like(order)
        restore[order] = np.arange(len(ids))
        return cls(*(torch.from_numpy(a) for a in (flat, positions, text_index, slot, lengths, starts, restore)),
                   groups=tuple(spans))

    @property
    def tokens(self) -> int:
        return int(self.input_ids.shape[0])


def packing_unsupported(backbone: nn.Module) -> str | None:
    """Why the packed forward cannot run this backbone exactly (None: it can)."""
    cfg = getattr(backbone, "config", None)
    if type(backbone).__name__ != "BertModel" or cfg is None:
        return f"{type(backbone).__name__} is not a BertModel"
    if getattr(cfg, "position_embedding_type", "absolute") != "absolute":
        return f"position_embedding_type={cfg.position_embedding_type}"
    if cfg.is_decoder or getattr(cfg, "add_cross_attention", False):
        return "a decoder / cross-attention BERT"
    if getattr(backbone.encoder, "gradient_checkpointing", False):
        return "gradient checkpointing is on"
    return None


def packed_hidden(backbone: nn.Module, packed: PackedTexts) -> torch.Tensor:
    """The last hidden state of every token, ``[tokens, hidden]`` in packed order: a BertModel's forward without
    padding."""
    emb = backbone.embeddings
    hidden = (emb.word_embeddings(packed.input_ids) + emb.token_type_embeddings.weight[0]
              + emb.position_embeddings(packed.position_ids))
    hidden = emb.dropout(emb.LayerNorm(hidden))
    masks = [(torch.arange(longest, device=hidden.device) < packed.lengths[first:end, None])[:, None, None, :]
             for first, end, _, _, longest in packed.groups]
    for layer in backbone.encoder.layer:
        attention = layer.attention
        hidden = attention.output(_attend(attention.self, hidden, packed, masks), hidden)  # dense, dropout, add & norm
        hidden = layer.output(layer.intermediate(hidden), hidden)  # feed-forward, dropout, add & norm
    return hidden


def _attend(own: nn.Module, hidden: torch.Tensor, packed: PackedTexts, masks: list[torch.Tensor]) -> torch.Tensor:
    """A BertSelfAttention's context vectors for packed tokens, group by group, each group padded to its longest."""
    heads, size = own.num_attention_heads, own.attention_head_size
    qkv = torch.stack((own.query(hidden), own.key(hidden), own.value(hidden)))  # [3, tokens, heads * size]
    out = []
    for (first, end, lo, hi, longest), mask in zip(packed.groups, masks):
        texts, slot = end - first, packed.slot[lo:hi]
        block = qkv.new_zeros(3, texts * longest, heads * size).index_copy(1, slot, qkv[:, lo:hi])
        q, k, v = block.view(3, texts, longest, heads, size).transpose(2, 3).unbind(0)
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=size ** -0.5,
                                                 dropout_p=own.dropout.p if own.training else 0.0)
        out.append(context.transpose(1, 2).reshape(texts * longest, heads * size)[slot])
    return torch.cat(out) if len(out) > 1 else out[0]


def pool_packed(hidden: torch.Tensor, packed: PackedTexts, pooling: str) -> torch.Tensor:
    """CLS or mean pooling per text, L2-normalised in float32 (float64 kept): ``[texts, hidden]`` in the input
    texts' order."""
    hidden = at_least_float32(hidden)
    if pooling == "cls":
        pooled = hidden[packed.starts[packed.restore]]
    else:
        sums = hidden.new_zeros(packed.lengths.shape[0], hidden.shape[1])
        pooled = (sums.index_add(0, packed.text_index, hidden) / packed.lengths[:, None])[packed.restore]
    return F.normalize(pooled, dim=-1)
