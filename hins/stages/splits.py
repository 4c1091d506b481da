"""How a run divides its conversations into train / val / test, and which queries each split trains or evaluates on.

Each data source has its own rule, as a typed view of its ``data`` settings: synthetic conversations in a seeded
random split (``RandomSplit``), LoCoMo-format conversations in contiguous folds (``FoldSplit``). Splits are always
by conversation, never by query. The stages that read a split (negatives, the tier mix) declare the view as their
settings, so a change of the split changes their keys.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from hins.core.config import Settings, SplitConfig
from hins.stages.queries import is_llm_query
from hins.core.records import DataError, Query

SPLITS = ("train", "val", "test")


def split_conversations(cids: Sequence[str], fractions: dict[str, float], seed: int) -> dict[str, list[str]]:
    """Split by conversation (never by query), deterministically; every split keeps the original order."""
    order = list(cids)
    random.Random(f"{seed}:split").shuffle(order)
    n_val = round(fractions["val"] * len(order))
    n_test = round(fractions["test"] * len(order))
    held = {"val": set(order[:n_val]), "test": set(order[n_val : n_val + n_test])}
    out: dict[str, list[str]] = {s: [] for s in SPLITS}
    for cid in cids:
        out["val" if cid in held["val"] else "test" if cid in held["test"] else "train"].append(cid)
    if not out["train"]:
        raise DataError(f"data.split leaves no training conversation out of {len(cids)}")
    return out


def fold_split(cids: Sequence[str], folds: int, fold: int, n_val: int) -> dict[str, list[str]]:
    """Contiguous folds by conversation: ``fold`` is the test split; the first ``n_val`` others validate."""
    if len(cids) < folds:
        raise DataError(f"data.folds={folds} needs at least {folds} conversations, the source has {len(cids)}")
    bounds = [round(i * len(cids) / folds) for i in range(folds + 1)]
    test = list(cids[bounds[fold] : bounds[fold + 1]])
    held = set(test)
    rest = [c for c in cids if c not in held]
    if n_val >= len(rest):
        raise DataError(f"data.val_conversations={n_val} leaves no training conversation ({len(rest)} outside the "
                        "fold)")
    return {"train": rest[n_val:], "val": rest[:n_val], "test": test}


class QueriesView(Settings):
    """Whose queries train: the source's own (``data``), or an LLM's (``llm``, the source's own then evaluate)."""

    source: Literal["data", "llm"]


class _SplitView(Settings):
    passage_template: str

    def train_kinds(self) -> set[str] | None:
        """The query kinds that train (None: every kind)."""
        return None

    def eval_kinds(self) -> set[str] | None:
        """The query kinds that evaluate (None: every kind)."""
        return None

    def select(self, queries: Sequence[Query], splits: dict[str, list[str]], llm: bool) -> dict[str, list[Query]]:
        """Training splits (train, val) get the training queries; the evaluated split (test) the evaluation queries.
        With ``queries=llm`` the LLM's queries train and the source's own evaluate."""
        train_kinds, eval_kinds = self.train_kinds(), self.eval_kinds()

        def wanted(q: Query, split: str) -> bool:
            if split == "test":
                return not is_llm_query(q) and (eval_kinds is None or q.kind in eval_kinds)
            if llm:
                return is_llm_query(q)
            return train_kinds is None or q.kind in train_kinds

        out = {}
        for split, cids in splits.items():
            members = set(cids)
            out[split] = [q for q in queries if q.cid in members and wanted(q, split)]
        return out


class RandomSplit(_SplitView):
    """Synthetic data: a random split by conversation, seeded by the run's seed; all of its queries in every split."""

    source: Literal["synthetic"]
    split: SplitConfig

    def divide(self, cids: Sequence[str], seed: int, fold: int | None) -> dict[str, list[str]]:
        return split_conversations(cids, self.split.model_dump(), seed)

    def where(self, fold: int | None) -> str:
        return "synthetic data"

    def missing(self, split: str, evaluated: bool) -> str:
        """What to add to the message of a split without a question."""
        return ""

    def no_conversation_key(self, split: str) -> str:
        return f"data.split.{split}"


class FoldSplit(_SplitView):
    """LoCoMo-format data: contiguous folds by conversation; QA questions of ``train_categories`` and/or observations
    train, QA questions of ``eval_categories`` evaluate."""

    source: Literal["locomo"]
    path: str  # named in messages only
    folds: int = Field(ge=2)
    val_conversations: int = Field(ge=0)
    train_queries: list[Literal["qa", "observation"]]
    train_categories: list[int]
    eval_categories: list[int]

    def unkeyed(self) -> set[str]:
        return {"path"}

    def divide(self, cids: Sequence[str], seed: int, fold: int | None) -> dict[str, list[str]]:
        assert fold is not None, "LoCoMo-format data is split in folds"
        return fold_split(cids, self.folds, fold, self.val_conversations)

    def train_kinds(self) -> set[str] | None:
        from hins.evaluation.locomo import CATEGORIES

        kinds = {CATEGORIES[c] for c in self.train_categories} if "qa" in self.train_queries else set()
        return kinds | ({"observation"} if "observation" in self.train_queries else set())

    def eval_kinds(self) -> set[str] | None:
        from hins.evaluation.locomo import CATEGORIES

        return {CATEGORIES[c] for c in self.eval_categories}

    def where(self, fold: int | None) -> str:
        return f"{self.path}: fold {fold}"

    def missing(self, split: str, evaluated: bool) -> str:
        return (f" (QA questions of data.eval_categories={self.eval_categories} with evidence in them: is every `qa` "
                "empty, or every evidence id dangling?)" if evaluated else
                f" (data.train_queries={self.train_queries}; data.val_conversations=0 keeps the last one)")

    def no_conversation_key(self, split: str) -> str:
        return "data.val_conversations"


SplitView = RandomSplit | FoldSplit
