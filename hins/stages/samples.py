"""The training-sample artifact: a Hugging Face ``datasets`` dataset plus a ``{query, pos, neg}`` JSONL
export (the format FlagEmbedding and sentence-transformers users know)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from datasets import Dataset, Features, Sequence as HFSequence, Value, load_from_disk

from hins.core.artifacts import write_jsonl
from hins.stages.negatives import Sample
from hins.core.records import Conversation, Message

FEATURES = Features({
    "sid": Value("string"),
    "qid": Value("string"),
    "cid": Value("string"),
    "query": Value("string"),
    "pos": Value("string"),
    "neg": HFSequence(Value("string")),
    "neg_tier": HFSequence(Value("string")),
    "pos_id": Value("string"),
    "neg_ids": HFSequence(Value("string")),
})


def passage_text(message: Message, template: str) -> str:
    return template.format(speaker=message.speaker, text=message.text, session=message.session or "")


def message_key(cid: str, mid: int) -> str:
    return f"{cid}:{mid}"


def to_dataset(samples: Sequence[Sample], conversations: dict[str, Conversation], template: str) -> Dataset:
    def text(cid: str, mid: int) -> str:
        return passage_text(conversations[cid].messages[mid], template)

    return Dataset.from_dict({
        "sid": [s.sid for s in samples],
        "qid": [s.qid for s in samples],
        "cid": [s.cid for s in samples],
        "query": [s.query for s in samples],
        "pos": [text(s.cid, s.pos) for s in samples],
        "neg": [[text(c, m) for c, m in s.negs] for s in samples],
        "neg_tier": [list(s.tiers) for s in samples],
        "pos_id": [message_key(s.cid, s.pos) for s in samples],
        "neg_ids": [[message_key(c, m) for c, m in s.negs] for s in samples],
    }, features=FEATURES)


def save(dataset: Dataset, directory: Path) -> None:
    """``directory/hf`` (datasets' own format) and ``directory/samples.jsonl``."""
    dataset.save_to_disk(str(directory / "hf"))
    write_jsonl(directory / "samples.jsonl", [
        {"query": r["query"], "pos": [r["pos"]], "neg": r["neg"], "neg_tier": r["neg_tier"], "sid": r["sid"]}
        for r in dataset
    ])


def load(directory: Path) -> Dataset:
    return load_from_disk(str(directory / "hf"))
