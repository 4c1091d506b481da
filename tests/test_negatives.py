from __future__ import annotations

import hashlib
import json
import random
from dataclasses import replace

import pytest

from hins.negatives import NegativeSpec, _sample, build_samples, processing_groups, tier_counts


def test_tier_counts_largest_remainder_ties_to_harder():
    assert tier_counts(15, {"hard": 0.3, "medium": 0.3, "easy": 0.4}) == {"hard": 5, "medium": 4, "easy": 6}
    assert tier_counts(7, {"hard": 0.3, "medium": 0.3, "easy": 0.4}) == {"hard": 2, "medium": 2, "easy": 3}
    assert tier_counts(15, {"hard": 1.0, "medium": 0.0, "easy": 0.0}) == {"hard": 15, "medium": 0, "easy": 0}
    assert tier_counts(10, {"hard": 1 / 3, "medium": 1 / 3, "easy": 1 / 3}) == {"hard": 4, "medium": 3, "easy": 3}


def test_effective_ratios_renormalise_remaining_tiers():
    spec = NegativeSpec(tiers=("hard", "easy"))
    assert spec.effective_ratios() == pytest.approx({"hard": 0.3 / 0.7, "easy": 0.4 / 0.7})


def test_groups_of_four():
    groups = processing_groups([f"c{i}" for i in range(6)], 4)
    assert groups["c0"] == ["c1", "c2", "c3"]
    assert groups["c5"] == ["c4"]
    alone = processing_groups([f"c{i}" for i in range(5)], 4)  # c4 would have no easy negatives on its own
    assert alone["c4"] == ["c0", "c1", "c2", "c3"] and alone["c0"] == ["c1", "c2", "c3", "c4"]
    assert processing_groups(["c0"], 4) == {"c0": []}


def _check_invariants(convs, queries, samples):
    by_qid = {q.qid: q for q in queries}
    groups = processing_groups(list(convs), 4)
    for s in samples:
        q = by_qid[s.qid]
        assert s.pos in q.evidence
        for (cid, mid), tier in zip(s.negs, s.tiers):
            msg = convs[cid].messages[mid]
            if cid == q.cid:
                assert mid not in q.evidence, "an evidence message became a negative"
            if tier == "hard":
                assert cid == q.cid and msg.topic == q.topic and msg.speaker != q.target
            elif tier == "medium":
                assert cid == q.cid and msg.topic != q.topic
            elif tier == "easy":
                assert cid != q.cid and cid in groups[q.cid]


def test_tier_rules_and_counts(corpus):
    convs, queries, labels = corpus
    spec = NegativeSpec()
    samples, stats = build_samples(convs, queries, labels, spec, seed=1)
    assert len(samples) == sum(len(q.evidence) for q in queries)
    _check_invariants(convs, queries, samples)
    for s in samples:
        assert len(s.negs) == 15 and len(set(s.negs)) == 15
    # |V| = 6: the hard pool (2|V|) holds all 6 hard candidates, medium and easy pools hold 6 each.
    assert stats.short_samples == 0 and stats.pool_mean == {"hard": 6, "medium": 6, "easy": 6}
    assert stats.realised == {"hard": 5 * len(samples), "medium": 4 * len(samples), "easy": 6 * len(samples)}
    assert stats.requested == stats.realised


def test_same_seed_same_samples_and_samples_independent_of_others(corpus):
    convs, queries, labels = corpus
    spec = NegativeSpec()
    a, _ = build_samples(convs, queries, labels, spec, seed=7)
    b, _ = build_samples(convs, queries, labels, spec, seed=7)
    c, _ = build_samples(convs, queries, labels, spec, seed=8)
    assert a == b
    assert a != c
    half, _ = build_samples(convs, queries[::2], labels, spec, seed=7)
    by_sid = {s.sid: s for s in a}
    assert all(by_sid[s.sid] == s for s in half)


