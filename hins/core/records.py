"""Typed records that flow forward from stage to stage.

Every record is a plain dataclass that round-trips through JSON (``to_dict`` /
``from_dict``), so each stage's artifact is a readable file on disk.
"""

from __future__ import annotations

import string
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

T = TypeVar("T")

TIERS = ("hard", "medium", "easy")


class DataError(ValueError):
    """The data cannot feed the run as configured (no training sample left, an empty split, topic labels the
    source lacks); the message names the config key to change. hins.run reports it in one line (exit 2)."""


class _Record:
    """JSON round-trip for flat records; unknown keys in the input are ignored."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class Persona(_Record):
    """One participant: the paper's basic attributes B_i plus k sampled personality attributes A_i."""

    pid: str
    name: str
    sex: str
    age: int
    marital_status: str
    education_level: str
    education_field: str
    city: str
    state: str
    country: str
    traits: dict[str, str] = field(default_factory=dict)  # attribute name -> text (k of them)


@dataclass
class Event(_Record):
    """A life event of one person (10-25 words, uses the name); ``order`` is its place in time."""

    person: str
    text: str
    category: str  # routine | social | hobby | mundane
    theme: str  # ground-truth subject, used to label the messages that discuss it
    order: int


@dataclass
class Message(_Record):
    """One conversation message, the retrieval unit. ``topic`` is the generator's ground-truth label."""

    mid: int
    speaker: str
    text: str
    topic: str | None = None
    session: str | None = None  # LoCoMo-style sources: session id / date; None for one-session dialogues
    dia_id: str | None = None  # id in the source file, where there is one


PASSAGE_FIELDS = ("speaker", "text", "session")


def check_passage_template(template: str) -> str:
    """``template`` if :func:`hins.stages.samples.passage_text` can fill it from a message, else ValueError saying why: a
    field other than {speaker}, {text} and {session} (indexed or attributes too), an unbalanced brace, a bad format
    spec, or no {text} (every passage would then be the same text, and any ranking of them a tie)."""
    try:
        fields_used = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
        unknown = [f for f in fields_used if f not in PASSAGE_FIELDS]
        if unknown:
            raise ValueError(f"unknown field {{{unknown[0]}}}")
        template.format(speaker="S", text="T", session="D")
    except (KeyError, IndexError, AttributeError, TypeError, ValueError) as err:
        raise ValueError(f"{template!r} may use only {{speaker}}, {{text}} and {{session}} (a literal brace is "
                         f"written {{{{ or }}}}): {err}") from None
    if "text" not in fields_used:
        raise ValueError(f"{template!r} must contain {{text}}: without it every passage of a speaker is the same")
    return template


@dataclass
class Conversation:
    """A two-person dialogue with the material it was generated from."""

    cid: str
    speakers: list[str]
    messages: list[Message]
    personas: list[Persona] = field(default_factory=list)
    briefs: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cid": self.cid,
            "speakers": list(self.speakers),
            "messages": [m.to_dict() for m in self.messages],
            "personas": [p.to_dict() for p in self.personas],
            "briefs": list(self.briefs),
            "events": [e.to_dict() for e in self.events],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Conversation":
        return cls(
            cid=data["cid"],
            speakers=list(data["speakers"]),
            messages=[Message.from_dict(m) for m in data["messages"]],
            personas=[Persona.from_dict(p) for p in data.get("personas", [])],
            briefs=list(data.get("briefs", [])),
            events=[Event.from_dict(e) for e in data.get("events", [])],
        )


@dataclass
class Query(_Record):
    """A query over one conversation with its evidence message ids (the positives).

    ``kind`` is p1 | p2 | shared (the paper's 2+2+2); ``topic`` is the generator's label for the
    subject asked about; the topics stage maps it onto the clustering's own topic ids.
    """

    qid: str
    cid: str
    text: str
    target: str
    kind: str
    topic: str
    evidence: list[int]

