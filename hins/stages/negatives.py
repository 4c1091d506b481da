"""Hierarchical negatives (HiNS §3.3) and training samples (§3.5), one sample per (query, positive).

For a query with evidence V, target speaker P_t and topic τ over conversation C, with M = C \\ V:
- hard:   m ∈ M, topic(m) = τ, speaker(m) ≠ P_t; pool capped at 2|V| (Eqs. 5-6);
- medium: ``prose`` rule: m ∈ M, topic(m) ≠ τ; ``literal`` rule (Eq. 7): M minus the hard pool;
          pool capped at |V| (Eq. 8);
- easy:   messages of the other conversations of the query's processing group of 4; capped at |V|.
Two baselines draw from the same candidates (the query's conversation minus V, plus its group):
``uniform`` draws K at random; ``mined`` takes the K the base model ranks highest among those scoring
at least a margin below the positive (false-negative guard, as in NV-Retriever's positive-aware mining).
No evidence message of the query is ever a negative. Each sample then draws K negatives from the
pools, per-tier counts by largest remainder (ties to the harder tier). Every random choice is seeded
by (seed, query id) or (seed, sample id), so a sample does not change when others are added.

A sample never holds the same passage twice (the tiers' pools are disjoint, draws are without replacement).
When a tier's pool cannot supply its count, ``shortfall`` decides: ``backfill`` takes the rest from the enabled
tiers' candidates beyond the caps (``backfill_order``), ``mask`` leaves the slots empty, ``drop`` drops the
sample. A sample left with fewer than K negatives (also ``uniform``/``mined`` with fewer than K candidates,
except under ``drop``) keeps them, and the loss masks its empty slots; one with none is dropped.

Speed (~201k samples in a few seconds on one CPU core, ``benchmarks/data_construction.py``): one generator is
re-seeded per query and per sample (the same state as a new ``random.Random(text)``), draws go through
``_sample`` (``random.Random.sample``'s algorithm without its per-call overhead: the same draws, checked by the
tests), tiers come from a per-query table, and the cyclic garbage collector is paused while the samples are built.
"""

from __future__ import annotations

import gc
import json
import random
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from math import ceil, log
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hins.core.artifacts import write_json
from hins.core.config import NegativesConfig, Settings
from hins.core.records import TIERS, Conversation, DataError, Query
from hins.stages.base import Progress
from hins.stages.splits import SPLITS, QueriesView, SplitView


def tier_counts(k: int, ratios: dict[str, float]) -> dict[str, int]:
    """Split k by largest remainder; equal remainders go to the harder tier (15 × .3/.3/.4 → 5/4/6)."""
    exact = {t: k * ratios.get(t, 0.0) for t in TIERS}
    counts = {t: int(exact[t] + 1e-9) for t in TIERS}
    left = k - sum(counts.values())
    order = sorted(TIERS, key=lambda t: (-round(exact[t] - counts[t], 9), TIERS.index(t)))
    for t in order[:left]:
        counts[t] += 1
    return counts


@dataclass
class Sample:
    sid: str
    qid: str
    cid: str
    query: str
    pos: int
    negs: list[tuple[str, int]]  # (conversation id, message id)
    tiers: list[str]  # realised tier of each negative, by the tier rules


@dataclass
class NegativeStats:
    """What was asked for and what was realised, written beside the dataset."""

    samples: int = 0
    dropped_samples: int = 0  # by shortfall=drop, or left without a negative
    k: int = 0  # negatives asked for per sample
    requested: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TIERS, 0))
    realised: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TIERS, 0))
    candidates_mean: dict[str, float] = field(default_factory=dict)
    pool_mean: dict[str, float] = field(default_factory=dict)
    short_samples: int = 0  # samples where a tier's pool (uniform, mined: the candidates) fell short of its count
    backfilled: int = 0  # negatives taken from another tier (or beyond the cap) because of a shortfall
    masked_slots: int = 0  # empty negative slots over the kept samples (K minus each one's negatives)
    distinct_mean: float = 0.0  # distinct negatives per kept sample
    distinct_min: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def processing_groups(cids: Sequence[str], size: int) -> dict[str, list[str]]:
    """Map each conversation to the others of its processing group (consecutive groups of ``size``).

    A last conversation left alone joins the group before it: alone it would have no easy negatives
    (5 conversations in groups of 4 make one group of 5)."""
    groups = [list(cids[start : start + size]) for start in range(0, len(cids), size)]
    if len(groups) > 1 and len(groups[-1]) == 1:
        last = groups.pop()
        groups[-1] += last
    return {cid: [c for c in group if c != cid] for group in groups for cid in group}


class _Easy:
    """The easy candidates of one conversation (its group's messages, in order) and each one's position."""

    def __init__(self, refs: list[tuple[str, int]]):
        self.refs = refs
        self.index = {ref: i for i, ref in enumerate(refs)}


