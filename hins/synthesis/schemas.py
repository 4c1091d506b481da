"""What each LLM step must answer (the rules of the paper's data construction, §3), as pydantic models.

An answer is parsed with ``parse(schema, text, **context)``; the context carries what the rules depend on
(the person's name, the number of messages, who said which message, the evidence range). Every rule a
model's answer breaks is listed in one error, which is fed back to the model when it is asked again.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator

from hins.synthesis.procedural import BRIEF_WORDS, EVENT_WORDS, MESSAGE_WORDS

S = TypeVar("S", bound=BaseModel)
CATEGORIES = ("routine", "social", "hobby", "mundane")
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


class InvalidAnswer(ValueError):
    """An answer that breaks the step's rules; ``str()`` is the feedback given to the model."""


def words(text: str) -> int:
    return len(text.split())


def _check(problems: list[str]) -> None:
    if problems:
        raise ValueError("; ".join(problems[:12]) + (f"; and {len(problems) - 12} more" if len(problems) > 12 else ""))


def _word_range(problems: list[str], where: str, text: str, bounds: tuple[int, int]) -> None:
    n = words(text)
    if not bounds[0] <= n <= bounds[1]:
        problems.append(f"{where} has {n} words, expected {bounds[0]}-{bounds[1]}")


# A word, as ``words`` counts them, in a pattern a grammar can sample from: no space, and no quote, backslash or
# control character (a JSON escape would count as part of a word), and at most WORD_CHARS characters: an unbounded
# "word" let SmolLM2 write one until max_tokens (2 of 94 events answers, a question), cut off and unreadable.
WORD_CHARS = 24
_CHAR = r'[^ "\\\n\t]'
_WORD = f"{_CHAR}{{1,{WORD_CHARS}}}"


