"""LLM synthesis backend (``synthesis=openai``), and the LLM steps it shares with LLM topic clustering
(``topics=llm``, hins.stages.topics_llm) and LLM queries for the conversations of any source (``queries=llm``,
hins.stages.queries_llm).

Every LLM step of the paper's data construction (§3: events, brief, conversation, topics, queries) is a prompt file (hins/synthesis/prompts/, named in the
config) rendered with the step's inputs as JSON, and an answer schema (hins/synthesis/schemas.py). An answer
that breaks the schema is asked again with the problems listed, up to ``max_repairs`` times, then dropped and
counted (as is a request the endpoint refuses, e.g. too long for the model): a conversation is kept only when
all of its steps produced valid answers, so nothing invalid reaches the dataset. Conversations run concurrently
on one event loop, throttled by the client (llm_client.py).

Per conversation: events and brief of each person → conversation (A/B turns, in event order) → topic clusters
(per-speaker message ids; they become the messages' topic labels) → 2+2+2 queries with evidence ids.
The last two steps also serve conversations of other sources: ``LLMSynthesizer.annotate`` (topics and
queries), ``LLMTopics`` (``topics=llm``, topics only) and ``LLMQueries`` (``queries=llm``, the training
queries of a procedural or LoCoMo-format source), with any data source.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from string import Template
from typing import Any, TypeVar

from pydantic import BaseModel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hins.core.config import LLMEndpointConfig, LLMSynthesisConfig
from hins.core.records import Conversation, Event, Message, Persona, Query
from hins.synthesis.llm_client import LLMClient, LLMRefused, Usage, cost_usd
from hins.synthesis.procedural import BRIEF_WORDS, EVENT_WORDS, EVIDENCE_RANGE, MESSAGE_WORDS
from hins.synthesis.schemas import (BriefAnswer, ConversationAnswer, EventsAnswer, InvalidAnswer, QueriesAnswer,
                                    TopicsAnswer, parse, problem_kinds, response_schema)

A = TypeVar("A", bound=BaseModel)
Job = tuple[str, Persona, Persona]  # conversation id, P1, P2
QUERIES_PER_KIND = 2
TOPIC_RANGE = (2, 8)
_DROP_EXAMPLES = 5  # per step, the problems of this many dropped answers go into the stats
_TOKENS_PER_WORD = 1.4  # English prose in GPT-style tokenizers, JSON punctuation included; for estimates only


def speaker_names(p1: Persona, p2: Persona) -> list[str]:
    """First names where they differ (how people address each other), else full names."""
    if p1.name == p2.name:
        raise ValueError(f"both personas are named {p1.name!r}; a conversation needs two distinct speakers")
    f1, f2 = p1.name.split()[0], p2.name.split()[0]
    return [f1, f2] if f1 != f2 else [p1.name, p2.name]


def _persona_input(p: Persona) -> dict[str, Any]:
    return {"name": p.name, "sex": p.sex, "age": p.age, "marital_status": p.marital_status,
            "education": f"{p.education_level}" + (f", {p.education_field}" if p.education_field != "none" else ""),
            "location": ", ".join(x for x in (p.city, p.state, p.country) if x), "personality": p.traits}


def _lines(conv: Conversation) -> list[str]:
    return [f"[{m.mid}] {m.speaker}: {m.text}" for m in conv.messages]


class _Steps:
    """The prompts, the answer schemas and the repair loop, over one client; counts what was dropped."""

    def __init__(self, settings: LLMEndpointConfig):
        self.settings = settings
        self.templates = {step: Template(settings.prompt_path(step).read_text()) for step in settings.prompts}
        self.invalid: Counter[str] = Counter()  # answers that broke the schema, per step
        self.repaired: Counter[str] = Counter()  # steps that needed a re-ask and then passed
        self.dropped: Counter[str] = Counter()  # steps given up after max_repairs, refused or not possible
        self.drop_errors: dict[str, list[str]] = {}  # step -> why it was dropped, for the first few drops
        self.asked: Counter[str] = Counter()  # steps asked (repairs not counted)
        self.valid_first: Counter[str] = Counter()  # steps whose first answer passed
        self.drop_reasons: dict[str, Counter[str]] = {}  # step -> the kinds of problem of the dropped answers
        self.client: LLMClient | None = None

    def render(self, step: str, inputs: dict[str, Any], **fields: Any) -> str:
        return self.templates[step].substitute(input=json.dumps(inputs, indent=1, ensure_ascii=False), **fields)

    async def ask(self, step: str, schema: type[A], prompt: str, context: dict[str, Any], salt: str = "") -> A | None:
        assert self.client is not None
        messages = [{"role": "system", "content": self.templates["system"].substitute()},
                    {"role": "user", "content": prompt}]
        problems = ""
        self.asked[step] += 1
        shape = response_schema(schema, **context) if self.settings.json_schema else None
        for attempt in range(self.settings.max_repairs + 1):
            try:
                answer = await self.client.complete(step, messages, salt, shape)
            except LLMRefused as err:  # too long for the model, filtered: a re-ask cannot help
                problems = str(err)
                break
            try:
                parsed = parse(schema, answer.text, prompt, **context)
            except InvalidAnswer as err:
                self.invalid[step] += 1
                problems = str(err)
                messages = [*messages, {"role": "assistant", "content": answer.text},
                            {"role": "user", "content": self.templates["repair"].substitute(error=str(err))}]
                continue
            (self.repaired if attempt else self.valid_first)[step] += 1
            return parsed
        self.drop(step, problems)
        return None

    def drop(self, step: str, problems: str) -> None:
        self.dropped[step] += 1
        self.drop_reasons.setdefault(step, Counter()).update(problem_kinds(problems))
        examples = self.drop_errors.setdefault(step, [])
        if len(examples) < _DROP_EXAMPLES:
            examples.append(problems)

    async def cluster(self, conv: Conversation, k: tuple[int, int]) -> list[str] | None:
        """The topic label of every message (paper Eq. 12), or None when the answers stayed invalid."""
        context = {"speakers": [m.speaker for m in conv.messages], "k_min": k[0], "k_max": k[1]}
        answer = await self.ask("topics", TopicsAnswer, self.topics_prompt(conv, k), context)
        return answer.labels(len(conv.messages)) if answer else None

    def topics_prompt(self, conv: Conversation, k: tuple[int, int]) -> str:
        a, b = conv.speakers[:2]
        return self.render("topics", {"speakers": [a, b], "messages": _lines(conv)}, k_min=k[0], k_max=k[1],
                           speaker_a=a, speaker_b=b)

    def queries_prompt(self, conv: Conversation, topics: Sequence[str], evidence: tuple[int, int]) -> str:
        a, b = conv.speakers
        briefs = conv.briefs or ["", ""]  # other sources may have none: the names and the dialogue remain
        inputs = {"people": {a: briefs[0], b: briefs[1]}, "topics": list(topics), "messages": _lines(conv)}
        return self.render("queries", inputs, n_queries=3 * QUERIES_PER_KIND, speaker_a=a, speaker_b=b,
                           evidence_min=evidence[0], evidence_max=evidence[1])

    async def annotate(self, conv: Conversation, evidence: tuple[int, int], qid_tag: str = "-q"
                       ) -> tuple[Conversation, list[Query]] | None:
        """The LLM's topic clusters as the messages' labels, then 2+2+2 queries over them with ``evidence``
        (min, max) ids each, ids ``{cid}{qid_tag}{i}``; None when an answer stayed invalid."""
        if len(conv.speakers) != 2:  # the prompts and schemas are about two people: dropped like an invalid answer
            self.drop("topics", f"conversation {conv.cid}: LLM topics and queries need two speakers, "
                                f"it has {conv.speakers}")
            return None
        labels = await self.cluster(conv, TOPIC_RANGE)
        if labels is None:
            return None
        conv = replace(conv, messages=[replace(m, topic=label) for m, label in zip(conv.messages, labels)])
        names, speakers = conv.speakers, [m.speaker for m in conv.messages]
        topics = list(dict.fromkeys(labels))
        answer = await self.ask(
            "queries", QueriesAnswer, self.queries_prompt(conv, topics, evidence),
            {"speakers": speakers, "names": names, "topics": topics, "per_kind": QUERIES_PER_KIND,
             "evidence": evidence})
        if answer is None:
            return None
        queries = []
        for i, q in enumerate(answer.queries):
            evidence_ids = sorted(set(q.evidence))
            target = q.target
            if q.about == "both":  # a shared query's target: the speaker with most evidence messages
                said = Counter(speakers[m] for m in evidence_ids)
                target = max(names, key=lambda n: (said[n], n == q.target))
            kind = {names[0]: "p1", names[1]: "p2"}.get(q.about, "shared")
            queries.append(Query(qid=f"{conv.cid}{qid_tag}{i}", cid=conv.cid, text=q.text.strip(), target=target,
                                 kind=kind, topic=q.topic, evidence=evidence_ids))
        return conv, queries

    def stats(self, usage: Usage) -> dict[str, Any]:
        return {"model": self.settings.model, "asked": dict(self.asked), "invalid_answers": dict(self.invalid),
                "valid_first": dict(self.valid_first),
                "repaired": dict(self.repaired), "dropped_steps": dict(self.dropped),
                "drop_reasons": {step: dict(c.most_common()) for step, c in self.drop_reasons.items()},
                "drop_errors": self.drop_errors, "usage": usage.to_dict()}


def _run_all(steps: _Steps, desc: str, items: Sequence[Any], work: Callable[[Any], Any]) -> tuple[list[Any], Usage]:
    """``work(item)`` for every item concurrently (the client throttles), with a progress bar showing tokens
    and cost. Returns the results in item order and the usage."""

    async def main() -> tuple[list[Any], Usage]:
        async with LLMClient(steps.settings) as client:
            steps.client = client
            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                       TextColumn("{task.fields[usage]}"))
            with Progress(*columns) as bar:
                task = bar.add_task(desc, total=len(items), usage="")

                async def one(item: Any) -> Any:
                    result = await work(item)
                    bar.update(task, advance=1, usage=client.usage.line())
                    return result

                futures = [asyncio.ensure_future(one(item)) for item in items]
                try:
                    return list(await asyncio.gather(*futures)), client.usage
                finally:  # after a fatal error the others stop; their finished calls are cached already
                    for f in futures:
                        f.cancel()

    return asyncio.run(main())


def _batch(steps: _Steps, desc: str, items: Sequence[Any], work: Callable[[Any], Any]
           ) -> tuple[list[Conversation], list[Query], dict[str, Any]]:
    """``work`` (a conversation's steps) for every item; the conversations and queries of those whose
    steps all passed, and the stats (dropped conversations counted)."""
    results, usage = _run_all(steps, f"{desc} ({steps.settings.model})", items, work)
    kept = [r for r in results if r is not None]
    stats = {"requested_conversations": len(items), "conversations": len(kept),
             "dropped_conversations": len(items) - len(kept), **steps.stats(usage)}
    return [c for c, _ in kept], [q for _, qs in kept for q in qs], stats


class LLMSynthesizer:
    """The paper's LLM data construction; same role as ProceduralSynthesizer, in batches (``synthesize``)."""

    def __init__(self, seed: int, **settings: Any):
        self.seed = seed
        self.settings = LLMSynthesisConfig.model_validate(settings)
        self.dry_run = self.settings.dry_run
        self.steps = _Steps(self.settings)

    # ---- the steps: prompt inputs, answer context ----
    def _events_prompt(self, p: Persona) -> str:
        return self.steps.render("events", {"person": _persona_input(p)}, n_events=self.settings.events_per_person,
                                 first_name=p.name.split()[0])

    def _brief_prompt(self, p: Persona) -> str:
        # Without the name, which the brief must not use: 22 of 48 SmolLM2 briefs used it when shown it.
        return self.steps.render("brief", {"person": {k: v for k, v in _persona_input(p).items() if k != "name"}})

    async def _events(self, p: Persona) -> list[Event] | None:
        context = {"name": p.name, "n_events": self.settings.events_per_person}
        answer = await self.steps.ask("events", EventsAnswer, self._events_prompt(p), context)
        if answer is None:
            return None
        return [Event(person=p.name, text=e.text.strip(), category=e.category, theme=e.theme.strip(), order=i)
                for i, e in enumerate(answer.events)]

    async def _brief(self, p: Persona) -> str | None:
        answer = await self.steps.ask("brief", BriefAnswer, self._brief_prompt(p), {"name": p.name})
        return answer.brief.strip() if answer else None

    def _conversation_prompt(self, names: list[str], briefs: Sequence[str], events: Sequence[Sequence[str]]) -> str:
        people = {label: {"name": name, "brief": brief,
                          "events": {f"{label}{i + 1}": text for i, text in enumerate(evs)}}
                  for label, name, brief, evs in zip("AB", names, briefs, events)}
        return self.steps.render("conversation", people, n_messages=2 * self.settings.turns, turns=self.settings.turns)

    async def _dialogue(self, job: Job) -> tuple[Conversation, list[Query]] | None:
        cid, p1, p2 = job
        names = speaker_names(p1, p2)
        e1, e2, b1, b2 = await asyncio.gather(self._events(p1), self._events(p2), self._brief(p1), self._brief(p2))
        if e1 is None or e2 is None or b1 is None or b2 is None:
            return None
        events = [[e.text for e in e1], [e.text for e in e2]]
        turns = await self.steps.ask(
            "conversation", ConversationAnswer, self._conversation_prompt(names, [b1, b2], events),
            {"n_messages": 2 * self.settings.turns,
             "events": [f"{label}{i + 1}" for label, evs in zip("AB", events) for i in range(len(evs))]},
            salt=f"{self.seed}:{cid}")  # the same two people in another conversation or run: another dialogue
        if turns is None:
            return None
        conv = Conversation(cid=cid, speakers=names, personas=[p1, p2], briefs=[b1, b2], events=e1 + e2,
                            messages=[Message(mid=i, speaker=names["AB".index(t.speaker)], text=t.text.strip())
                                      for i, t in enumerate(turns.messages)])
        return await self.steps.annotate(conv, EVIDENCE_RANGE)

    def synthesize(self, jobs: Sequence[Job], progress: Any = None
                   ) -> tuple[list[Conversation], list[Query], dict[str, Any]]:
        """All conversations concurrently; those with an invalid step are dropped and counted in the stats. The
        progress bar is the client's own (tokens and cost beside the count), not the runner's ``progress``."""
        return _batch(self.steps, "LLM synthesis", jobs, self._dialogue)

    def annotate(self, conversations: Sequence[Conversation]) -> tuple[list[Conversation], list[Query], dict[str, Any]]:
        """LLM topic labels and queries for conversations of another source (procedural, LoCoMo-format): copies
        of the conversations with the LLM's topic on every message, and their queries; dropped ones counted."""
        return _batch(self.steps, "LLM topics and queries", conversations,
                      lambda conv: self.steps.annotate(conv, EVIDENCE_RANGE))

    def placeholders(self, jobs: Sequence[Job]) -> list[Conversation]:
        """Stand-ins for the conversations the jobs would give, to price the LLM work done on them (here and by
        ``topics=llm`` / ``queries=llm``) without writing them: 2 × turns messages of MESSAGE_WORDS' midpoint."""
        text = " ".join(["word"] * int(_mid(MESSAGE_WORDS)))
        brief = " ".join(["word"] * int(_mid(BRIEF_WORDS)))
        convs = []
        for cid, p1, p2 in jobs:
            names = speaker_names(p1, p2)
            convs.append(Conversation(cid=cid, speakers=names, personas=[p1, p2], briefs=[brief, brief],
                                      messages=[Message(mid=i, speaker=names[i % 2], text=text)
                                                for i in range(2 * self.settings.turns)]))
        return convs

    def estimate(self, jobs: Sequence[Job]) -> dict[str, Any]:
        """Calls, tokens and cost the jobs would need without repairs, spending nothing. Event and brief
        prompts are the real ones; later prompts hold answers not written yet (``placeholders``)."""
        s = self.settings
        n_ev = s.events_per_person
        event = " ".join(["word"] * int(_mid(EVENT_WORDS)))
        tally = _Tally(self.steps)
        people: set[str] = set()
        for (_, p1, p2), conv in zip(jobs, self.placeholders(jobs)):
            for p in (p1, p2):
                if p.pid not in people:  # a person's events and brief are asked once (then cached)
                    people.add(p.pid)
                    tally.add("events", self._events_prompt(p), n_ev * (_mid(EVENT_WORDS) + 6))
                    tally.add("brief", self._brief_prompt(p), _mid(BRIEF_WORDS) + 2)
            dialogue = len(conv.messages) * (_mid(MESSAGE_WORDS) + 4)  # with ids, speakers and JSON
            tally.add("conversation", self._conversation_prompt(conv.speakers, conv.briefs, [[event] * n_ev] * 2),
                      dialogue)
            tally.annotation(conv, EVIDENCE_RANGE)
        return tally.report(len(jobs))


class _Tally:
    """What a dry run counts per step: calls, the words of the prompts as they would be sent (system prompt
    included) and of the answers expected, sized by the rules' midpoints; ``report`` turns them into tokens and cost."""

    def __init__(self, steps: _Steps):
        self.steps = steps
        self.system = _words(steps.templates["system"].template)
        self.calls: Counter[str] = Counter()
        self.words_in: Counter[str] = Counter()
        self.words_out: Counter[str] = Counter()

    def add(self, step: str, prompt: str, answer_words: float) -> None:
        self.calls[step] += 1
        self.words_in[step] += self.system + _words(prompt)
        self.words_out[step] += answer_words

    def topics(self, conv: Conversation, k: tuple[int, int]) -> None:
        """``_Steps.cluster``: the real prompt; the answer up to k_max labels, then an id and a number per message."""
        self.add("topics", self.steps.topics_prompt(conv, k), k[1] * 6 + 4 * len(conv.messages))

    def annotation(self, conv: Conversation, evidence: tuple[int, int]) -> None:
        """``_Steps.annotate``: the topics call, then the queries prompt with TOPIC_RANGE's midpoint of labels."""
        self.topics(conv, TOPIC_RANGE)
        labels = [f"topic {i}" for i in range(int(_mid(TOPIC_RANGE)))]
        self.add("queries", self.steps.queries_prompt(conv, labels, evidence),
                 3 * QUERIES_PER_KIND * (14 + _mid(evidence)))

    def report(self, conversations: int) -> dict[str, Any]:
        settings = self.steps.settings
        tokens_in = {step: _tokens(w) for step, w in self.words_in.items()}
        tokens_out = {step: _tokens(w) for step, w in self.words_out.items()}
        total_in, total_out = sum(tokens_in.values()), sum(tokens_out.values())
        return {"model": settings.model, "conversations": conversations, "calls": dict(self.calls),
                "total_calls": sum(self.calls.values()), "input_tokens": tokens_in, "output_tokens": tokens_out,
                "total_input_tokens": total_in, "total_output_tokens": total_out,
                "cost_usd": round(cost_usd(settings, total_in, total_out), 4),
                "note": f"estimate without repairs or cache hits, at {_TOKENS_PER_WORD} tokens per word"}


def _mid(bounds: tuple[int, int]) -> float:
    return sum(bounds) / 2


def _words(text: str) -> int:
    return len(text.split())


def _tokens(words: float) -> int:
    return math.ceil(words * _TOKENS_PER_WORD)