class _Pools:
    """Candidates and capped pools of one query."""

    def __init__(self, query: Query, conv: Conversation, labels: Sequence[str], easy: _Easy,
                 spec: NegativesConfig, rng: random.Random):
        evidence = set(query.evidence)
        n_ev = len(evidence)
        topic, target, cid = query.topic, query.target, conv.cid  # topic: in the clustering's label space
        # Each message's tier by the prose rules (tier_of), indexed by message id.
        self.tier_by_mid = [("hard" if m.speaker != target else "target_topic") if labels[m.mid] == topic else "medium"
                            for m in conv.messages]
        rest = [m.mid for m in conv.messages if m.mid not in evidence]
        hard = [(cid, mid) for mid in rest if self.tier_by_mid[mid] == "hard"]
        hard_pool = _cap(hard, spec.pool_caps["hard"] * n_ev, rng)
        other_topic = [(cid, mid) for mid in rest if self.tier_by_mid[mid] == "medium"]
        if spec.medium_rule == "prose":
            medium = other_topic
        else:  # literal Eq. 7: M \ N_h, which can hold same-topic messages of the target speaker
            taken = set(hard_pool)
            medium = [(cid, mid) for mid in rest if (cid, mid) not in taken]
        self.candidates = {"hard": hard, "medium": medium, "easy": easy.refs}
        self.pools = {
            "hard": hard_pool,
            "medium": _cap(medium, spec.pool_caps["medium"] * n_ev, rng),
            "easy": _cap(easy.refs, spec.pool_caps["easy"] * n_ev, rng),
        }
        self._cid, self._easy_index = cid, easy.index

    def tiers(self, refs: Sequence[tuple[str, int]]) -> list[str]:
        """The tier of each ref by the prose rules (as tier_of)."""
        cid, tier_by_mid = self._cid, self.tier_by_mid
        return [tier_by_mid[mid] if c == cid else "easy" for c, mid in refs]

    def spare(self, tier: str, taken: set[tuple[str, int]]) -> list[tuple[str, int]]:
        """The tier's candidates not in ``taken``, in order."""
        refs = self.candidates[tier]
        if tier != "easy":
            return [ref for ref in refs if ref not in taken]
        cuts = sorted(i for i in map(self._easy_index.get, taken) if i is not None)
        if not cuts:
            return list(refs)
        spare, start = [], 0
        for i in cuts:  # slices between the taken positions: the group's ~120 messages are not hashed again
            spare += refs[start:i]
            start = i + 1
        spare += refs[start:]
        return spare


def tier_of(ref: tuple[str, int], conv: Conversation, labels: Sequence[str], topic: str, target: str) -> str:
    """A negative's tier by the prose rules, whatever rule drew it. The target's own same-topic messages
    belong to no tier ("target_topic": only the literal medium rule or the baselines draw them)."""
    cid, mid = ref
    if cid != conv.cid:
        return "easy"
    if labels[mid] != topic:
        return "medium"
    return "hard" if conv.messages[mid].speaker != target else "target_topic"


class Ranker:
    """Scores candidates for a query with fixed (base-model) unit vectors, keyed (cid, mid) and by query id."""

    def __init__(self, passages: Mapping[tuple[str, int], np.ndarray], queries: Mapping[str, np.ndarray]):
        self.passages, self.queries = passages, queries

    def scores(self, qid: str, refs: Sequence[tuple[str, int]]) -> np.ndarray:
        matrix = np.stack([self.passages[ref] for ref in refs])
        return matrix @ self.queries[qid]

    @staticmethod
    def top(refs: Sequence[tuple[str, int]], scores: np.ndarray, k: int, below: float | None = None) -> list[tuple[str, int]]:
        """The k highest-scoring refs, only among those scoring at most ``below`` when given."""
        order = np.argsort(-scores, kind="stable")
        if below is not None:
            order = order[scores[order] <= below]
        return [refs[i] for i in order[:k]]


# random.Random.sample's threshold between its two algorithms, by k (a list below it, a set of picks above).
_SETSIZE = [21 + (4 ** ceil(log(k * 3, 4)) if k > 5 else 0) for k in range(64)]


