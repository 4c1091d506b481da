"""Offline synthesis backend: events, briefs, conversations and queries (pipeline stages 2-4 and 6).

It stands in for the paper's LLM data construction (events, brief, conversation, topics, queries; §3) with seeded templates over a theme bank,
and, unlike an LLM, it knows the truth: every message carries the topic it is about, and every query's
evidence is exactly the set of messages that answer it.

A conversation is laid out so the data are useful for hierarchical negatives:

    greeting | catch-up | block | interlude | block | interlude | block | closing

Each of the three topic blocks (10-14 messages) is about one theme and both speakers talk about it in
their own words: block A is about one of P1's events, block B about one of P2's, block C about something
the two did or plan to do together. Every (block, speaker) pair carries one query, so a query's evidence is
the target's 5-7 messages on the topic (plus, for shared queries, the other speaker's one or two messages
that state the joint facts), and the other speaker's remaining messages on the same topic are the hard
negatives. Catch-up and interlude messages mention the speakers' other events in time order, or are small
talk; they and the other blocks are the medium negatives.

Everything is a pure function of (seed, persona) or (seed, conversation id): ``random.Random`` with string
seeds, no shared state, so results do not depend on call order or on the process.
"""

from __future__ import annotations

import random
import re
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hins.core.records import Conversation, Event, Message, Persona, Query
from hins.stages.base import no_progress
from hins.synthesis import templates as T
from hins.synthesis.persona_tables import FIELD_OCCUPATIONS, TRADE_OCCUPATIONS
from hins.synthesis.themes import CATEGORIES, THEMES, Theme

MESSAGE_WORDS = (5, 40)
EVENT_WORDS = (10, 25)
BRIEF_WORDS = (15, 25)
EVIDENCE_RANGE = (5, 12)

# Blocks of 10-14 messages give each speaker 5-7 messages on the block's topic.
_BLOCK_MIN, _BLOCK_MAX = 10, 14
# Phrases that read both as "... we went {when}" and "thinking about {when}, when we ...".
_JOINT_PAST_WHEN = ("last weekend", "last Saturday", "last Friday night", "last Sunday", "the weekend before last")
_RETIRED_PLACES = ("community center", "library", "garden club", "senior center", "church office")

_SENTENCE_START = re.compile(r"(^|[.!?]\s+)([a-z])")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,!?:])")
_HAS_PLACE = re.compile(r"\b(at|in|on|along|around|through|across|by|up|inside) (the|a|an)\b")
_TOKEN = re.compile(r"[a-z0-9']+")
_TAG = re.compile(r"^\[(\w+)\]\s*")


def _upper(m: re.Match) -> str:
    return m.group(1) + m.group(2).upper()


def _cap(text: str) -> str:
    """Tidy a formatted template: drop the gaps an empty slot leaves, capitalise sentence starts."""
    text = " ".join(text.split())
    if " ." in text or " ," in text:
        text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    return _SENTENCE_START.sub(_upper, text)


def _place_for(act: str, place: str) -> str:
    """The place phrase, or nothing when the act already says where ("... at the warehouse store")."""
    words = {w for w in _TOKEN.findall(place.lower()) if len(w) > 3}
    return "" if _HAS_PLACE.search(act) or words & set(_TOKEN.findall(act.lower())) else place


def _nwords(text: str) -> int:
    return len(text.split())


def _tagged(lines: Sequence[str]) -> tuple[tuple[str | None, str], ...]:
    """Split '[kind] template' lines into (kind, template); kind None when untagged."""
    out = []
    for line in lines:
        m = _TAG.match(line)
        out.append((m.group(1), line[m.end():]) if m else (None, line))
    return tuple(out)


_Q_LEAD = _tagged(T.Q_LEAD)
_Q_FOLLOW = _tagged(T.Q_FOLLOW)
_Q_SHARED_PAST = _tagged(T.Q_SHARED_PAST)
_Q_SHARED_PLAN = _tagged(T.Q_SHARED_PLAN)

# Occupation nouns the synthesizer can recognise inside a free-text professional trait (longest first,
# so "pediatric nurse" wins over "nurse").
_KNOWN_JOBS: dict[str, str] = {
    job.lower(): workplace
    for job, workplace in sorted({p for pairs in FIELD_OCCUPATIONS.values() for p in pairs} | set(TRADE_OCCUPATIONS),
                                 key=lambda p: (-len(p[0]), p))
}
_JOB_PATTERN = re.compile(r"\b(" + "|".join(re.escape(j) for j in _KNOWN_JOBS) + r")\b")
_CACHE_SIZE = 4096


@dataclass(frozen=True)
class _Profile:
    """What the synthesizer derives from a persona for its texts."""

    first: str
    job: str
    workplace: str
    age_word: str  # "young ", "42-year-old ", "" ... (with its trailing space)
    marital_word: str
    city: str
    state: str
    affinity: dict[str, float]  # theme key -> sampling weight from the persona's traits


@dataclass(frozen=True)
class _EventPlan:
    theme: Theme
    act: str
    place: str
    when: str
    order: int


@dataclass
class _Voice:
    """One speaker's material for one block: theme fragments, each used once before any repeats."""

    pools: dict[str, list[str]]
    used: set[str] = field(default_factory=set)  # kinds of sentences said, for answerable query templates
    things_said: list[str] = field(default_factory=list)
    count: int = 0

    def take(self, kind: str) -> str:
        pool = self.pools[kind]
        item = pool.pop(0)
        pool.append(item)
        return item


