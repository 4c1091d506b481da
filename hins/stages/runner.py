"""Runs stages: derives each artifact's key (``stage_key``), loads the finished artifact or builds it through the
artifact store (hins.core.artifacts: cached, checksummed, built once when jobs share the cache), draws the progress bars
stages ask for, and keeps every built stage's value and statistics for the stages after it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from rich.progress import Progress as Bar

from hins.core.artifacts import ArtifactStore
from hins.stages.base import Advance, Stage, stage_key

T = TypeVar("T")


@dataclass(frozen=True)
class Built(Generic[T]):
    key: str
    value: T


@contextmanager
def progress_bar(description: str, total: int) -> Iterator[Advance]:
    bar = Bar(transient=False)
    task = bar.add_task(description, total=total)
    with bar:
        yield lambda n=1: bar.advance(task, n)


class StageRunner:
    """``given``: inputs that are no cached stage (the base model), by name, with their keys."""

    def __init__(self, cache_dir: str | Path, given: dict[str, Built[Any]] | None = None):
        self.store = ArtifactStore(cache_dir)
        self.built: dict[str, Built[Any]] = dict(given or {})

    def key(self, stage: Stage[Any]) -> str:
        missing = [n for n in stage.inputs if n not in self.built]
        if missing:
            raise RuntimeError(f"stage {stage.name} needs {missing}, which have not run")
        return stage_key(stage, {n: self.built[n].key for n in stage.inputs})

    def run(self, stage: Stage[T], keep: bool = True) -> T:
        """The stage's artifact, built or loaded; ``keep``: record it as the input of that name for later stages
        (a memo such as the base model's vectors of one set is not)."""
        key = self.key(stage)
        inputs = {n: self.built[n].value for n in stage.inputs}
        value = self.store.get_or_build(stage.name, key, lambda out: stage.build(inputs, out, progress_bar),
                                        stage.load)
        if keep:
            self.built[stage.name] = Built(key, value)
        return value

    def path(self, stage: Stage[Any]) -> Path:
        return self.store.path(stage.name, self.key(stage))