def _sample(rng: random.Random, population: Sequence, k: int) -> list:
    """``rng.sample(population, k)``: the same algorithm drawing the same bits from ``rng``, so the same result
    and the same state afterwards (tests/test_negatives.py checks this against the standard library), at half
    the cost: no abstract-class check or logarithm per call, the bounded draws inlined."""
    n = len(population)
    if not 0 <= k <= n:
        raise ValueError("Sample larger than population or is negative")
    getrandbits = rng.getrandbits
    result = [None] * k
    if n <= (_SETSIZE[k] if k < len(_SETSIZE) else 21 + 4 ** ceil(log(k * 3, 4))):
        pool = list(population)
        for i in range(k):
            left = n - i
            bits = left.bit_length()
            j = getrandbits(bits)
            while j >= left:
                j = getrandbits(bits)
            result[i] = pool[j]
            pool[j] = pool[left - 1]
    else:
        selected: set[int] = set()
        bits = n.bit_length()
        for i in range(k):
            j = getrandbits(bits)
            while j >= n or j in selected:
                j = getrandbits(bits)
            selected.add(j)
            result[i] = population[j]
    return result


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: building millions of small lists and tuples (no cycles among them)
    would otherwise set off full collections that scan everything built so far (~30% of the time at 200k)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _cap(items: list, cap: float, rng: random.Random) -> list:
    n = min(len(items), int(cap))
    return _sample(rng, items, n)


def _draw(pools: _Pools, spec: NegativesConfig, counts: dict[str, int], rng: random.Random,
          stats: NegativeStats) -> tuple[list[tuple[str, int]], bool]:
    """The sample's negatives, and whether a tier's pool fell short of its count (then, under ``backfill``, the
    enabled tiers' other candidates make up what they can; the sample may still hold fewer than K)."""
    chosen: list[tuple[str, int]] = []
    deficit = 0
    for tier in TIERS:
        pool = pools.pools[tier]
        want = counts[tier]
        if want <= len(pool):
            chosen += _sample(rng, pool, want)
        else:
            chosen += pool
            deficit += want - len(pool)
    short = deficit > 0
    if short and spec.shortfall == "backfill":
        taken = set(chosen)
        # Back-fill beyond the caps, from the enabled tiers in order (easy first by default).
        for tier in [t for t in spec.backfill_order if t in spec.tiers]:
            spare = pools.spare(tier, taken)
            extra = _sample(rng, spare, min(deficit, len(spare)))
            chosen += extra
            taken.update(extra)
            stats.backfilled += len(extra)
            deficit -= len(extra)
            if not deficit:
                break
    return chosen, short


def build_samples(
    conversations: dict[str, Conversation],
    queries: Sequence[Query],
    labels: dict[str, Sequence[str]],
    spec: NegativesConfig,
    seed: int,
    passage_order: Sequence[str] | None = None,
    ranker: Ranker | None = None,
) -> tuple[list[Sample], NegativeStats]:
    """All samples of ``queries``; easy negatives come from the conversations of the same processing group.

    ``passage_order`` fixes the conversation order the groups of 4 are cut from (default: dict order).
    ``ranker`` holds the base model's vectors; the ``mined`` strategy needs it.
    """
    if spec.strategy == "mined" and ranker is None:
        raise ValueError("negatives.strategy=mined needs the base model's vectors (a Ranker)")
    order = list(passage_order) if passage_order is not None else list(conversations)
    groups = processing_groups(order, spec.group_size)
    counts = tier_counts(spec.k, spec.effective_ratios())
    stats = NegativeStats()
    samples: list[Sample] = []
    cand_sum: Counter = Counter()
    pool_sum: Counter = Counter()
    realised: Counter = Counter()
    distinct_sum, distinct_min = 0, spec.k
    easy_cache: dict[str, _Easy] = {}
    rng = random.Random()  # re-seeded per query and per sample: the same state as random.Random(text), cheaper
    with _gc_paused():
        for query in queries:
            conv = conversations[query.cid]
            if query.cid not in easy_cache:
                group = groups[query.cid]
                easy_cache[query.cid] = _Easy([(c, m.mid) for c in group for m in conversations[c].messages])
            rng.seed(f"{seed}:pool:{query.qid}")
            pools = _Pools(query, conv, labels[query.cid], easy_cache[query.cid], spec, rng)
            for tier in TIERS:
                cand_sum[tier] += len(pools.candidates[tier])
                pool_sum[tier] += len(pools.pools[tier])
            if spec.strategy != "hierarchical":
                evidence = set(query.evidence)
                own = [(conv.cid, m.mid) for m in conv.messages if m.mid not in evidence]
                everything = own + pools.candidates["easy"]
                if spec.strategy == "mined":
                    scores = ranker.scores(query.qid, everything)
                    pos_scores = ranker.scores(query.qid, [(conv.cid, p) for p in query.evidence])
            for i, pos in enumerate(query.evidence):
                sid = f"{query.qid}-p{pos}"
                if spec.strategy == "mined":
                    negs = Ranker.top(everything, scores, spec.k, below=float(pos_scores[i]) - spec.mine_margin)
                    short = len(negs) < spec.k
                else:
                    rng.seed(f"{seed}:sample:{sid}")
                    if spec.strategy == "uniform":
                        negs = _sample(rng, everything, min(spec.k, len(everything)))
                        short = len(negs) < spec.k
                    else:
                        negs, short = _draw(pools, spec, counts, rng, stats)
                if short:
                    stats.short_samples += 1
                if not negs or (short and spec.shortfall == "drop"):
                    stats.dropped_samples += 1
                    continue
                distinct = len(set(negs))  # counted, not assumed: the tests hold it to len(negs)
                distinct_sum += distinct
                distinct_min = min(distinct_min, distinct)
                stats.masked_slots += spec.k - len(negs)
                tiers = pools.tiers(negs)
                samples.append(Sample(sid, query.qid, query.cid, query.text, pos, negs, tiers))
                realised.update(tiers)
    stats.samples = len(samples)
    stats.k = spec.k
    if samples:
        stats.distinct_mean, stats.distinct_min = distinct_sum / len(samples), distinct_min
    if spec.strategy == "hierarchical":
        stats.requested = {t: counts[t] * len(samples) for t in TIERS}
    for t, n in realised.items():  # in order of first appearance, after the three tiers
        stats.realised[t] = stats.realised.get(t, 0) + n
    n_q = max(len(queries), 1)
    stats.candidates_mean = {t: cand_sum[t] / n_q for t in TIERS}
    stats.pool_mean = {t: pool_sum[t] / n_q for t in TIERS}
    return samples, stats


