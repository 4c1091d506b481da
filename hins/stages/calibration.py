"""Stage ``calibration``: the tier mix of the distractors a base model actually ranks high (``negatives.ratios=
calibrated``, and ``python -m hins.calibrate``).

For each training query, the base model ranks a pool that holds the query's own conversation and the other
conversations of its processing group (the pool easy negatives come from; ``pool="all"``: every conversation
measured). The ``top_n`` highest-ranked non-evidence messages are its natural distractors; each gets its tier by the
HiNS rules (hins.stages.negatives.tier_of): other conversation = easy, own conversation and another topic = medium, same
topic and another speaker than the target = hard, same topic and the target speaker = target_topic (no tier draws
those). The proportions, normalised over the three tiers, are a ratio; their 95% intervals come from a bootstrap
over queries.

Calibration is tuning, so it reads training conversations only: ``negatives.ratios=calibrated`` measures each run's
(each fold's) training split, top_n = negatives.k, and the negatives stage draws that split's negatives by the result.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from hins.core.artifacts import write_json
from hins.core.config import Settings
from hins.stages.negatives import Ranker, processing_groups, tier_counts, tier_of
from hins.core.records import TIERS, Conversation, DataError, Query
from hins.stages.base import Progress
from hins.stages.splits import QueriesView, SplitView

log = logging.getLogger(__name__)
CLASSES = (*TIERS, "target_topic")
BOOTSTRAP = 2000  # resamples for the intervals of a run's calibration (the tool: calibrate.bootstrap)


def distractor_tiers(ranker: Ranker, conversations: dict[str, Conversation], queries: Sequence[Query],
                     labels: dict[str, Sequence[str]], pools: dict[str, list[str]], top_n: int) -> np.ndarray:
    """Per question, how many of its ``top_n`` highest-ranked non-evidence messages fall in each class."""
    counts = np.zeros((len(queries), len(CLASSES)), dtype=np.int64)
    for i, q in enumerate(queries):
        conv = conversations[q.cid]
        evidence = set(q.evidence)
        refs = [(q.cid, m.mid) for m in conv.messages if m.mid not in evidence]
        refs += [(c, m.mid) for c in pools[q.cid] for m in conversations[c].messages]
        top = Ranker.top(refs, ranker.scores(q.qid, refs), top_n)
        for ref in top:
            counts[i, CLASSES.index(tier_of(ref, conv, labels[q.cid], q.topic, q.target))] += 1
    return counts


def proportions(counts: np.ndarray, n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Shares of each class among all distractors, and of the three tiers among the tiered ones, with
    95% percentile intervals from a bootstrap over questions."""
    rng = np.random.default_rng(seed)
    boots = counts[rng.integers(0, len(counts), size=(n_boot, len(counts)))].sum(axis=1)  # (n_boot, classes)

    def shares(total: np.ndarray, cols: slice) -> np.ndarray:
        part = total[..., cols]
        return part / part.sum(axis=-1, keepdims=True)

    out: dict[str, Any] = {"questions": int(len(counts)), "distractors": int(counts.sum())}
    for name, cols, classes in (("all", slice(None), CLASSES), ("tiers", slice(0, len(TIERS)), TIERS)):
        point = shares(counts.sum(axis=0).astype(float), cols)
        lo, hi = np.percentile(shares(boots.astype(float), cols), [2.5, 97.5], axis=0)
        out[name] = {c: {"share": float(p), "ci_low": float(a), "ci_high": float(b)}
                     for c, p, a, b in zip(classes, point, lo, hi)}
    return out


def ratio_string(tiers: dict[str, dict[str, float]]) -> str:
    """The tier shares as the sweeps' ``H-M-E`` override in whole percent, summing to 100 (largest remainder)."""
    pct = tier_counts(100, {t: tiers[t]["share"] for t in TIERS})
    return "-".join(str(pct[t]) for t in TIERS)


def measure(ranker: Ranker, conversations: dict[str, Conversation], queries: Sequence[Query],
            labels: dict[str, Sequence[str]], top_n: int, group_size: int, pool: str = "group",
            n_boot: int = BOOTSTRAP, seed: int = 0) -> dict[str, Any]:
    """The calibration of ``queries`` (at least one) over ``conversations`` and nothing else: pools are cut from these
    conversations (processing groups of ``group_size`` in their order, as the negatives' easy tier; ``pool="all"``:
    all of them). Shares and intervals overall and per query kind, the ``H-M-E`` ratio, and the conversations read."""
    cids = list(conversations)
    pools = ({c: [o for o in cids if o != c] for c in cids} if pool == "all" else processing_groups(cids, group_size))
    counts = distractor_tiers(ranker, conversations, queries, labels, pools, top_n)
    if not counts[:, : len(TIERS)].any():
        raise DataError(f"calibration: every one of the base model's top {top_n} distractors of {len(queries)} queries "
                        "is the target speaker's own same-topic turn; no tier to calibrate (set negatives.ratios)")
    result = proportions(counts, n_boot, seed)
    result["ratio"] = ratio_string(result["tiers"])
    result["by_kind"] = {}
    for kind in sorted({q.kind for q in queries}):
        rows = np.array([i for i, q in enumerate(queries) if q.kind == kind])
        result["by_kind"][kind] = proportions(counts[rows], n_boot, seed)
    result["conversations"] = cids
    return result


class CalibrationNegatives(Settings):
    k: int = Field(ge=1)  # distractors per query (top_n): K, as the negatives draw
    group_size: int = Field(ge=2)


class CalibrationSettings(Settings):
    seed: int
    data: SplitView
    queries: QueriesView
    negatives: CalibrationNegatives
    fold: int | None
    # all: every conversation (a description of the data, not a ratio to train a fold with)
    scope: Literal["train", "all"] = "train"
    pool: Literal["group", "all"] = "group"
    bootstrap: int = Field(default=BOOTSTRAP, ge=100)


class CalibrationStage:
    name: ClassVar[str] = "calibration"
    version: ClassVar[int] = 1
    inputs = ("conversations", "topics", "queries", "model")

    def __init__(self, settings: CalibrationSettings):
        self.settings = settings

    def conversations(self, cids: list[str]) -> list[str]:
        s = self.settings
        return cids if s.scope == "all" else s.data.divide(cids, s.seed, s.fold)["train"]

    def build(self, inputs: Mapping[str, Any], out: Path, progress: Progress) -> None:
        s = self.settings
        convs, labels = inputs["conversations"].conversations, inputs["topics"].labels
        cids = self.conversations(list(convs))
        queries = s.data.select(inputs["queries"].queries, {"train": cids}, s.queries.source == "llm")["train"]
        if not queries:
            raise DataError(f"calibration: no training query in the {len(cids)} training conversations (check "
                            "data.train_categories / data.train_queries / queries.evidence_min)")
        split = {c: convs[c] for c in cids}
        ranker = inputs["model"].ranker(list(split.values()), queries, s.data.passage_template)
        result = measure(ranker, split, queries, labels, s.negatives.k, s.negatives.group_size, s.pool, s.bootstrap,
                         s.seed)
        log.info("calibration on %d training conversations (%d queries): negatives.ratios=%s", len(cids),
                 len(queries), result["ratio"])
        write_json(out / "calibration.json", result)

    def load(self, path: Path) -> dict[str, Any]:
        return json.loads((path / "calibration.json").read_text())
