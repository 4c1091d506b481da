"""What a pipeline stage is, and how its artifact's key is derived.

A stage is one object with: its ``name`` (its artifacts' directory in the cache), the typed ``settings`` it reads (a
``hins.core.config.Settings`` view of the run's config, nothing else), the stages it consumes (``inputs``, by name), a
code ``version``, ``build(inputs, out, progress)`` that writes its artifact into ``out``, and ``load(path)`` that
reads it back. The key of its artifact is derived here from those alone: the settings (every field but the ones a
schema marks as not shaping the output, such as an LLM endpoint's concurrency), the keys of its inputs, and the
version. A setting a stage reads is therefore in its key and, through the key, in the keys of every stage after it;
a setting it does not read cannot be. Bump ``version`` when a stage's code changes what it writes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

from hins.core.config import Settings
from hins.core.records import Conversation

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

# ``progress(description, total)``: a context whose value advances the bar by n items; the runner draws it.
Advance = Callable[[int], None]
Progress = Callable[[str, int], AbstractContextManager[Advance]]


@contextmanager
def no_progress(description: str, total: int) -> Iterator[Advance]:
    """A ``Progress`` that draws nothing (a stage's code called outside the runner)."""
    yield lambda n=1: None


@runtime_checkable
class Stage(Protocol[T_co]):
    name: ClassVar[str]
    version: ClassVar[int]
    settings: Settings
    inputs: tuple[str, ...]

    def build(self, inputs: Mapping[str, Any], out: Path, progress: Progress) -> None: ...

    def load(self, path: Path) -> T_co: ...


@runtime_checkable
class Priced(Protocol):
    """A stage whose work may be LLM calls: what they would cost on these conversations, nothing sent (None: its
    configuration calls no LLM). A dry run prices every such stage of a run (hins.pipeline.Pipeline.dry_run)."""

    def estimate(self, conversations: Sequence[Conversation]) -> dict[str, Any] | None: ...


def stage_key(stage: Stage[Any], input_keys: Mapping[str, str]) -> str:
    """The artifact's key: a short stable hash of the stage's name, version, declared settings and its inputs' keys."""
    blob = json.dumps([stage.name, stage.version, stage.settings.key(), {n: input_keys[n] for n in stage.inputs}],
                      sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def stage_keys(stages: Iterator[Stage[Any]] | list[Stage[Any]], given: Mapping[str, str] | None = None
               ) -> dict[str, str]:
    """Every stage's key, in order (each one's inputs come before it), without building anything: ``given`` holds
    the keys of inputs that are no stage of the list (the base model)."""
    keys = dict(given or {})
    for stage in stages:
        keys[stage.name] = stage_key(stage, keys)
    return keys
