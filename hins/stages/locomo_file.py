"""Source stage ``locomo``: the conversations of a LoCoMo-format file (LoCoMo-10, or your own logs in its schema),
with its QA questions and observation facts as queries (hins.locomo reads the file)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from hins.core.artifacts import sha256_file
from hins.core.config import Settings
from hins.stages.base import Progress
from hins.stages.sources import SourceData, SourceDryRun, SourceSize, load_source, write_source

LOCOMO_SAMPLES_PER_BYTE = 3e-3  # LoCoMo-10: ~8,400 samples (QA + observations) from a 2.8 MB file
LOCOMO_CACHE_PER_BYTE = 1.5  # conversations.jsonl + queries.jsonl against the source file


class LocomoFile(Settings):
    source: Literal["locomo"]
    path: str
    fold: int | Literal["all"]
    folds: int
    train_queries: list[Literal["qa", "observation"]]
    train_categories: list[int]
    eval_categories: list[int]

    def unkeyed(self) -> set[str]:
        return {"path", "fold", "folds"}  # the file counts by its content; folds are the splits' business

    def key(self) -> dict[str, Any]:
        path = Path(self.path)
        return {**super().key(), "sha256": sha256_file(path) if path.is_file() else str(path)}


class LocomoSettings(Settings):
    data: LocomoFile


class LocomoSource:
    name: ClassVar[str] = "conversations"
    version: ClassVar[int] = 1
    inputs = ()

    def __init__(self, settings: LocomoSettings):
        self.settings = settings

    def build(self, inputs: Mapping[str, Any], out: Path, progress: Progress) -> None:
        from hins.evaluation.locomo import CATEGORIES, load_locomo

        data = self.settings.data
        corpus = load_locomo(Path(data.path))
        wanted = set(data.train_categories) | set(data.eval_categories)
        queries = [q for q in corpus.questions if corpus.categories[q.qid] in wanted]
        if "observation" in data.train_queries:
            queries += corpus.observations
        write_source(out, corpus.conversations, queries, {
            "source": str(data.path), "loader": corpus.stats,
            "categories": {CATEGORIES.get(c, f"unknown {c}"): n for c, n in sorted(corpus.qa_in_file.items())}})

    def load(self, path: Path) -> SourceData:
        return load_source(path)

    def folds(self) -> list[int | None]:
        data = self.settings.data
        return list(range(data.folds)) if data.fold == "all" else [int(data.fold)]

    def eval_categories(self) -> list[int]:
        return list(self.settings.data.eval_categories)

    def size(self) -> SourceSize:
        path = self.settings.data.path
        source = os.path.getsize(path) if os.path.isfile(path) else 0
        return SourceSize(int(source * LOCOMO_CACHE_PER_BYTE), int(source * LOCOMO_SAMPLES_PER_BYTE),
                          source // 500)  # ~500 bytes of JSON per turn

    def dry_run_requested(self) -> bool:
        return False

    def dry_run(self) -> SourceDryRun | None:
        return None