@dataclass
class _Turn:
    speaker: int
    text: str
    topic: str
    we: bool = False  # states a joint fact (evidence for shared queries whoever the target)


@dataclass(frozen=True)
class _QuerySpec:
    kind: str  # p1 | p2 | shared
    target: int
    topic: str
    role: str  # lead | follow | joint_past | joint_plan
    theme: Theme
    used: frozenset[str]
    things: tuple[str, ...]
    when: str
    ftime: str
    evidence: tuple[int, ...]


class ProceduralSynthesizer:
    """Seeded, persona-grounded generator of events, briefs, conversations and queries with true labels."""

    def __init__(self, seed: int, events_per_person: int = 6, turns: int = 20) -> None:
        if not 4 <= events_per_person <= 12:
            raise ValueError(f"events_per_person must be 4-12 (four categories are covered), got {events_per_person}")
        # 3 blocks of 10-14 messages plus 4-6 greeting/closing messages must fit exactly.
        if not 17 <= turns <= 24:
            raise ValueError(f"turns must be 17-24 (three topic blocks of 10-14 messages), got {turns}")
        self.seed = seed
        self.events_per_person = events_per_person
        self.turns = turns
        self._cache: dict = {}
        # Recent compositions, so queries() after conversation() does not compose the dialogue again.
        self._recent: OrderedDict[tuple, tuple[tuple[str, ...], list[_QuerySpec]]] = OrderedDict()

    # ------------------------------------------------------------------ persona-level
    def _cached(self, kind: str, persona: Persona, make):
        """Memoise per persona content: results are pure functions of it, the cache only saves time."""
        key = (kind, persona.pid, persona.name, persona.sex, persona.age, persona.marital_status,
               persona.education_level, persona.education_field, persona.city, persona.state, persona.country,
               tuple(persona.traits.items()))
        hit = self._cache.get(key)
        if hit is None:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            hit = self._cache[key] = make(persona)
        return hit

    def _profile(self, persona: Persona) -> _Profile:
        return self._cached("profile", persona, self._make_profile)

    def _event_plans(self, persona: Persona) -> list[_EventPlan]:
        return self._cached("plans", persona, self._make_event_plans)

    def _make_profile(self, persona: Persona) -> _Profile:
        rng = random.Random(f"{self.seed}:profile:{persona.pid}:{persona.name}")
        first = persona.name.split()[0] if persona.name.split() else persona.name
        job, workplace = self._job(rng, persona)
        age = persona.age
        retired = age >= 67
        if retired:
            job, workplace = f"retired {job}", rng.choice(_RETIRED_PLACES)
        elif age <= 22 and any(w in persona.education_level.lower() for w in ("college", "bachelor", "associate")):
            job, workplace = "college student", "campus"
        if retired:
            age_word = ""
        elif rng.random() < 0.3:
            age_word = f"{age}-year-old "
        elif age < 30:
            age_word = "young "
        elif age >= 50 and rng.random() < 0.4:
            age_word = "middle-aged "
        else:
            age_word = ""
        marital = persona.marital_status.lower()
        marital_word = ""
        if rng.random() < 0.35:
            for key, word in (("never", "single "), ("married", "married "), ("divorced", "divorced "),
                              ("widow", "widowed ")):
                if key in marital:
                    marital_word = word
                    break
        return _Profile(
            first=first,
            job=job,
            workplace=workplace,
            age_word=age_word,
            marital_word=marital_word,
            city=persona.city or "town",
            state=persona.state or persona.country or "home",
            affinity=self._affinity(persona, job, retired or job == "college student"),
        )

    @staticmethod
    def _job(rng: random.Random, persona: Persona) -> tuple[str, str]:
        m = _JOB_PATTERN.search(persona.traits.get("professional", "").lower())
        if m:
            return m.group(1), _KNOWN_JOBS[m.group(1)]
        fld = persona.education_field.lower().replace("_", " ").strip()
        if fld in FIELD_OCCUPATIONS:
            return rng.choice(FIELD_OCCUPATIONS[fld])
        for key, pairs in FIELD_OCCUPATIONS.items():
            if fld and (key in fld or fld in key):
                return rng.choice(pairs)
        return rng.choice(TRADE_OCCUPATIONS)

    @staticmethod
    def _affinity(persona: Persona, job: str, no_work: bool) -> dict[str, float]:
        # Word prefixes of the traits, so keyword "garden" matches "gardening" but "art" not "start".
        text = " ".join([*persona.traits.values(), persona.education_field, job]).lower()
        prefixes = {w[:n] for w in _TOKEN.findall(text) for n in range(3, min(len(w), 10) + 1)}
        weights = {}
        for theme in THEMES:
            hits = sum(1 for k in theme.keywords if k in prefixes)
            weights[theme.key] = 1.0 + 4.0 * min(hits, 3)
        if no_work:
            weights["work_shift"] = 0.0
        return weights

    def _make_event_plans(self, persona: Persona) -> list[_EventPlan]:
        rng = random.Random(f"{self.seed}:events:{persona.pid}:{persona.name}")
        prof = self._profile(persona)
        cats = list(CATEGORIES)
        # The four categories once each, the rest leaning to hobbies and social life like real chat.
        cats += rng.choices(CATEGORIES, weights=(2, 3, 4, 1), k=self.events_per_person - len(CATEGORIES))
        rng.shuffle(cats)
        chosen: list[Theme] = []
        for cat in cats:
            pool = [t for t in THEMES if t.category == cat and t not in chosen]
            pool = pool or [t for t in THEMES if t not in chosen]
            weights = [prof.affinity[t.key] for t in pool]
            if not any(weights):
                weights = [1.0] * len(pool)
            chosen.append(rng.choices(pool, weights=weights)[0])
        slots = sorted(rng.sample(range(len(T.DAYS) * len(T.DAY_PARTS)), len(chosen)))
        plans = []
        for order, (theme, slot) in enumerate(zip(chosen, slots)):
            day, part = T.DAYS[slot // len(T.DAY_PARTS)], T.DAY_PARTS[slot % len(T.DAY_PARTS)]
            act = self._fill(rng.choice(theme.acts), prof)
            plans.append(_EventPlan(
                theme=theme,
                act=act,
                place=_place_for(act, self._fill(rng.choice(theme.places), prof)),
                when=f"on {day} {part}",
                order=order,
            ))
        return plans

    @staticmethod
    def _fill(fragment: str, prof: _Profile) -> str:
        return fragment.replace("{workplace}", prof.workplace)

    def events(self, persona: Persona) -> list[Event]:
        """The person's events in time order: 10-25 words each, named, all four categories."""
        rng = random.Random(f"{self.seed}:event-text:{persona.pid}:{persona.name}")
        prof = self._profile(persona)
        out = []
        for plan in self._event_plans(persona):
            name = persona.name if rng.random() < 0.3 else prof.first
            text = ""
            for _ in range(20):
                text = _cap(rng.choice(T.EVENT).format(
                    When=plan.when, when=plan.when, name=name, act=plan.act, place=plan.place,
                    tail=rng.choice(T.EVENT_TAILS)))
                if EVENT_WORDS[0] <= _nwords(text) <= EVENT_WORDS[1]:
                    break
            else:
                text = _cap(f"{plan.when}, {name} {plan.act} {plan.place}, {rng.choice(T.EVENT_TAILS)}.")
            out.append(Event(person=persona.name, text=text, category=plan.theme.category,
                             theme=plan.theme.key, order=plan.order))
        return out

    def _brief_parts(self, persona: Persona) -> list[str]:
        """Brief predicates: the person's hobby and social events first, then their best-matching themes."""
        prof = self._profile(persona)
        rng = random.Random(f"{self.seed}:brief-parts:{persona.pid}:{persona.name}")
        themes = [p.theme for p in self._event_plans(persona) if p.theme.category in ("hobby", "social")]
        themes.sort(key=lambda t: -prof.affinity[t.key])
        ranked = sorted(THEMES, key=lambda t: (-prof.affinity[t.key], t.key))
        for t in ranked:
            if len(themes) >= 3:
                break
            if t not in themes:
                themes.append(t)
        return [self._fill(rng.choice(t.brief), prof) for t in themes[:3]]

    def brief(self, persona: Persona) -> str:
        """A 15-25 word description: 'the retired nurse from Tucson, Arizona who ... and ...'."""
        prof = self._profile(persona)
        rng = random.Random(f"{self.seed}:brief:{persona.pid}:{persona.name}")
        b1, b2, b3 = self._brief_parts(persona)
        values = dict(age=prof.age_word, job=prof.job, city=prof.city, state=prof.state,
                      marital=prof.marital_word, b1=b1, b2=b2, b3=b3)
        order = list(T.BRIEF)
        rng.shuffle(order)
        candidates = [t.format(**values) for t in order]
        for text in candidates:
            if BRIEF_WORDS[0] <= _nwords(text) <= BRIEF_WORDS[1]:
                return text
        # Safety net for unusually long or short fragments (custom personas): pad, then cut to the bound.
        text = min(candidates, key=lambda c: abs(_nwords(c) - 20))
        if _nwords(text) < BRIEF_WORDS[0]:
            text = f"{text}, and {b3} whenever there is time on the weekend"
        return " ".join(text.split()[: BRIEF_WORDS[1]])

    def _brief_refs(self, persona: Persona) -> list[str]:
        prof = self._profile(persona)
        return [r.format(age=prof.age_word, job=prof.job, city=prof.city) for r in T.BRIEF_REFS]

    # ------------------------------------------------------------------ conversation
    def conversation(self, cid: str, p1: Persona, p2: Persona) -> Conversation:
        """A two-person dialogue of 2*turns alternating messages, every message labelled with its topic."""
        conv, specs = self._compose(cid, p1, p2)
        self._recent[self._recent_key(cid, p1, p2)] = (tuple(m.text for m in conv.messages), specs)
        while len(self._recent) > 256:
            self._recent.popitem(last=False)
        return conv

    @staticmethod
    def _recent_key(cid: str, p1: Persona, p2: Persona) -> tuple:
        return (cid, repr(p1), repr(p2))

    def synthesize(self, jobs: Sequence[tuple[str, Persona, Persona]], progress: Any = None
                   ) -> tuple[list[Conversation], list[Query], None]:
        """Every job's conversation and its queries, one after another (``progress``: the runner's bar)."""
        convs: list[Conversation] = []
        queries: list[Query] = []
        with (progress or no_progress)("synthesising conversations", len(jobs)) as advance:
            for cid, p1, p2 in jobs:
                conv = self.conversation(cid, p1, p2)
                convs.append(conv)
                queries += self.queries(conv)
                advance(1)
        return convs, queries, None

    def queries(self, conv: Conversation) -> list[Query]:
        """2 queries about P1, 2 about P2, 2 shared, each with its topic and evidence message ids.

        The conversation must be one this synthesizer (same seed) made: the query plan is recomputed from
        (seed, cid, personas) and checked against the messages.
        """
        if len(conv.personas) != 2:
            raise ValueError(f"conversation {conv.cid} has no personas; procedural queries need its two personas")
        recent = self._recent.get(self._recent_key(conv.cid, conv.personas[0], conv.personas[1]))
        if recent is None:
            ref, specs = self._compose(conv.cid, conv.personas[0], conv.personas[1])
            recent = (tuple(m.text for m in ref.messages), specs)
        texts, specs = recent
        if list(texts) != [m.text for m in conv.messages]:
            raise ValueError(
                f"conversation {conv.cid} was not generated by ProceduralSynthesizer(seed={self.seed}, "
                f"turns={self.turns}); procedural queries only apply to its own conversations")
        rng = random.Random(f"{self.seed}:queries:{conv.cid}")
        names = [p.name.split()[0] for p in conv.personas]
        refs = [self._brief_refs(p) for p in conv.personas]
        used_templates: set[str] = set()
        out = []
        for j, spec in enumerate(specs):
            who = self._person_ref(rng, conv.personas[spec.target], refs[spec.target], refs[1 - spec.target])
            text = self._query_text(rng, spec, who, names[1 - spec.target], used_templates)
            out.append(Query(qid=f"{conv.cid}-q{j}", cid=conv.cid, text=text, target=conv.speakers[spec.target],
                             kind=spec.kind, topic=spec.topic, evidence=list(spec.evidence)))
        return out

    @staticmethod
    def _person_ref(rng: random.Random, persona: Persona, own: list[str], other: list[str]) -> str:
        r = rng.random()
        if r < 0.45:
            return persona.name.split()[0]
        if r < 0.6:
            return persona.name
        choices = [x for x in own if x not in other]
        return rng.choice(choices) if choices else persona.name.split()[0]

    @staticmethod
    def _query_text(rng: random.Random, spec: _QuerySpec, who: str, other: str, used: set[str]) -> str:
        theme = spec.theme
        if spec.role in ("lead", "follow"):
            pool = _Q_LEAD if spec.role == "lead" else _Q_FOLLOW
            options = [tpl for kind, tpl in pool if kind is None or kind in spec.used]
            options += list(theme.questions)
        else:
            pool = _Q_SHARED_PAST if spec.role == "joint_past" else _Q_SHARED_PLAN
            options = [tpl for kind, tpl in pool if kind is None or kind in spec.used]
        fresh = [o for o in options if o not in used] or options
        tpl = rng.choice(fresh)
        used.add(tpl)
        thing = rng.choice(spec.things) if spec.things else rng.choice(theme.things)
        return _cap(tpl.format(who=who, other=other, subj=rng.choice(theme.refs), thing=thing,
                               when=spec.when, ftime=spec.ftime))

    def _speaker_names(self, p1: Persona, p2: Persona) -> list[str]:
        if p1.name == p2.name:
            raise ValueError(f"both personas are named {p1.name!r}; a conversation needs two distinct speakers")
        f1, f2 = p1.name.split()[0], p2.name.split()[0]
        return [f1, f2] if f1 != f2 else [p1.name, p2.name]

    def _compose(self, cid: str, p1: Persona, p2: Persona) -> tuple[Conversation, list[_QuerySpec]]:
        rng = random.Random(f"{self.seed}:conv:{cid}")
        personas = (p1, p2)
        speakers = self._speaker_names(p1, p2)
        profs = [self._profile(p) for p in personas]
        plans = [self._event_plans(p) for p in personas]
        ctx = [dict(o=profs[1 - s].first, job=profs[s].job, workplace=profs[s].workplace, city=profs[s].city)
               for s in (0, 1)]

        # Block themes: one event of each person that the other person does not share (so the listener's
        # own stories in that block are not one of their events, which keeps mentions in time order),
        # then a joint theme that is neither person's event.
        keys = [[p.theme.key for p in plans[s]] for s in (0, 1)]
        lead_idx = [0, 0]
        lead_idx[0] = self._pick_lead(rng, plans[0], avoid=keys[1], forbid=())
        lead_idx[1] = self._pick_lead(rng, plans[1], avoid=keys[0], forbid=(plans[0][lead_idx[0]].theme.key,))
        lead_themes = [plans[s][lead_idx[s]].theme for s in (0, 1)]
        event_keys = {p.theme.key for pl in plans for p in pl}
        joint_pool = [t for t in THEMES if t.joint and t not in lead_themes and t.key not in event_keys]
        if not joint_pool:
            joint_pool = [t for t in THEMES if t.joint and t not in lead_themes]
        joint = rng.choices(joint_pool, weights=[profs[0].affinity[t.key] * profs[1].affinity[t.key] + 0.1
                                                 for t in joint_pool])[0]
        joint_mode = rng.choice(("past", "plan"))
        block_keys = {lead_themes[0].key, lead_themes[1].key, joint.key}

        layout = self._layout(rng)
        blocks_order = ["A", "B", "C"]
        rng.shuffle(blocks_order)

        # Positions of every segment, so event mentions can be scheduled in time order.
        segments: list[tuple[str, int, int]] = []  # (kind, start, length)
        pos = 0
        block_iter = iter(blocks_order)
        for kind, length in layout:
            if kind == "block":
                kind = next(block_iter)
            segments.append((kind, pos, length))
            pos += length
        block_start = {k: s for k, s, _ in segments if k in ("A", "B", "C")}
        block_end = {k: s + n for k, s, n in segments if k in ("A", "B", "C")}
        mentions = self._schedule_mentions(rng, segments, plans, lead_idx, block_start, block_end, block_keys)

        turns: list[_Turn] = []
        voices_by_block: dict[str, list[_Voice]] = {}
        joint_facts: dict[str, str] = {}
        for kind, start, length in segments:
            first = start % 2
            if kind == "greeting":
                turns += self._greeting(rng, length, ctx)
            elif kind == "closing":
                turns += self._closing(rng, length, first, ctx)
            elif kind == "extra":
                turns += self._extras(rng, start, length, mentions, ctx)
            elif kind == "C":
                block_turns, voices, joint_facts = self._joint_block(rng, length, first, joint, joint_mode,
                                                                     profs, ctx)
                turns += block_turns
                voices_by_block[kind] = voices
            else:
                lead = 0 if kind == "A" else 1
                block_turns, voices = self._topic_block(rng, length, first, lead, plans[lead][lead_idx[lead]],
                                                        profs, ctx)
                turns += block_turns
                voices_by_block[kind] = voices

        messages = [Message(mid=i, speaker=speakers[t.speaker], text=t.text, topic=t.topic)
                    for i, t in enumerate(turns)]
        events = [e for p in personas for e in self.events(p)]
        conv = Conversation(cid=cid, speakers=list(speakers), messages=messages, personas=[p1, p2],
                            briefs=[self.brief(p1), self.brief(p2)], events=events)

        specs = []
        for kind, target, block, role in (("p1", 0, "A", "lead"), ("p1", 0, "B", "follow"),
                                          ("p2", 1, "B", "lead"), ("p2", 1, "A", "follow")):
            theme = lead_themes[0 if block == "A" else 1]
            plan = plans[0 if block == "A" else 1][lead_idx[0 if block == "A" else 1]]
            voice = voices_by_block[block][target]
            evidence = tuple(m.mid for m in messages if m.topic == theme.key and m.speaker == speakers[target])
            specs.append(_QuerySpec(kind=kind, target=target, topic=theme.key, role=role, theme=theme,
                                    used=frozenset(voice.used), things=tuple(voice.things_said),
                                    when=plan.when if role == "lead" else "", ftime="", evidence=evidence))
        for target in (0, 1):
            voice = voices_by_block["C"][target]
            evidence = tuple(i for i, t in enumerate(turns)
                             if t.topic == joint.key and (t.speaker == target or t.we))
            specs.append(_QuerySpec(kind="shared", target=target, topic=joint.key, role=f"joint_{joint_mode}",
                                    theme=joint, used=frozenset(voice.used), things=tuple(voice.things_said),
                                    when=joint_facts.get("when", ""), ftime=joint_facts.get("ftime", ""),
                                    evidence=evidence))
        # Each person's two queries in random order, so neither kind of question always comes first.
        if rng.random() < 0.5:
            specs[0], specs[1] = specs[1], specs[0]
        if rng.random() < 0.5:
            specs[2], specs[3] = specs[3], specs[2]
        return conv, specs

    @staticmethod
    def _pick_lead(rng: random.Random, plans: list[_EventPlan], avoid: Sequence[str], forbid: Sequence[str]) -> int:
        # Middle events leave earlier and later events to mention before and after the block.
        n = len(plans)
        idx = [i for i, p in enumerate(plans) if p.theme.key not in avoid and p.theme.key not in forbid]
        idx = idx or [i for i, p in enumerate(plans) if p.theme.key not in forbid]
        weights = [1.0 + min(i, n - 1 - i) for i in idx]
        return rng.choices(idx, weights=weights)[0]

    def _layout(self, rng: random.Random) -> list[tuple[str, int]]:
        total = 2 * self.turns
        # Greeting and closing of 2-3 messages each, as long as the three blocks keep their minimum.
        greet, close = rng.choice([(g, c) for g in (2, 3) for c in (2, 3) if total - g - c >= 3 * _BLOCK_MIN])
        rest = total - greet - close
        lo, hi = max(0, rest - 3 * _BLOCK_MAX), min(6, rest - 3 * _BLOCK_MIN)
        n_extra = rng.randint(lo, hi)
        extra = [0, 0, 0]  # catch-up, interlude 1, interlude 2
        for _ in range(n_extra):
            open_slots = [i for i in range(3) if extra[i] < 2]
            extra[rng.choice(open_slots)] += 1
        blocks = [_BLOCK_MIN] * 3
        for _ in range(rest - n_extra - 3 * _BLOCK_MIN):
            blocks[rng.choice([i for i in range(3) if blocks[i] < _BLOCK_MAX])] += 1
        layout = [("greeting", greet), ("extra", extra[0]), ("block", blocks[0]), ("extra", extra[1]),
                  ("block", blocks[1]), ("extra", extra[2]), ("block", blocks[2]), ("closing", close)]
        return [(k, n) for k, n in layout if n]

    @staticmethod
    def _schedule_mentions(rng, segments, plans, lead_idx, block_start, block_end, block_keys):
        """Assign events to catch-up/interlude openers so each person's mentions follow time order."""
        openers = [start for kind, start, n in segments if kind == "extra"]
        lead_block = {0: "A", 1: "B"}
        out: dict[int, _EventPlan] = {}
        for s in (0, 1):
            mine = [p for p in openers if p % 2 == s and rng.random() < 0.8]
            a = lead_idx[s]
            before = [p for p in mine if p < block_start[lead_block[s]]]
            after = [p for p in mine if p >= block_end[lead_block[s]]]
            # Themes the other person also has are skipped, so a topic label belongs to one person's events.
            theirs = {p.theme.key for p in plans[1 - s]}
            for slots, orders in ((before, range(0, a)), (after, range(a + 1, len(plans[s])))):
                usable = [o for o in orders if plans[s][o].theme.key not in block_keys | theirs]
                k = min(len(slots), len(usable))
                for slot, o in zip(sorted(rng.sample(slots, k)), sorted(rng.sample(usable, k))):
                    out[slot] = plans[s][o]
        return out

    # ------------------------------------------------------------------ message builders
    @staticmethod
    def _bounded(rng: random.Random, core: str, prefix: str = "", tail: str = "") -> str:
        """Join prefix, core and tail, dropping the optional parts until the message fits 5-40 words."""
        for parts in ((prefix, core, tail), (prefix, core), (core, tail), (core,)):
            text = _cap(" ".join(p for p in parts if p))
            if MESSAGE_WORDS[0] <= _nwords(text) <= MESSAGE_WORDS[1]:
                return text
        text = _cap(core)
        if _nwords(text) < MESSAGE_WORDS[0]:
            return _cap(f"{text} {rng.choice(T.TAILS[6:])}")
        return " ".join(text.split()[: MESSAGE_WORDS[1]])

    @staticmethod
    def _parts(rng: random.Random, parts: Sequence[Sequence[str]], ctx: dict) -> str:
        return " ".join(rng.choice(p) for p in parts).format(**ctx)

    @staticmethod
    def _react(rng: random.Random, ctx: dict) -> str:
        """A reaction, sometimes addressed to the listener ("Oh nice, Carter!")."""
        r = rng.choice(T.REACTIONS)
        if r[-1] in ".!" and rng.random() < 0.2:
            return f"{r[:-1]}, {ctx['o']}{r[-1]}"
        return r

    def _greeting(self, rng, length, ctx) -> list[_Turn]:
        out = [_Turn(0, self._bounded(rng, rng.choice(T.GREETING_OPEN).format(**ctx[0])), "greeting")]
        for i, parts in enumerate((T.GREETING_REPLY, T.GREETING_THIRD)[: length - 1], start=1):
            out.append(_Turn(i % 2, self._bounded(rng, self._parts(rng, parts, ctx[i % 2])), "greeting"))
        return out

    def _closing(self, rng, length, first, ctx) -> list[_Turn]:
        rows = (T.CLOSE_OPEN, T.CLOSE_REPLY, T.CLOSE_THIRD)
        return [_Turn((first + i) % 2, self._bounded(rng, self._parts(rng, rows[i], ctx[(first + i) % 2])),
                      "closing") for i in range(length)]

    def _extras(self, rng, start, length, mentions, ctx) -> list[_Turn]:
        out = []
        plan = mentions.get(start)
        for i in range(length):
            s = (start + i) % 2
            if i == 0 and plan is not None:
                core = rng.choice(T.MENTION).format(when=plan.when, act=plan.act, place=plan.place)
                out.append(_Turn(s, self._bounded(rng, core), plan.theme.key))
            elif i == 1 and plan is not None:
                # A short reply to a mention belongs to the mention's topic.
                out.append(_Turn(s, self._bounded(rng, self._parts(rng, T.MENTION_REPLY, ctx[s])), plan.theme.key))
            else:
                out.append(_Turn(s, self._bounded(rng, self._parts(rng, T.SMALLTALK, ctx[s])), "smalltalk"))
        return out

    def _split_pools(self, rng, theme: Theme, profs, lead: int | None, plan: _EventPlan | None) -> list[_Voice]:
        """Give the two speakers disjoint halves of the theme's fragments, so their messages differ."""
        pools: list[dict[str, list[str]]] = [{}, {}]
        for kind in ("acts", "things", "places", "details", "plans", "habits"):
            items = list(getattr(theme, kind))
            rng.shuffle(items)
            if plan is not None:
                head = {"acts": plan.act, "places": plan.place}.get(kind)
                if head is not None:
                    items = [head] + [x for x in items if self._fill(x, profs[lead]) != head]
            half = (len(items) + 1) // 2
            first = lead if lead is not None else 0
            pools[first][kind] = items[:half]
            pools[1 - first][kind] = items[half:] or items[:half]
        for s in (0, 1):
            feelings = list(theme.feelings)
            rng.shuffle(feelings)
            pools[s]["feelings"] = feelings
            for kind in pools[s]:
                pools[s][kind] = [self._fill(x, profs[s]) for x in pools[s][kind]]
        return [_Voice(pools=pools[0]), _Voice(pools=pools[1])]

    def _unit(self, rng, kind: str, voice: _Voice, other: _Voice, ctx: dict) -> str:
        """One sentence of the given kind in the speaker's voice; records what was said."""
        voice.used.add(kind)
        if kind == "act":
            act = voice.take("acts")
            return rng.choice(T.ACT).format(act=act, place=_place_for(act, voice.take("places")),
                                            ptime=rng.choice(T.PAST_TIMES))
        if kind == "detail":
            return rng.choice(T.DETAIL).format(detail=voice.take("details"))
        if kind == "thing":
            thing = voice.take("things")
            voice.things_said.append(thing)
            return rng.choice(T.THING).format(thing=thing, outcome=rng.choice(T.OUTCOMES))
        if kind == "feeling":
            return rng.choice(T.FEELING).format(feeling=voice.take("feelings"))
        if kind == "plan":
            return rng.choice(T.PLAN).format(plan=voice.take("plans"), ftime=rng.choice(T.FUTURE_TIMES))
        if kind == "habit":
            return rng.choice(T.HABIT).format(habit=voice.take("habits"))
        if kind == "persona":
            voice.used.add("habit")
            return rng.choice(T.PERSONA).format(habit=voice.take("habits"), **ctx)
        if kind == "ask":
            their = other.things_said[-1] if other.things_said else other.pools["things"][0]
            own = self._unit(rng, rng.choice(("habit", "detail")), voice, other, ctx)
            return f"{rng.choice(T.ASK).format(their_thing=their)} {own}"
        raise ValueError(kind)

    def _body(self, rng, agenda: list[str], voice: _Voice, other: _Voice, ctx: dict, react: bool) -> str:
        kind = agenda.pop(0) if agenda else rng.choice(("detail", "thing", "feeling", "habit"))
        core = _cap(self._unit(rng, kind, voice, other, ctx))
        # Sometimes a second sentence of another kind, so message length varies like real chat.
        if _nwords(core) < 20 and rng.random() < 0.5:
            extra = agenda.pop(0) if agenda else "feeling"
            if extra == kind or extra not in ("act", "detail", "thing", "feeling", "plan", "habit", "persona"):
                extra = "detail" if kind != "detail" else "feeling"
            core = f"{core} {_cap(self._unit(rng, extra, voice, other, ctx))}"
        prefix = self._react(rng, ctx) if react and rng.random() < 0.5 else ""
        tail = rng.choice(T.TAILS).format(**ctx) if not core.endswith("?") and rng.random() < 0.15 else ""
        return self._bounded(rng, core, prefix, tail)

    def _topic_block(self, rng, n, first, lead, plan: _EventPlan, profs, ctx) -> tuple[list[_Turn], list[_Voice]]:
        theme = plan.theme
        voices = self._split_pools(rng, theme, profs, lead, plan)
        agendas = []
        for s in (0, 1):
            kinds = (["detail", "thing", "feeling", "act", "plan", "detail", "habit", "thing"] if s == lead
                     else ["act", "habit", "detail", "thing", "ask", "feeling", "plan", "detail"])
            if rng.random() < 0.5:
                kinds.append("persona")
            rng.shuffle(kinds)
            agendas.append(kinds)
        out = []
        for i in range(n):
            s = (first + i) % 2
            v, o = voices[s], voices[1 - s]
            c = ctx[s]
            ref = rng.choice(theme.refs).replace("{workplace}", profs[s].workplace)
            if i == 0 and s == lead:
                v.used.update(("act", "when"))
                text = self._bounded(rng, rng.choice(T.LEAD_OPEN).format(
                    trans=rng.choice(T.TRANSITIONS), when=plan.when, act=v.take("acts"), place=plan.place))
                v.take("places")
            elif i == 0:
                v.used.add("habit")
                text = self._bounded(rng, rng.choice(T.FOLLOW_OPEN).format(
                    trans=rng.choice(T.TRANSITIONS), ref=ref, habit=v.take("habits")))
            elif v.count == 0 and s == lead:
                v.used.update(("act", "when"))
                text = self._bounded(rng, rng.choice(T.LEAD_ANSWER).format(
                    when=plan.when, act=v.take("acts"), place=plan.place))
                v.take("places")
            elif v.count == 0:
                tpl = rng.choice(T.FOLLOW_REPLY)
                v.used.update(k for k in ("act", "habit") if "{" + k + "}" in tpl)
                act = v.take("acts")
                text = self._bounded(rng, tpl.format(
                    react=self._react(rng, c), habit=v.take("habits"), act=act,
                    place=_place_for(act, v.take("places")), ptime=rng.choice(T.PAST_TIMES), ref=ref))
            else:
                text = self._body(rng, agendas[s], v, o, c, react=True)
            v.count += 1
            out.append(_Turn(s, text, theme.key))
        return out, voices

    def _joint_block(self, rng, n, first, theme: Theme, mode: str, profs, ctx):
        voices = self._split_pools(rng, theme, profs, None, None)
        acts = [self._fill(a, profs[0]) for a in rng.sample(theme.acts, 3)]
        place = _place_for(acts[0], self._fill(rng.choice(theme.places), profs[0]))
        for v in voices:
            # Personal stories must not retell the joint ones, or the speakers' messages would coincide.
            own = [a for a in v.pools["acts"] if a not in acts]
            v.pools["acts"] = own or v.pools["acts"]
        plans = [self._fill(p, profs[0]) for p in rng.sample(theme.plans, 3)]
        facts = {"when": rng.choice(_JOINT_PAST_WHEN)} if mode == "past" else {"ftime": rng.choice(T.FUTURE_TIMES)}
        kinds_past = ["detail", "thing", "feeling", "detail", "act", "thing", "feeling", "habit"]
        kinds_plan = ["mine", "feeling", "habit", "mine", "plan", "detail", "feeling", "thing"]
        agendas = []
        for _ in (0, 1):
            kinds = list(kinds_past if mode == "past" else kinds_plan)
            rng.shuffle(kinds)
            agendas.append(kinds)
        # The opener and the other speaker's first reply state the joint facts; the opener's speaker may
        # restate them once more. The rest is each speaker's own take.
        extra_we = rng.random() < 0.5
        if mode == "past":
            for v in voices:
                v.used.add("when")  # the opener, evidence for both shared queries, says when
        out = []
        for i in range(n):
            s = (first + i) % 2
            v, o = voices[s], voices[1 - s]
            ref = rng.choice(theme.refs)
            we = i < 2 or (extra_we and i == 2)
            if i == 0:
                tpl = rng.choice(T.JOINT_OPEN_PAST if mode == "past" else T.JOINT_OPEN_PLAN)
                core = tpl.format(trans=rng.choice(T.TRANSITIONS), when=facts.get("when", ""), act=acts[0],
                                  place=place, ref=ref, plan=plans[0], ftime=facts.get("ftime", ""))
                text = self._bounded(rng, core)
            elif we:
                tpl = rng.choice(T.JOINT_WE_PAST if mode == "past" else T.JOINT_WE_PLAN)
                core = tpl.format(act=acts[i], detail=v.take("details"), place=place, plan=plans[i],
                                  ftime=facts.get("ftime", ""))
                text = self._bounded(rng, core, self._react(rng, ctx[s]) if rng.random() < 0.6 else "")
            else:
                kind = agendas[s].pop(0) if agendas[s] else "detail"
                if kind == "mine":
                    tpl = rng.choice(T.JOINT_MINE_PLAN)
                    thing = v.take("things")
                    if "{thing}" in tpl:
                        v.things_said.append(thing)
                        v.used.add("thing")
                    core = tpl.format(thing=thing, habit=v.take("habits"))
                    text = self._bounded(rng, core, self._react(rng, ctx[s]) if rng.random() < 0.4 else "")
                else:
                    agendas[s].insert(0, kind)
                    text = self._body(rng, agendas[s], v, o, ctx[s], react=True)
            v.count += 1
            out.append(_Turn(s, text, theme.key, we=we))
        return out, voices, facts


# ---------------------------------------------------------------------- diagnostics
_STOP = frozenset(
    "a an the and or but of to in on at for with about from by is are was were be been has have had do does did "
    "what how who where when which why this that these those it its their there they i me my you your we our "
    "recently lately say said tell mention mentioned story details give shared own up get got".split()
)


def diversity_report(conversations: Sequence[Conversation], queries: Sequence[Query] | None = None) -> dict:
    """Lexical diversity of the messages and, given queries, their evidence sizes and negative pools.

    distinct-n = distinct n-grams / all n-grams over all message texts (n-grams do not cross messages).
    hard candidates per query: same topic, other speaker, not evidence; medium: other topic, not evidence.
    query_content_in_evidence / _in_hard: share of a query's content words (names excluded) that occur
    in its evidence / its hard candidates, a check that queries are answerable by content.
    """
    texts = [m.text for c in conversations for m in c.messages]
    token_lists = [_TOKEN.findall(t.lower()) for t in texts]
    report: dict = {
        "conversations": len(conversations),
        "messages": len(texts),
        "vocabulary": len({w for toks in token_lists for w in toks}),
        "mean_words_per_message": round(sum(_nwords(t) for t in texts) / max(len(texts), 1), 2),
    }
    for n in (1, 2, 3):
        grams = [tuple(toks[i:i + n]) for toks in token_lists for i in range(len(toks) - n + 1)]
        report[f"distinct_{n}"] = round(len(set(grams)) / max(len(grams), 1), 4)
    counts = Counter(texts)
    report["duplicate_message_share"] = round(sum(1 for t in texts if counts[t] > 1) / max(len(texts), 1), 4)
    if queries is None:
        return report

    by_cid = {c.cid: c for c in conversations}
    sizes = Counter(len(q.evidence) for q in queries)
    lo, hi = EVIDENCE_RANGE
    hard, medium, in_ev, in_hard = [], [], [], []
    for q in queries:
        conv = by_cid[q.cid]
        ev = set(q.evidence)
        rest = [m for m in conv.messages if m.mid not in ev]
        hard_msgs = [m for m in rest if m.topic == q.topic and m.speaker != q.target]
        hard.append(len(hard_msgs))
        medium.append(sum(1 for m in rest if m.topic != q.topic))
        names = {w for p in conv.personas for w in _TOKEN.findall(p.name.lower())}
        content = {w for w in _TOKEN.findall(q.text.lower()) if w not in _STOP and w not in names}
        ev_words = {w for m in conv.messages if m.mid in ev for w in _TOKEN.findall(m.text.lower())}
        hard_words = {w for m in hard_msgs for w in _TOKEN.findall(m.text.lower())}
        if content:
            in_ev.append(len(content & ev_words) / len(content))
            in_hard.append(len(content & hard_words) / len(content))
    q_texts = Counter(q.text for q in queries)
    copies = sum(1 for q in queries if any(q.text in by_cid[q.cid].messages[mid].text for mid in q.evidence))
    report.update({
        "queries": len(queries),
        "query_kinds": dict(Counter(q.kind for q in queries)),
        "evidence_size_histogram": dict(sorted(sizes.items())),
        "evidence_in_range_share": round(sum(v for k, v in sizes.items() if lo <= k <= hi) / max(len(queries), 1), 4),
        "hard_candidates_mean": round(sum(hard) / max(len(hard), 1), 2),
        "hard_candidates_min": min(hard, default=0),
        "hard_candidates_ge3_share": round(sum(1 for h in hard if h >= 3) / max(len(hard), 1), 4),
        "medium_candidates_mean": round(sum(medium) / max(len(medium), 1), 2),
        "medium_candidates_min": min(medium, default=0),
        "duplicate_query_share": round(sum(1 for q in queries if q_texts[q.text] > 1) / max(len(queries), 1), 4),
        "queries_copying_evidence": copies,
        "query_content_in_evidence": round(sum(in_ev) / max(len(in_ev), 1), 3),
        "query_content_in_hard": round(sum(in_hard) / max(len(in_hard), 1), 3),
    })
    return report