def _words_pattern(bounds: tuple[int, int], first: str | None = None) -> dict[str, Any]:
    """A string schema of ``bounds`` words (single spaces), opening with the regular expression ``first`` (one
    word) where given: what a grammar can hold a small model to of the word-count rules, and of the rules a stricter
    form implies (an event that opens with the person's name names them; a first message that opens with "Hi"
    greets)."""
    head = first if first is not None else _WORD
    return {"type": "string", "pattern": f"^{head}( {_WORD}){{{bounds[0] - 1},{bounds[1] - 1}}}$"}


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)  # extra keys a model adds are harmless

    @classmethod
    def narrow(cls, schema: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
        """The JSON schema (inlined, closed) narrowed by the parse context, where a grammar can say it."""
        return schema


class EventItem(_Answer):
    text: str
    category: Literal["routine", "social", "hobby", "mundane"]
    theme: str = Field(min_length=1, max_length=80)


class EventsAnswer(_Answer):
    """Context: ``name`` (the person's full name), ``n_events``."""

    events: list[EventItem]

    @classmethod
    def narrow(cls, schema: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
        """n_events events of EVENT_WORDS words, each opening with the first name; the first four of the four
        kinds in turn (every kind once), the rest of any."""
        event = schema["properties"]["events"]["items"]
        text = _words_pattern(EVENT_WORDS, re.escape(ctx["name"].split()[0]))
        kinds = [{"const": c} for c in CATEGORIES] + [event["properties"]["category"]] * ctx["n_events"]
        schema["properties"]["events"] = _tuple([_with(event, text=text, category=kind)
                                                 for kind in kinds[:ctx["n_events"]]])
        return schema

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> "EventsAnswer":
        ctx = info.context
        first = ctx["name"].split()[0]
        problems = []
        if len(self.events) != ctx["n_events"]:
            problems.append(f"expected exactly {ctx['n_events']} events, got {len(self.events)}")
        for i, e in enumerate(self.events):
            _word_range(problems, f"events[{i}]", e.text, EVENT_WORDS)
            if not re.search(rf"\b{re.escape(first)}\b", e.text):
                problems.append(f"events[{i}] does not name {first} (use the name, not a pronoun)")
        texts = Counter(" ".join(e.text.lower().split()) for e in self.events)
        if any(n > 1 for n in texts.values()):
            problems.append("events repeat: write each event once")
        missing = [c for c in CATEGORIES if c not in {e.category for e in self.events}]
        if missing:
            problems.append(f"every kind of event must appear at least once (missing {missing})")
        _check(problems)
        return self


class BriefAnswer(_Answer):
    """Context: ``name`` (the person's full name), which the brief must not use (a brief stands in for it)."""

    brief: str

    @classmethod
    def narrow(cls, schema: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
        """BRIEF_WORDS words, in the prompt's form "the <descriptor> who <interests>" (so never opening with the
        name, as small models do)."""
        return _with(schema, brief=_words_pattern(BRIEF_WORDS, "[Tt]he"))

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> "BriefAnswer":
        problems: list[str] = []
        _word_range(problems, "the brief", self.brief, BRIEF_WORDS)
        named = [part for part in (info.context or {}).get("name", "").split()
                 if re.search(rf"\b{re.escape(part)}\b", self.brief)]
        if named:
            problems.append(f"the brief uses the person's name ({' '.join(named)}): describe them instead")
        _check(problems)
        return self


# What counts as a greeting in a speaker's first message (the conversation prompt asks the two to greet each
# other): any of these words or phrases, anywhere in the message, case-insensitive, as whole words ("Hey Sam!",
# "Oh hi, long time no see", "Morning! How are you?"). Lenient on purpose: a real opening passes; only a
# message that starts mid-conversation ("The lasagna recipe worked ...") fails.
GREETINGS = (
    "hi", "hello", "hey", "heya", "hiya", "howdy", "yo", "greetings", "welcome", "hola", "g'day",
    "good morning", "good afternoon", "good evening", "morning", "afternoon", "evening",
    "what's up", "whats up", "sup", "how are you", "how are things", "how's it going", "how is it going",
    "how have you been", "how've you been", "how's your", "how is your", "how was your",
    "long time no see", "nice to see you", "good to see you", "great to see you", "good to hear from you",
    "nice to hear from you", "great to hear from you", "nice to meet you", "good to meet you",
)
_GREETING = re.compile(r"\b(?:" + "|".join(re.escape(g).replace(r"\ ", r"\s+") for g in GREETINGS) + r")\b",
                       re.IGNORECASE)


def greets(text: str) -> bool:
    """Whether ``text`` holds one of GREETINGS (typographic apostrophes count as straight ones)."""
    return bool(_GREETING.search(text.replace("\u2019", "'")))


class Turn(_Answer):
    speaker: Literal["A", "B"]
    text: str
    event: str | None = None


class ConversationAnswer(_Answer):
    """Context: ``n_messages``, ``events`` (the valid event ids, each person's in time order: A1.., B1..).
    Rules: the count, strict A/B alternation, 5-40 words a message, events in time order, and a greeting in
    each person's first message (``GREETINGS``)."""

    messages: list[Turn]

    @classmethod
    def narrow(cls, schema: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
        """Exactly n_messages turns, A and B in turn, each naming a known event or none, of MESSAGE_WORDS words;
        each person's first message opens with a greeting word."""
        turn = schema["properties"]["messages"]["items"]
        turn["properties"]["event"] = {"anyOf": [{"enum": list(ctx["events"])}, {"type": "null"}]}
        greeting = _words_pattern(MESSAGE_WORDS, "(Hi|Hello|Hey)[,!.]?")
        schema["properties"]["messages"] = _tuple([
            _with(turn, speaker={"const": "AB"[i % 2]}, text=greeting if i < 2 else _words_pattern(MESSAGE_WORDS))
            for i in range(ctx["n_messages"])])
        return schema

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> "ConversationAnswer":
        ctx = info.context
        problems = []
        if len(self.messages) != ctx["n_messages"]:
            problems.append(f"expected exactly {ctx['n_messages']} messages, got {len(self.messages)}")
        for who in "AB":  # each person's first message greets the other
            first = next((i for i, m in enumerate(self.messages) if m.speaker == who), None)
            if first is not None and not greets(self.messages[first].text):
                problems.append(f"messages[{first}], {who}'s first message, has no greeting: open it with one "
                                "(e.g. 'Hi', 'Hello', 'Hey', 'Good morning', 'How are you?')")
        order = {eid: i for i, eid in enumerate(ctx["events"])}
        latest: dict[str, int] = {}  # person -> place of the latest event first mentioned
        seen: set[str] = set()
        for i, m in enumerate(self.messages):
            expected = "AB"[i % 2]
            if m.speaker != expected:
                problems.append(f"messages[{i}] is by {m.speaker}, expected {expected} (strict alternation, A first)")
            _word_range(problems, f"messages[{i}]", m.text, MESSAGE_WORDS)
            if m.event is None or m.event in seen:
                continue
            if m.event not in order:
                problems.append(f"messages[{i}] refers to unknown event {m.event!r}")
                continue
            seen.add(m.event)
            person = m.event[0]
            if order[m.event] < latest.get(person, -1):
                problems.append(f"messages[{i}] brings up {m.event} after a later event of {person}: "
                                "mention each person's events in time order")
            latest[person] = max(latest.get(person, -1), order[m.event])
        _check(problems)
        return self


TOPIC_WORDS = (1, 6)  # a topic label's words, as the grammar holds a model to (the prompt asks for 2 to 6)
# A label's word in the grammar: letters, digits and a few marks, at most 20 characters (a small model otherwise
# pastes a whole message, or an endless string, as one "word").
_LABEL_WORD = r"[A-Za-z0-9'&-]{1,20}"


class MessageTopic(_Answer):
    id: int
    topic: int


class TopicsAnswer(_Answer):
    """Context: ``speakers`` (the speaker of each message id), ``k_min``, ``k_max``.

    The topics' labels, then every message's topic by its number in that list, in message order: a partition of
    the conversation by its shape (each message in exactly one topic) that a grammar holds even a small model to.
    An earlier shape, lists of ids per topic, left a 135M model free to skip most ids and repeat others; labels
    written out per message came back as pasted messages, a different "topic" each."""

    topics: list[str]
    messages: list[MessageTopic]

    @classmethod
    def narrow(cls, schema: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
        """One alternative per number of topics k in k_min-k_max: k labels of TOPIC_WORDS words, then one entry per
        message id, in order, naming a topic 0..k-1 (once the labels are written, only their k's branch fits)."""
        label = {"type": "string",
                 "pattern": f"^{_LABEL_WORD}( {_LABEL_WORD}){{{TOPIC_WORDS[0] - 1},{TOPIC_WORDS[1] - 1}}}$"}
        item = schema["properties"]["messages"]["items"]
        return {"anyOf": [
            _object({"topics": {"type": "array", "items": label, "minItems": k, "maxItems": k},
                     "messages": _tuple([_with(item, id={"const": i}, topic={"enum": list(range(k))})
                                         for i in range(len(ctx["speakers"]))])})
            for k in range(ctx["k_min"], ctx["k_max"] + 1)]}

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> "TopicsAnswer":
        ctx = info.context
        n, k_min, k_max = len(ctx["speakers"]), ctx["k_min"], ctx["k_max"]
        problems = []
        if not k_min <= len(self.topics) <= k_max:
            problems.append(f"expected {k_min}-{k_max} topics, got {len(self.topics)}")
        keys = Counter(" ".join(t.lower().split()) for t in self.topics)
        if any(not k or len(k) > 80 for k in keys):
            problems.append("every topic needs a label of 1-80 characters")
        if any(c > 1 for c in keys.values()):
            problems.append(f"topic labels repeat: {sorted(k for k, c in keys.items() if c > 1)}")
        if len(self.messages) != n:
            problems.append(f"expected a topic for each of the {n} messages, got {len(self.messages)}")
        wrong = [(i, m.id) for i, m in enumerate(self.messages) if m.id != i]
        if wrong:
            problems.append("give the messages in order, one entry per id from 0: "
                            + ", ".join(f"entry {i} has id {mid}" for i, mid in wrong[:5]))
        unknown = sorted({m.topic for m in self.messages if not 0 <= m.topic < len(self.topics)})
        if unknown:
            problems.append(f"topic numbers {unknown} are not in the list (0-{len(self.topics) - 1})")
        unused = [t for i, t in enumerate(self.topics) if all(m.topic != i for m in self.messages)]
        if unused:
            problems.append(f"topics with no message: {unused}")
        _check(problems)
        return self

    def labels(self, n_messages: int) -> list[str]:
        """The topic label of every message id (valid answers only)."""
        return [self.topics[m.topic].strip() for m in self.messages[:n_messages]]


QUESTION_WORDS = (3, 40)  # the grammar's bounds on a question; the rule is at least 3 words


class QueryItem(_Answer):
    text: str
    about: str
    target: str
    topic: str
    evidence: list[int]


class QueriesAnswer(_Answer):
    """Context: ``speakers`` (of each message id), ``names`` ([A's, B's]), ``topics`` (labels),
    ``per_kind`` (questions per kind), ``evidence`` ((min, max) ids per question)."""

    queries: list[QueryItem]

    @classmethod
    def narrow(cls, schema: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
        """per_kind questions about A, then B, then both, of QUESTION_WORDS words; a known target and topic;
        evidence_min-max ids, for a question about one person that person's own messages (which keeps the rule
        "mostly the target's") where they have that many."""
        names, speakers, lo, hi = ctx["names"], ctx["speakers"], *ctx["evidence"]
        # A question: a capital first, a question mark last (a small model otherwise pastes a message).
        edge = f"{_CHAR}{{0,{WORD_CHARS - 1}}}"
        question = {"type": "string", "pattern": f"^[A-Z]{edge}( {_WORD}){{{QUESTION_WORDS[0] - 2},"
                                                 f"{QUESTION_WORDS[1] - 2}}} {edge}\\?$"}
        item = _with(schema["properties"]["queries"]["items"], topic={"enum": list(ctx["topics"])}, text=question)

        def evidence(about: str) -> dict[str, Any]:
            own = [i for i, s in enumerate(speakers) if s == about]
            ids = own if len(own) >= lo else list(range(len(speakers)))
            return {"type": "array", "items": {"enum": ids}, "minItems": lo, "maxItems": min(hi, len(ids))}

        schema["properties"]["queries"] = _tuple([
            _with(item, about={"const": about}, target={"const": about} if about in names else {"enum": names},
                  evidence=evidence(about))
            for about in [names[0]] * ctx["per_kind"] + [names[1]] * ctx["per_kind"] + ["both"] * ctx["per_kind"]])
        return schema

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> "QueriesAnswer":
        ctx = info.context
        speakers, names, per_kind = ctx["speakers"], ctx["names"], ctx["per_kind"]
        lo, hi = ctx["evidence"]
        problems = []
        kinds = Counter(q.about for q in self.queries)
        wanted = {names[0]: per_kind, names[1]: per_kind, "both": per_kind}
        if kinds != Counter(wanted):
            problems.append(f"expected {per_kind} questions about each of {list(wanted)}, got {dict(kinds)}")
        for i, q in enumerate(self.queries):
            where = f"queries[{i}]"
            if words(q.text) < 3:
                problems.append(f"{where}: the question has fewer than 3 words")
            if q.target not in names:
                problems.append(f"{where}: target {q.target!r} is not one of {names}")
            elif q.about in names and q.target != q.about:
                problems.append(f"{where}: a question about {q.about} must have target {q.about}")
            if q.topic not in ctx["topics"]:
                problems.append(f"{where}: topic {q.topic!r} is not one of the input's topic labels")
            bad = [m for m in q.evidence if not 0 <= m < len(speakers)]
            if bad:
                problems.append(f"{where}: evidence ids {bad} out of range 0-{len(speakers) - 1}")
            # An id given twice counts once (the queries keep the set): a slip a grammar cannot prevent, not a
            # wrong answer; the set must still hold evidence_min-max ids.
            if not lo <= len(set(q.evidence)) <= hi:
                problems.append(f"{where}: {len(set(q.evidence))} evidence ids, expected {lo}-{hi}")
            own = sum(1 for m in set(q.evidence) if 0 <= m < len(speakers) and speakers[m] == q.target)
            if q.about in names and not bad and 2 * own < len(set(q.evidence)):
                problems.append(f"{where}: most evidence must be {q.target}'s own messages ({own} of "
                                f"{len(set(q.evidence))} are)")
        _check(problems)
        return self


_SPECIFICS = ((re.compile(r"\([^)]*\)"), ""), (re.compile(r"\[[^\]]*\]"), "[…]"), (re.compile(r"\{[^}]*\}"), "{…}"),
              (re.compile(r"'[^']*'"), "'…'"),
              (re.compile(r"(?<=\s)(?!Input\b|JSON\b)[A-Z][\w.-]*( [A-Z][\w.-]*)*"), "X"),  # names
              (re.compile(r"\d+"), "N"))


def problem_kinds(problems: str) -> set[str]:
    """The kinds of rule an answer broke: its problems (``InvalidAnswer``'s text, or a refusal) without the
    specifics (ids, numbers, names, quoted values, explanations), e.g. "events[…] has N words, expected N-N"."""
    kinds = set()
    for line in problems.splitlines():
        for problem in line.removeprefix("- ").split("; "):
            if problem.startswith("and ") and problem.endswith(" more") or problem.startswith("cached, so"):
                continue  # the count of problems beyond the first 12; the tail of a refusal
            for pattern, repl in _SPECIFICS:
                problem = pattern.sub(repl, problem)
            kinds.add(re.sub(r" ([:;,])", r"\1", " ".join(problem.split())).rstrip(" :,"))
    return kinds - {""}


def response_schema(schema: type[_Answer], **context: Any) -> dict[str, Any]:
    """The JSON schema a server can constrain its answer to (``response_format``): the pydantic model's own,
    inlined and closed (every key required, no others), then narrowed by the same context ``parse`` takes
    where a grammar can express the rule: counts, A/B alternation, known event ids, each speaker's own message
    ids, topic labels, evidence sizes. What it cannot (word counts, names in events, greetings, event order,
    every id in one topic) stays with ``parse``, which checks every answer all the same."""
    return schema.narrow(_closed(_inline(schema.model_json_schema())), context)


def _inline(node: Any, defs: dict[str, Any] | None = None) -> Any:
    """``node`` with every ``$ref`` replaced by its definition (grammar converters differ in ``$ref`` support)."""
    if isinstance(node, dict):
        defs = node.get("$defs", defs)
        if "$ref" in node:
            assert defs is not None
            return _inline(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
        return {k: _inline(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def _closed(node: dict[str, Any]) -> dict[str, Any]:
    """Without titles, docstrings and defaults; objects with every property required and no other."""
    out = {k: v for k, v in node.items() if k not in ("title", "description", "default")}
    if "properties" in out:
        out = _object({name: _closed(sub) for name, sub in out["properties"].items()})
    for key in ("items", "additionalProperties"):
        if isinstance(out.get(key), dict):
            out[key] = _closed(out[key])
    if "anyOf" in out:
        out["anyOf"] = [_closed(sub) for sub in out["anyOf"]]
    return out


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def _with(obj: dict[str, Any], **properties: Any) -> dict[str, Any]:
    """A copy of object schema ``obj`` with some properties' schemas replaced."""
    return _object({**obj["properties"], **properties})


def _tuple(items: list[dict[str, Any]]) -> dict[str, Any]:
    """An array of exactly these items, in this order."""
    return {"type": "array", "prefixItems": items, "items": False, "minItems": len(items), "maxItems": len(items)}


COPY_WORDS = 8  # this many words in a row from the task (its example, its input) in an answer are a copy


def _ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    toks = re.findall(r"[a-z0-9']+", text.lower())
    return {tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)}


def copies(data: Any, task: str, where: str = "") -> list[str]:
    """Where the answer's strings repeat COPY_WORDS words in a row of the task: an example sentence taken over
    (small models do: six events that are the prompt's example, the example brief), a query that quotes its
    evidence, a message that pastes an event. Labels and names are shorter and never count."""
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in copies(v, task, f"{where}.{k}" if where else str(k))]
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in copies(v, task, f"{where}[{i}]")]
    if isinstance(data, str) and _ngrams(data, COPY_WORDS) & _ngrams(task, COPY_WORDS):
        return [f"{where} copies the task's words ({' '.join(data.split()[:6])} ...): write your own"]
    return []


def parse(schema: type[S], text: str, task: str | None = None, **context: Any) -> S:
    """The answer as ``schema``; raises InvalidAnswer with every problem, phrased for the model. ``task``: the
    prompt, whose sentences the answer must not copy (``copies``)."""
    fenced = _FENCE.match(text)
    body = fenced.group(1) if fenced else text
    try:
        data = json.loads(body, strict=False)  # a raw tab or newline inside a string is no reason to re-ask
    except json.JSONDecodeError as err:
        raise InvalidAnswer(f"not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None
    lines = [f"- {problem}" for problem in (copies(data, task) if task else [])]
    try:
        answer = schema.model_validate(data, context=context)
    except ValidationError as err:
        for e in err.errors(include_url=False):
            where = ".".join(str(p) for p in e["loc"])
            msg = e["msg"].removeprefix("Value error, ")
            lines.append(f"- {where}: {msg}" if where else f"- {msg}")
    if lines:
        raise InvalidAnswer("\n".join(lines))
    return answer