def test_shortfall_backfill_drop_replacement(corpus):
    convs, queries, labels = corpus
    # Ask for 12 hard: only 6 candidates exist per query.
    spec = NegativeSpec(ratios={"hard": 0.8, "medium": 0.0, "easy": 0.2})
    samples, stats = build_samples(convs, queries, labels, spec, seed=1)
    _check_invariants(convs, queries, samples)
    assert stats.short_samples == len(samples) > 0
    assert all(len(s.negs) == 15 and s.tiers.count("hard") == 6 for s in samples)
    assert stats.backfilled == 6 * len(samples)  # from the easy candidates beyond the |V| cap

    dropped, dstats = build_samples(convs, queries, labels, replace(spec, shortfall="drop"), seed=1)
    assert dropped == [] and dstats.dropped_samples == len(samples)

    rep, _ = build_samples(convs, queries, labels, replace(spec, shortfall="replacement"), seed=1)
    assert all(s.tiers.count("hard") == 12 and len(set(s.negs[:12])) == 6 for s in rep)


def test_just_hard_never_backfills_from_disabled_tiers(corpus):
    convs, queries, labels = corpus
    samples, stats = build_samples(convs, queries, labels, NegativeSpec(tiers=("hard",)), seed=1)
    assert all(set(s.tiers) == {"hard"} for s in samples)
    assert stats.repeated == 9 * len(samples)  # 6 distinct hard candidates, K=15


def test_literal_medium_rule_can_draw_target_same_topic(corpus):
    convs, queries, labels = corpus
    # Half of the target's on-topic messages are evidence: the other half are neither hard nor (prose) medium.
    trimmed = [replace(q, evidence=q.evidence[:3]) for q in queries]
    caps = {"hard": 2, "medium": 40, "easy": 1}
    _, prose = build_samples(convs, trimmed, labels, NegativeSpec(pool_caps=caps), seed=1)
    _, literal = build_samples(convs, trimmed, labels, NegativeSpec(medium_rule="literal", pool_caps=caps), seed=1)
    assert prose.realised.get("target_topic", 0) == 0
    assert literal.realised.get("target_topic", 0) > 0


def test_uniform_baseline(corpus):
    convs, queries, labels = corpus
    samples, stats = build_samples(convs, queries, labels, NegativeSpec(strategy="uniform"), seed=1)
    assert all(len(s.negs) == 15 for s in samples)
    by_qid = {q.qid: q for q in queries}
    assert all(not (c == s.cid and m in by_qid[s.qid].evidence) for s in samples for c, m in s.negs)
    assert stats.realised["easy"] > stats.realised["hard"]  # most messages of a group are other conversations'


def test_fast_sample_is_the_standard_librarys():
    """_sample must make random.Random.sample's draws and leave the generator in the same state (both branches:
    a copied pool when the population is small, a set of picks when it is large; k past the precomputed table)."""
    cases = random.Random(0)
    for t in range(3000):
        n = cases.choice([0, 1, 2, 5, 12, 21, 22, 24, 85, 86, 120, 400])
        k = cases.randint(0, min(n, 70))
        population = [("c", i) for i in range(n)]
        ours, theirs = random.Random(f"s{t}"), random.Random(f"s{t}")
        assert _sample(ours, population, k) == theirs.sample(population, k), (n, k)
        assert ours.getrandbits(32) == theirs.getrandbits(32)
    with pytest.raises(ValueError):
        _sample(random.Random(0), [1, 2], 3)


@pytest.mark.parametrize("digest, kw", [
    ("84909174641713a8", {}),
    ("cf790ce07a56033d", dict(ratios={"hard": 0.8, "medium": 0.0, "easy": 0.2})),
    ("3e2abd8ec2754db4", dict(ratios={"hard": 0.8, "medium": 0.0, "easy": 0.2}, shortfall="replacement")),
    ("6da9cc903f7ad977", dict(strategy="uniform")),
])
def test_draws_are_those_of_the_reference_implementation(corpus, digest, kw):
    """Digests of the samples the straightforward implementation (a new random.Random per sample, the standard
    library's sample, tiers by tier_of) drew before the speed work: the faster code draws the same negatives."""
    convs, queries, labels = corpus
    samples, _ = build_samples(convs, queries, labels, NegativeSpec(**kw), seed=1)
    rows = [[s.sid, s.pos, s.negs, s.tiers] for s in samples]
    assert hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16] == digest
