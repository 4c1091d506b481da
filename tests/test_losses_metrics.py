from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hins.training.losses import InfoNCELoss
from hins.evaluation.metrics import ndcg_at_k, query_metrics, rank_by_score, recall_at_k, reciprocal_rank


def _unit(*shape):
    return F.normalize(torch.randn(*shape), dim=-1)


def test_infonce_matches_hand_computation():
    torch.manual_seed(0)
    q, p = _unit(3, 8), _unit(3, 4, 8)
    loss = InfoNCELoss(temperature=0.05)(q, p)
    expected = 0.0
    for i in range(3):
        s = [float(q[i] @ p[i, j]) / 0.05 for j in range(4)]
        expected += -(s[0] - math.log(sum(math.exp(x) for x in s)))
    assert loss.item() == pytest.approx(expected / 3, rel=1e-5)



@pytest.mark.parametrize("in_batch", [False, True])
def test_infonce_scores_in_float32_under_bf16_autocast(in_batch):
    """At temperature 0.02 bf16 logits would move in steps of ~0.2: the loss scores in float32 whatever the
    autocast around it."""
    torch.manual_seed(0)
    q = F.normalize(torch.randn(8, 64), dim=-1)
    p = F.normalize(q[:, None, :] + 0.3 * torch.randn(8, 4, 64), dim=-1)
    loss = InfoNCELoss(0.02, in_batch_negatives=in_batch)
    exact = loss(q.double(), p.double())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert loss(q, p).item() == pytest.approx(exact.item(), rel=1e-5)

def test_in_batch_adds_other_passages_but_masks_same_query_positives():
    torch.manual_seed(1)
    q, p = _unit(2, 8), _unit(2, 3, 8)
    own = InfoNCELoss(0.1)(q, p)
    inbatch = InfoNCELoss(0.1, in_batch_negatives=True)(q, p, torch.tensor([0, 1]))
    assert inbatch.item() > own.item()  # more negatives in the denominator
    # Two samples of the same query: the other's positive is evidence, so it is masked out.
    masked = InfoNCELoss(0.1, in_batch_negatives=True)(q, p, torch.tensor([0, 0]))
    flat = p.reshape(6, 8)
    scores = (q @ flat.T) / 0.1
    scores[0, 3] = -float("inf")
    scores[1, 0] = -float("inf")
    assert masked.item() == pytest.approx(F.cross_entropy(scores, torch.tensor([0, 3])).item(), rel=1e-5)


def _ragged(kept: list[int], dim: int = 8) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Queries, [B, 1+K] passages and their mask for samples keeping ``kept`` negatives of K = max(kept); the
    empty slots hold large random vectors, which must not matter."""
    q, p = _unit(len(kept), dim), _unit(len(kept), 1 + max(kept), dim)
    mask = torch.arange(1 + max(kept))[None, :] <= torch.tensor(kept)[:, None]
    p[~mask] = 50 * torch.randn(int((~mask).sum()), dim)
    return q, p.requires_grad_(), mask


def test_masked_slots_give_the_loss_over_the_kept_negatives():
    torch.manual_seed(2)
    kept = [5, 2, 3, 1]
    q, p, mask = _ragged(kept)
    loss = InfoNCELoss(0.05)
    masked = loss(q, p, mask=mask)
    per_sample = [loss(q[i : i + 1], p[i : i + 1, : 1 + k]) for i, k in enumerate(kept)]
    for i, k in enumerate(kept):  # each sample alone: its masked loss is exactly the loss over its kept passages
        assert loss(q[i : i + 1], p[i : i + 1], mask=mask[i : i + 1]).item() == per_sample[i].item()
    assert masked.item() == pytest.approx(torch.stack(per_sample).mean().item(), rel=1e-6)  # float32 mean
    masked.backward()
    assert p.grad[~mask].abs().max() == 0 and p.grad[mask].abs().max() > 0


def test_masked_slots_stay_out_of_the_in_batch_denominators():
    torch.manual_seed(3)
    kept = [4, 1, 2]
    q, p, mask = _ragged(kept)
    groups = torch.tensor([0, 1, 0])
    masked = InfoNCELoss(0.1, in_batch_negatives=True)(q, p, groups, mask=mask)
    # By hand: every sample scores the batch's real passages only; the positive of the other sample of its query
    # is evidence (masked out).
    real = p[mask]  # row-major: sample 0's 5 passages, then sample 1's 2, then sample 2's 3
    starts = [0, 5, 7]
    scores = (q @ real.T) / 0.1
    scores[0, starts[2]] = scores[2, starts[0]] = -float("inf")
    expected = F.cross_entropy(scores, torch.tensor(starts))
    assert masked.item() == pytest.approx(expected.item(), rel=1e-6)


def test_temperature_must_be_positive():
    with pytest.raises(ValueError, match="temperature"):
        InfoNCELoss(0.0)


def test_metrics_hand_computed():
    ranking = [4, 1, 7, 2, 9]
    relevant = {1, 2, 3}
    assert recall_at_k(ranking, relevant, 1) == 0
    assert recall_at_k(ranking, relevant, 4) == pytest.approx(2 / 3)
    assert reciprocal_rank(ranking, relevant) == 0.5
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ranking, relevant, 10) == pytest.approx(dcg / idcg)
    assert ndcg_at_k([1, 2, 3], relevant, 10) == pytest.approx(1.0)
    m = query_metrics(ranking, relevant, [1, 5])
    assert set(m) == {"recall@1", "recall@5", "ndcg@10", "mrr"}
    assert reciprocal_rank([5, 6], relevant) == 0.0
    with pytest.raises(ValueError):
        recall_at_k(ranking, set(), 1)


def test_rank_by_score_is_stable():
    assert rank_by_score(np.array([0.1, 0.5, 0.5, 0.2])) == [1, 2, 3, 0]
