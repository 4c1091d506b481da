"""The base model as an input of stages, and its vectors of a set of messages and queries (stage ``base_vectors``).

The base model's key holds its settings (not the loss temperature, nor a directory's path), what its weights are
(``hins.training.model.model_identity``: a directory's files by hash, a package's version, a Hub revision) and, for a
randomly initialised model, the seed that draws its weights. Its vectors are keyed by that and by the texts they
encode, so the untuned evaluation, mining and the tier mix of every job of a sweep share them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hins.core.artifacts import write_json
from hins.core.config import ModelConfig, RunConfig, Settings
from hins.stages.samples import message_key, passage_text
from hins.evaluation.evaluate import EvalSet, EvalVectors, embed
from hins.training.model import Embedder, ModelSpec, load_embedder, model_identity
from hins.stages.negatives import Ranker
from hins.core.records import Conversation, Query
from hins.stages.base import Progress


class ModelSettings(Settings):
    seed: int
    model: ModelConfig

    def unkeyed(self) -> set[str]:
        return set() if self.model.source == "random" else {"seed"}  # the seed draws only random weights

    def key(self) -> dict[str, Any]:
        m = self.model
        return {**super().key(), "weights": model_identity(m.source, m.name, m.path)}


def model_key(run: RunConfig) -> str:
    blob = json.dumps(ModelSettings.of(run).key(), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_model(run: RunConfig) -> Embedder:
    spec = ModelSpec(**{**run.model.model_dump(exclude={"temperature"}), "seed": run.seed})
    return load_embedder(spec)


class TextsSettings(Settings):
    texts: str  # sha256 of the messages (conversation, id, passage text) and query texts, in order


def texts_digest(data: EvalSet) -> str:
    blob = json.dumps([[[message_key(c.cid, m.mid), passage_text(m, data.template)] for m in c.messages]
                       for c in data.conversations] + [[q.text for q in data.queries]], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


class BaseVectors:
    """The base model's unit vectors of these messages and queries (the ``model`` input encodes them)."""

    name: ClassVar[str] = "base_vectors"
    version: ClassVar[int] = 1
    inputs = ("model",)

    def __init__(self, data: EvalSet, batch_size: int):
        self.data, self.batch_size = data, batch_size
        self.settings = TextsSettings(texts=texts_digest(data))

    def build(self, inputs: Mapping[str, Any], out: Path, progress: Progress) -> None:
        vecs = embed(inputs["model"].embedder, self.data, self.batch_size)
        np.save(out / "passages.npy", vecs.passages)
        np.save(out / "queries.npy", vecs.queries)
        write_json(out / "keys.json", vecs.keys)

    def load(self, path: Path) -> EvalVectors:
        return EvalVectors(json.loads((path / "keys.json").read_text()), np.load(path / "passages.npy"),
                           np.load(path / "queries.npy"))


class UntunedModel:
    """The ``model`` input: the untuned embedder, and its vectors of any set, each set encoded once (cached)."""

    def __init__(self, embedder: Embedder, runner: Any, batch_size: int):
        self.embedder, self.runner, self.batch_size = embedder, runner, batch_size

    def vectors(self, data: EvalSet) -> EvalVectors:
        return self.runner.run(BaseVectors(data, self.batch_size), keep=False)

    def ranker(self, conversations: Sequence[Conversation], queries: Sequence[Query], template: str) -> Ranker:
        """The base model's ranking of messages for queries, for mining and the tier mix."""
        vecs = self.vectors(EvalSet(conversations, queries, template))
        refs = [(c.cid, m.mid) for c in conversations for m in c.messages]
        return Ranker(dict(zip(refs, vecs.passages)), {q.qid: v for q, v in zip(queries, vecs.queries)})