# ---- stage ``negatives``: the samples of every split ----
@dataclass
class Samples:
    datasets: dict[str, Any]  # split -> samples dataset (hins.stages.samples)
    stats: dict[str, Any]


class NegativesSettings(Settings):
    seed: int
    data: SplitView
    queries: QueriesView
    negatives: NegativesConfig
    fold: int | None


class NegativesStage:
    """Samples for each split, from that split's queries; easy negatives come from the same split only. The ``mined``
    baseline ranks candidates with the base model (the ``model`` input); ``ratios: calibrated`` draws every split by
    the ratios the ``calibration`` stage measured on the training split alone, recorded in the stats beside the
    effective ratios."""

    name: ClassVar[str] = "negatives"
    version: ClassVar[int] = 1

    def __init__(self, settings: NegativesSettings):
        self.settings = settings
        neg = settings.negatives
        self.inputs: tuple[str, ...] = ("conversations", "topics", "queries",
                                        *(("model",) if neg.strategy == "mined" else ()),
                                        *(("calibration",) if neg.calibrated else ()))

    def divide(self, conversations: dict[str, Conversation], queries: Sequence[Query]
               ) -> tuple[dict[str, list[str]], dict[str, list[Query]]]:
        """The split's conversations, and the queries each split trains or evaluates on."""
        s = self.settings
        splits = s.data.divide(list(conversations), s.seed, s.fold)
        return splits, s.data.select(queries, splits, s.queries.source == "llm")

    def build(self, inputs: Mapping[str, Any], out: Path, progress: Progress) -> None:
        from hins.stages import samples as ds

        s = self.settings
        convs, labels = inputs["conversations"].conversations, inputs["topics"].labels
        splits, queries = self.divide(convs, inputs["queries"].queries)
        calibration = inputs.get("calibration")
        spec = s.negatives.drawn_with({t: calibration["tiers"][t]["share"] for t in TIERS} if calibration else None)
        mined = spec.strategy == "mined"
        template = s.data.passage_template
        stats: dict[str, Any] = {"effective_ratios": spec.effective_ratios()}
        if calibration is not None:
            stats["calibration"] = calibration
        for split, cids in splits.items():
            if not cids:
                continue
            split_convs = {c: convs[c] for c in cids}
            ranker = inputs["model"].ranker(list(split_convs.values()), queries[split], template) if mined else None
            samples, st = build_samples(split_convs, queries[split], labels, spec, s.seed, cids, ranker)
            stats[split] = st.to_dict()
            if not samples:
                if split == "train":
                    hint = (": the base model scores fewer than K candidates negatives.mine_margin below the "
                            "positive; lower negatives.mine_margin" if mined else "")
                    raise DataError(f"negatives: no training sample survived ({st.dropped_samples} dropped, "
                                    f"{len(queries[split])} queries; strategy={spec.strategy}, "
                                    f"shortfall={spec.shortfall}){hint}: {st.to_dict()}")
                continue  # an evaluated split without samples only loses its tier win rates
            ds.save(ds.to_dataset(samples, split_convs, template), out / split)
        write_json(out / "stats.json", stats)

    def load(self, path: Path) -> Samples:
        from hins.stages import samples as ds

        data = {s: ds.load(path / s) for s in SPLITS if (path / s).exists()}
        return Samples(data, json.loads((path / "stats.json").read_text()))
