from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from hins.core.records import Conversation, Message, Query

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "hins" / "conf"  # the Hydra configs, shipped inside the package


@functools.lru_cache(maxsize=1)
def _default_negatives() -> dict:
    from hins.core.config import validate
    from tests.test_config import _compose

    return validate(_compose()).negatives.model_dump()


def negatives_config(**changes):
    """The negatives settings as the config gives them (``negatives=hins``: hins/conf/negatives/hins.yaml, where the
    defaults are written once), with ``changes``."""
    from hins.core.config import NegativesConfig

    return NegativesConfig.model_validate({**_default_negatives(), **changes})


def make_conversation(cid: str, n_topics: int = 4, per_topic: int = 12) -> Conversation:
    """Two speakers alternating; topic blocks of ``per_topic`` messages (topic t{i})."""
    speakers = [f"Ann{cid}", f"Bob{cid}"]
    messages = []
    for t in range(n_topics):
        for j in range(per_topic):
            mid = len(messages)
            messages.append(Message(mid=mid, speaker=speakers[mid % 2], text=f"{cid} topic {t} line {j}", topic=f"t{t}"))
    return Conversation(cid=cid, speakers=speakers, messages=messages)


def make_queries(conv: Conversation) -> list[Query]:
    """Per topic one query about each speaker: evidence = that speaker's messages on the topic."""
    out = []
    topics = sorted({m.topic for m in conv.messages})
    for t in topics:
        for s, kind in zip(conv.speakers, ("p1", "p2")):
            ev = [m.mid for m in conv.messages if m.topic == t and m.speaker == s]
            out.append(Query(qid=f"{conv.cid}-{t}-{kind}", cid=conv.cid, text=f"what did {s} say on {t}", target=s,
                             kind=kind, topic=str(t), evidence=ev))
    return out


@pytest.fixture
def corpus() -> tuple[dict[str, Conversation], list[Query], dict[str, list[str]]]:
    convs = {f"c{i}": make_conversation(f"c{i}") for i in range(8)}
    queries = [q for c in convs.values() for q in make_queries(c)]
    labels = {cid: [m.topic for m in c.messages] for cid, c in convs.items()}
    return convs, queries, labels


@pytest.fixture(scope="session")
def tiny_embedder():
    from hins.training.model import ModelSpec, load_embedder

    return load_embedder(ModelSpec(name="tiny", source="random", pooling="cls", max_query_length=32,
                                   max_passage_length=48,
                                   arch=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                             intermediate_size=64)))
