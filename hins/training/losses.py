"""Contrastive losses over (query, positive, K negatives) groups."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def at_least_float32(x: torch.Tensor) -> torch.Tensor:
    """bf16 / fp16 scores in float32; float64 (a 64-true run, e.g. the DDP test) kept as it is."""
    return x if x.dtype == torch.float64 else x.float()


class InfoNCELoss(nn.Module):
    """InfoNCE over each sample's own 1+K passages (van den Oord et al., 2018, arXiv:1807.03748).

    With L2-normalised embeddings, score = cosine / temperature and the loss is the cross-entropy of
    picking the positive among the sample's passages. HiNS trains with explicit negatives only
    (``in_batch_negatives=False``), because another sample's positive is often a relevant message of
    the same conversation: a false negative. Turned on, the other samples' passages join the
    denominator, except the positives of samples that share the query (they are evidence too).

    A sample with fewer than K negatives (its tiers ran dry) fills its empty slots with anything and marks them
    False in ``mask``: they score -inf, so they enter no denominator, its own or (in-batch) another sample's.
    """

    def __init__(self, temperature: float = 0.02, in_batch_negatives: bool = False):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"loss.temperature must be > 0, got {temperature}")
        self.temperature = temperature
        self.in_batch_negatives = in_batch_negatives

    def forward(
        self,
        query: torch.Tensor,  # [B, d]
        passages: torch.Tensor,  # [B, 1+K, d], the positive first
        query_group: torch.Tensor | None = None,  # [B] ids; equal ids = same query, other positives masked
        mask: torch.Tensor | None = None,  # [B, 1+K] bool, False = an empty slot (None: every slot holds a passage)
    ) -> torch.Tensor:
        with torch.autocast(query.device.type, enabled=False):  # bf16 logits at 1/0.02 would step by ~0.2
            return self._loss(at_least_float32(query), at_least_float32(passages), query_group, mask)

    def _loss(self, query: torch.Tensor, passages: torch.Tensor, query_group: torch.Tensor | None,
              mask: torch.Tensor | None) -> torch.Tensor:
        batch, group, dim = passages.shape
        if not self.in_batch_negatives:
            scores = torch.einsum("bd,bgd->bg", query, passages) / self.temperature
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            target = torch.zeros(batch, dtype=torch.long, device=query.device)
            return F.cross_entropy(scores, target)
        flat = passages.reshape(batch * group, dim)
        scores = (query @ flat.T) / self.temperature  # [B, B*(1+K)]
        target = torch.arange(batch, device=query.device) * group
        if mask is not None:
            scores = scores.masked_fill(~mask.reshape(1, batch * group), float("-inf"))
        if query_group is not None:
            same = query_group[:, None] == query_group[None, :]
            same.fill_diagonal_(False)
            hidden = torch.zeros_like(scores, dtype=torch.bool)
            hidden[:, ::group] = same  # positives of other samples of the same query
            scores = scores.masked_fill(hidden, float("-inf"))
        return F.cross_entropy(scores, target)
