"""The LLM backend against a scripted OpenAI-compatible server on 127.0.0.1 (tests/fake_openai.py): answer
schemas, repair of invalid answers, transport retries, the durable call cache, LLM topics on another source,
and the whole pipeline killed with SIGKILL and resumed, with the key absent from every file written."""

from __future__ import annotations

import asyncio
import copy
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from hins.core.config import ConfigError, LLMSynthesisConfig, validate
from hins.evaluation.locomo import load_locomo
from hins.stages.personas import BuiltinPersonas
from hins.pipeline import Pipeline
from hins.stages.queries import is_llm_query
from hins.core.records import Conversation
from hins.stages.topics_llm import LLMTopics
from hins.synthesis.llm import LLMSynthesizer, _run_all, _Steps
from hins.synthesis.llm_client import Answer, CallCache, LLMFatal, LLMUnavailable
from hins.synthesis.procedural import ProceduralSynthesizer
from hins.synthesis.schemas import (BriefAnswer, ConversationAnswer, EventsAnswer, InvalidAnswer, QueriesAnswer,
                                    TopicsAnswer, copies, greets, parse, problem_kinds, response_schema)
from hins.stages.topics import assign_topics
from tests.conftest import CONF, ROOT
from tests.test_config import _compose
from tests.fake_openai import FakeOpenAI, valid_answer

SECRET = "sk-test-DO-NOT-LEAK-4f1c9e"


@pytest.fixture
def server():
    srv = FakeOpenAI(hang_s=2).start()
    yield srv
    srv.stop()


def _settings(server: FakeOpenAI, tmp_path: Path, group: str = "synthesis", **over) -> dict:
    """A group's arguments as its YAML gives them, pointed at the server; topics=llm shares synthesis' endpoint."""
    node = yaml.safe_load((CONF / "synthesis" / "openai.yaml").read_text())
    del node["_target_"]
    if group == "topics":
        topics = yaml.safe_load((CONF / "topics" / "llm.yaml").read_text())
        node = {k: v for k, v in node.items() if k in topics}
        node.update(k_min=topics["k_min"], k_max=topics["k_max"], prompts=topics["prompts"])
    node.update(base_url=server.url, model="fake-model", cache_path=str(tmp_path / "calls.jsonl"), concurrency=8,
                backoff_s=0.02, max_backoff_s=0.1, timeout_s=1.0)
    node.update(over)
    return node


def _synth(server, tmp_path, **over) -> LLMSynthesizer:
    return LLMSynthesizer(seed=3, **_settings(server, tmp_path, **over))


def _jobs(n: int) -> list:
    people = BuiltinPersonas(seed=3)
    return [(f"c{i:06d}", *people.pair(i)) for i in range(n)]


def _assert_valid(conv: Conversation, queries) -> None:
    """What the paper's rules require of a conversation and its queries (paper-facts §1.3-1.7)."""
    assert len(conv.messages) == 40 and [m.speaker for m in conv.messages] == conv.speakers * 20
    assert all(5 <= len(m.text.split()) <= 40 and m.topic for m in conv.messages)
    assert len(conv.events) == 12 and all(10 <= len(e.text.split()) <= 25 for e in conv.events)
    assert all(15 <= len(b.split()) <= 25 for b in conv.briefs)
    assert sorted(q.kind for q in queries) == ["p1", "p1", "p2", "p2", "shared", "shared"]
    for q in queries:
        assert 5 <= len(q.evidence) <= 12 and all(0 <= i < 40 for i in q.evidence) and q.target in conv.speakers
        assert q.topic in {m.topic for m in conv.messages}


# ---- answer schemas ----
def _answer(step: str, **inputs) -> dict:
    return json.loads(json.dumps(valid_answer(step, "", inputs)))


def test_events_schema_names_every_problem():
    good = _answer("events", person={"name": "Maria Lopez"})
    assert parse(EventsAnswer, json.dumps(good), name="Maria Lopez", n_events=6)
    bad = {"events": good["events"][:5]}
    bad["events"][0] = {**bad["events"][0], "text": "She went out."}
    bad["events"] = [{**e, "category": "routine"} for e in bad["events"]]
    with pytest.raises(InvalidAnswer) as err:
        parse(EventsAnswer, json.dumps(bad), name="Maria Lopez", n_events=6)
    msg = str(err.value)
    assert "exactly 6 events, got 5" in msg and "events[0] has 3 words" in msg and "does not name Maria" in msg
    assert "missing ['social', 'hobby', 'mundane']" in msg
    with pytest.raises(InvalidAnswer, match="not valid JSON"):
        parse(EventsAnswer, '{"events": [', name="Maria Lopez", n_events=6)
    assert parse(EventsAnswer, "```json\n" + json.dumps(good) + "\n```", name="Maria Lopez", n_events=6)


def test_conversation_schema_checks_alternation_lengths_and_event_order():
    ids = {p: [f"{p}{i}" for i in range(1, 7)] for p in "AB"}
    events = {p: {"events": dict.fromkeys(ids[p], "x")} for p in "AB"}
    ctx = {"n_messages": 40, "events": ids["A"] + ids["B"]}
    good = _answer("conversation", **events)
    assert parse(ConversationAnswer, json.dumps(good), **ctx)
    bad = json.loads(json.dumps(good))
    bad["messages"][1]["speaker"] = "A"
    bad["messages"][2]["text"] = "Hi."
    bad["messages"][0]["event"], bad["messages"][6]["event"] = "A2", "A1"
    with pytest.raises(InvalidAnswer) as err:
        parse(ConversationAnswer, json.dumps(bad), **ctx)
    msg = str(err.value)
    assert "messages[1] is by A, expected B" in msg and "messages[2] has 1 words" in msg and "time order" in msg


def test_conversation_schema_wants_each_person_to_greet_and_feeds_it_back():
    ids = {p: [f"{p}{i}" for i in range(1, 7)] for p in "AB"}
    ctx = {"n_messages": 40, "events": ids["A"] + ids["B"]}
    good = _answer("conversation", **{p: {"events": dict.fromkeys(ids[p], "x")} for p in "AB"})
    openers = ["Morning! How was the trip to the coast?", "oh HEY, long time no see, Sam",
               "Good   evening, I just got back home", "What\u2019s up with the garden these days?"]
    for a, b in zip(openers, openers[1:]):  # lenient: any greeting word or phrase, in any case, anywhere
        lenient = json.loads(json.dumps(good))
        lenient["messages"][0]["text"], lenient["messages"][1]["text"] = a, b
        assert parse(ConversationAnswer, json.dumps(lenient), **ctx)
    bad = json.loads(json.dumps(good))
    bad["messages"][0]["text"] = "The lasagna recipe you sent worked out really well"
    bad["messages"][1]["text"] = "Glad to hear that, it is my grandmother's"
    bad["messages"][2]["text"] = "It was so good, without any greeting here"  # only each person's first counts
    with pytest.raises(InvalidAnswer) as err:
        parse(ConversationAnswer, json.dumps(bad), **ctx)
    assert str(err.value).count("has no greeting") == 2 and "messages[0], A's first message" in str(err.value)
    assert "messages[1], B's first message" in str(err.value)

    class Scripted:  # the client's place in the repair loop: plays answers, keeps the prompts it got
        def __init__(self, *texts: str):
            self.texts, self.prompts = list(texts), []

        async def complete(self, step, messages, salt="", schema=None):
            self.prompts.append(messages)
            return Answer(self.texts.pop(0), 1, 1)

    steps = _Steps(LLMSynthesisConfig.model_validate(_settings(SimpleNamespace(url="http://127.0.0.1:9/v1"), Path())))
    steps.client = Scripted(json.dumps(bad), json.dumps(good))
    assert asyncio.run(steps.ask("conversation", ConversationAnswer, "task", ctx)) is not None
    assert steps.repaired == {"conversation": 1}
    assert "messages[0], A's first message, has no greeting" in steps.client.prompts[1][-1]["content"]


def test_topics_and_queries_schemas_check_ids_speakers_and_evidence():
    speakers = ["Ann", "Bob"] * 20
    lines = [f"[{i}] {s}: hello there" for i, s in enumerate(speakers)]
    topics = _answer("topics", speakers=["Ann", "Bob"], messages=lines)
    ctx = {"speakers": speakers, "k_min": 2, "k_max": 8}
    assert parse(TopicsAnswer, json.dumps(topics), **ctx).labels(40)[39] == "subject 3"
    topics["messages"][1]["id"] = 7
    with pytest.raises(InvalidAnswer, match="one entry per id from 0: entry 1 has id 7"):
        parse(TopicsAnswer, json.dumps(topics), **ctx)
    bad = {"topics": ["our week", "Our  week", "work"], "messages": [{"id": i, "topic": i % 2 * 5} for i in range(39)]}
    with pytest.raises(InvalidAnswer) as err:
        parse(TopicsAnswer, json.dumps(bad), **ctx)
    msg = str(err.value)
    assert "topic labels repeat: ['our week']" in msg and "a topic for each of the 40 messages, got 39" in msg
    assert "topic numbers [5] are not in the list (0-2)" in msg
    assert "topics with no message: ['Our  week', 'work']" in msg

    labels = [f"subject {k}" for k in range(4)]
    queries = _answer("queries", people={"Ann": "", "Bob": ""}, topics=labels, messages=lines)
    qctx = {"speakers": speakers, "names": ["Ann", "Bob"], "topics": labels, "per_kind": 2, "evidence": (5, 12)}
    assert len(parse(QueriesAnswer, json.dumps(queries), **qctx).queries) == 6
    queries["queries"][0]["evidence"] = [0, 2, 4, 6]
    queries["queries"][1]["evidence"] = [1, 3, 5, 7, 0]
    queries["queries"][2]["topic"] = "weather"
    with pytest.raises(InvalidAnswer) as err:
        parse(QueriesAnswer, json.dumps(queries), **qctx)
    msg = str(err.value)
    assert "queries[0]: 4 evidence ids, expected 5-12" in msg and "most evidence must be Ann's" in msg
    assert "topic 'weather' is not one of" in msg


def test_response_schema_says_what_a_grammar_can_of_each_step():
    """The schema sent to a constraining server: the pydantic model's, closed, narrowed by the parse context."""
    events = response_schema(EventsAnswer, name="Ann Lee", n_events=6)["properties"]["events"]
    assert events["minItems"] == events["maxItems"] == 6 and events["items"] is False
    kinds = [e["properties"]["category"] for e in events["prefixItems"]]  # every kind once, then any
    assert kinds[:4] == [{"const": c} for c in ("routine", "social", "hobby", "mundane")]
    assert [k["enum"] for k in kinds[4:]] == [["routine", "social", "hobby", "mundane"]] * 2
    event = events["prefixItems"][0]
    assert event["required"] == ["text", "category", "theme"] and not event["additionalProperties"]
    # The word counts and the stricter forms a grammar can hold a model to; what they let through keeps the rules.
    text = re.compile(event["properties"]["text"]["pattern"])
    assert text.fullmatch("Ann " + "baked bread for the neighbours on a rainy Sunday," * 2 + " happily")
    assert not text.fullmatch("Ann baked bread on Sunday.")  # 5 words
    assert not text.fullmatch("She baked bread for the neighbours on a rainy Sunday afternoon, as always.")
    assert not text.fullmatch('Ann baked "bread" for the neighbours on a rainy Sunday afternoon, as always.')
    # A word of at most 24 characters: an endless one would run to max_tokens and be cut off.
    assert text.fullmatch("Ann " + "x" * 24 + " for the neighbours on a rainy Sunday afternoon, as always.")
    assert not text.fullmatch("Ann " + "x" * 25 + " for the neighbours on a rainy Sunday afternoon, as always.")
    brief = re.compile(response_schema(BriefAnswer, name="Ann Lee")["properties"]["brief"]["pattern"])
    assert brief.fullmatch("the" + " word" * 14) and brief.fullmatch("The" + " word" * 24)
    assert not brief.fullmatch("the" + " word" * 13) and not brief.fullmatch("the" + " word" * 25)
    assert not brief.fullmatch("Ann Lee, " + " ".join(["word"] * 14))  # the name first: the prompt's form is not
    turns = response_schema(ConversationAnswer, n_messages=4, events=["A1", "B1"])["properties"]["messages"]
    assert [t["properties"]["speaker"] for t in turns["prefixItems"]] == [{"const": s} for s in "ABAB"]
    assert turns["items"] is False
    assert turns["prefixItems"][0]["properties"]["event"]["anyOf"][0]["enum"] == ["A1", "B1"]
    first, later = (re.compile(t["properties"]["text"]["pattern"]) for t in turns["prefixItems"][1:3])
    assert first.fullmatch("Hey, how was the trip to the coast?") and greets("Hey, how was the trip to the coast?")
    assert not first.fullmatch("So how was the trip to the coast?") and later.fullmatch("So how was the trip?")
    assert not later.fullmatch("Great!") and not later.fullmatch(" ".join(["word"] * 41))
    speakers = ["Ann", "Bo", "Ann", "Bo", "Ann"]
    two, three = (k["properties"] for k in response_schema(TopicsAnswer, speakers=speakers, k_min=2, k_max=3)["anyOf"])
    assert (two["topics"]["minItems"], two["topics"]["maxItems"], three["topics"]["maxItems"]) == (2, 2, 3)
    messages = three["messages"]  # a partition: each message once, in order, in one of the k topics written
    assert [t["properties"]["id"] for t in messages["prefixItems"]] == [{"const": i} for i in range(5)]
    assert messages["items"] is False and messages["prefixItems"][0]["properties"]["topic"] == {"enum": [0, 1, 2]}
    assert two["messages"]["prefixItems"][4]["properties"]["topic"] == {"enum": [0, 1]}
    label = re.compile(three["topics"]["items"]["pattern"])
    assert label.fullmatch("hiking") and label.fullmatch("a weekend of hiking in Wales")
    assert not label.fullmatch("a long weekend of hiking in north Wales") and not label.fullmatch("[2] Emmett: hi")
    queries = response_schema(QueriesAnswer, speakers=speakers, names=["Ann", "Bo"], topics=["t1", "t2"], per_kind=2,
                              evidence=(2, 3))["properties"]["queries"]["prefixItems"]
    assert [q["properties"]["about"]["const"] for q in queries] == ["Ann", "Ann", "Bo", "Bo", "both", "both"]
    assert [q["properties"]["target"] for q in queries[::2]] == [{"const": "Ann"}, {"const": "Bo"},
                                                                 {"enum": ["Ann", "Bo"]}]
    evidence = [q["properties"]["evidence"] for q in queries]
    assert (evidence[0]["minItems"], evidence[0]["maxItems"], evidence[0]["items"]["enum"]) == (2, 3, [0, 2, 4])
    assert (evidence[2]["maxItems"], evidence[2]["items"]["enum"]) == (2, [1, 3])  # Bo has 2 messages
    assert evidence[4]["items"]["enum"] == list(range(5))  # about both
    question = re.compile(queries[0]["properties"]["text"]["pattern"])
    assert question.fullmatch("Where did Ann hike?") and question.fullmatch("Where did Ann hike last summer ?")
    assert not question.fullmatch("Ann's hikes?") and not question.fullmatch("[6], I'm going to a party tonight!")
    assert not question.fullmatch("Where did Ann hike") and not question.fullmatch("Where " + "did " * 39 + "Ann?")
    assert queries[0]["properties"]["topic"]["enum"] == ["t1", "t2"]


def test_an_answer_copying_the_task_is_invalid():
    """SmolLM2-135M took the prompt's example event over as an event and pasted the example brief."""
    task = ("Answer shape: {\"events\": [{\"text\": \"Ann walked the dog along the river before work, as on every "
            "weekday morning.\"}]}")
    answer = _answer("events", person={"name": "Ann Lee"})
    assert parse(EventsAnswer, json.dumps(answer), task, name="Ann Lee", n_events=6)  # its own words pass
    assert parse(EventsAnswer, json.dumps(answer).replace("week 1", "week\t1"), task, name="Ann Lee", n_events=6)
    answer["events"][2]["text"] = "Ann walked the dog along the river before work, as on every weekday morning."
    with pytest.raises(InvalidAnswer, match=r"events\[2\]\.text copies the task's words \(Ann walked the dog"):
        parse(EventsAnswer, json.dumps(answer), task, name="Ann Lee", n_events=6)
    assert copies({"label": "the river before work"}, task) == []  # fewer than COPY_WORDS words never count


def test_a_brief_must_not_use_the_persons_name():
    """SmolLM2-135M wrote "Janet Rivera is a woman who loves to travel ...": 15-25 words, yet no brief."""
    brief = {"brief": "Janet Rivera is a woman who loves to travel and has many interests, but her favorite is gardening"}
    with pytest.raises(InvalidAnswer, match=r"the brief uses the person's name \(Janet Rivera\)"):
        parse(BriefAnswer, json.dumps(brief), name="Janet Rivera")
    assert parse(BriefAnswer, json.dumps(brief), name="Ann Lee")


def test_problem_kinds_drop_the_specifics():
    problems = ("- expected exactly 6 events, got 5; events[2] has 8 words, expected 10-25; events[3] does not name "
                "Ann (use the name, not a pronoun); and 2 more\n- events.0.category: Input should be 'routine'")
    assert problem_kinds(problems) == {"expected exactly N events, got N", "events[…] has N words, expected N-N",
                                       "events[…] does not name X", "events.N.category: Input should be '…'"}
    assert problem_kinds("not valid JSON (Expecting value at line 1, column 1)") == {"not valid JSON"}
    assert problem_kinds("- events[0].text copies the task's words (Ann walked ...): write your own") == {
        "events[…].text copies the task's words: write your own"}


# ---- the backend against the scripted server ----
def test_repairs_and_transport_retries(server, tmp_path):
    server.script("malformed@events", "schema@conversation", "schema@topics", "schema@queries", "429@brief", "500",
                  "hang", "drop")
    start = time.monotonic()
    convs, queries, stats = _synth(server, tmp_path).synthesize(_jobs(3))
    assert time.monotonic() - start >= 1.0  # the 429's Retry-After: 1 was honoured
    assert server.faults == [] and len(convs) == 3 and stats["dropped_conversations"] == 0
    assert stats["repaired"] == {"events": 1, "conversation": 1, "topics": 1, "queries": 1}
    retries = stats["usage"]["retries"]
    # openai's aiohttp transport reports a dropped connection as a timeout, its httpx one as a connection error.
    assert retries.pop("http 429") == retries.pop("http 500") == 1 and sum(retries.values()) == 2
    assert set(retries) <= {"timeout", "connection"}
    assert stats["usage"]["input_tokens"] > 0 and stats["usage"]["calls"] == sum(server.answered.values())
    for conv in convs:
        _assert_valid(conv, [q for q in queries if q.cid == conv.cid])


def test_invalid_output_is_dropped_and_counted(server, tmp_path):
    jobs = _jobs(3)
    # One conversation at a time, so each fault pair lands on one conversation's answer and its repair.
    for job, faults in zip(jobs, (["schema@conversation"] * 2, ["malformed@queries"] * 2, [])):
        server.script(*faults)
        _synth(server, tmp_path, max_repairs=1).synthesize([job])
    sent = sum(server.requests.values())
    convs, queries, stats = _synth(server, tmp_path, max_repairs=1).synthesize(jobs)
    assert sum(server.requests.values()) == sent  # replayed from the cache, drops included
    assert stats["dropped_steps"] == {"conversation": 1, "queries": 1} and stats["dropped_conversations"] == 2
    assert stats["drop_reasons"]["queries"] == {"not valid JSON": 1}
    assert stats["drop_reasons"]["conversation"]["expected exactly N messages, got N"] == 1
    assert [c.cid for c in convs] == [jobs[2][0]] and len(queries) == 6
    _assert_valid(convs[0], queries)


def test_cache_replays_every_call_and_cuts_a_torn_line(server, tmp_path):
    first = _synth(server, tmp_path).synthesize(_jobs(2))
    sent = sum(server.requests.values())
    cache = tmp_path / "calls.jsonl"
    lines = cache.read_text().splitlines()
    assert len(lines) == sent and len({json.loads(x)["key"] for x in lines}) == sent
    with cache.open("a") as f:
        f.write('{"key": "torn", "text": "half a rec')
    again = _synth(server, tmp_path).synthesize(_jobs(2))
    assert sum(server.requests.values()) == sent  # nothing sent again
    assert [c.to_dict() for c in again[0]] == [c.to_dict() for c in first[0]] and again[1] == first[1]
    assert again[2]["usage"]["cached"] == sent and again[2]["usage"]["calls"] == 0
    assert cache.read_text().splitlines() == lines


def test_two_jobs_sharing_the_cache_send_each_call_once(server, tmp_path):
    """Two processes (a sweep's jobs) need the same calls at the same time: the server answers each once, both
    get the same conversations and queries, and the cache holds each call once."""
    server.delay_s = 0.2  # calls last long enough for the two jobs to meet on them
    settings = json.dumps(_settings(server, tmp_path, concurrency=4, timeout_s=10.0))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    jobs = []
    for i in range(2):
        args = [settings, "3", tmp_path / f"job{i}.json", tmp_path / f"ready{i}", tmp_path / "go"]
        jobs.append(subprocess.Popen([sys.executable, "-m", "tests.llm_cache_job", *map(str, args)], cwd=ROOT, env=env))
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready{i}").exists() for i in range(2)) and time.monotonic() < deadline:
        time.sleep(0.01)
    (tmp_path / "go").touch()
    assert [job.wait(timeout=180) for job in jobs] == [0, 0]
    first, second = (json.loads((tmp_path / f"job{i}.json").read_text()) for i in range(2))
    assert len(first["conversations"]) == 3 and len(first["queries"]) == 18
    assert first["conversations"] == second["conversations"] and first["queries"] == second["queries"]
    assert len(server.answered) == 3 * 7 and set(server.answered.values()) == {1}
    assert first["usage"]["calls"] + second["usage"]["calls"] == 3 * 7
    keys = [json.loads(line)["key"] for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert sorted(keys) == sorted(server.answered)


def test_a_live_writers_unfinished_line_is_never_cut(tmp_path):
    """A run starting while another is half-way through writing a line waits for it, and keeps the line; only
    a line whose writer is gone (its lock released with it) is cut (test_cache_replays_every_call_...)."""
    path = tmp_path / "calls.jsonl"
    line = json.dumps({"key": "k1", "step": "brief", "model": "m", "text": "{}", "input_tokens": 1,
                       "output_tokens": 1}).encode() + b"\n"
    writer = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    fcntl.flock(writer, fcntl.LOCK_EX)  # what CallCache holds while it writes
    os.write(writer, line[:20])
    cache = CallCache(path)
    opening = threading.Thread(target=cache.open)
    opening.start()
    opening.join(0.5)  # it waits for the writer
    os.write(writer, line[20:])
    fcntl.flock(writer, fcntl.LOCK_UN)
    os.close(writer)
    opening.join(30)
    assert path.read_bytes() == line and cache.entries["k1"].text == "{}"
    asyncio.run(cache.close())


def test_json_schema_goes_in_response_format_in_either_form(server, tmp_path):
    _synth(server, tmp_path).synthesize(_jobs(1))
    assert server.formats["conversation"] == {"type": "json_object"}  # json_mode alone
    sent = sum(server.requests.values())
    _, _, stats = _synth(server, tmp_path, json_schema="json_object").synthesize(_jobs(1))
    assert sum(server.requests.values()) == 2 * sent and stats["usage"]["cached"] == 0  # a schema: new requests
    fmt = server.formats["conversation"]
    assert fmt["type"] == "json_object" and len(fmt["schema"]["properties"]["messages"]["prefixItems"]) == 40
    _, _, stats = _synth(server, tmp_path, json_schema="json_schema").synthesize(_jobs(1))
    fmt = server.formats["queries"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "queries"
    assert len(fmt["json_schema"]["schema"]["properties"]["queries"]["prefixItems"]) == 6
    assert stats["asked"] == stats["valid_first"] == {"events": 2, "brief": 2, "conversation": 1, "topics": 1,
                                                      "queries": 1}
    steps = stats["usage"]["steps"]
    assert sum(s["calls"] for s in steps.values()) == sent and all(s["output_tokens"] > 0 for s in steps.values())


def test_concurrency_and_rate_limits_hold(server, tmp_path):
    server.delay_s = 0.05
    _synth(server, tmp_path, concurrency=3).synthesize(_jobs(2))
    assert server.max_in_flight == 3
    server.delay_s = 0.0
    start = time.monotonic()
    _synth(server, tmp_path, requests_per_second=12, cache_path=str(tmp_path / "other.jsonl")).synthesize(_jobs(1))
    assert time.monotonic() - start >= 6 / 12  # 7 calls: the last starts 6 intervals after the first


def test_refused_key_stops_without_leaking_it(server, tmp_path, monkeypatch):
    monkeypatch.setenv("HINS_TEST_KEY", SECRET)
    server.script("401")
    with pytest.raises(LLMFatal) as err:
        _synth(server, tmp_path, api_key_env="HINS_TEST_KEY").synthesize(_jobs(1))
    assert "HTTP 401" in str(err.value) and SECRET not in str(err.value) and server.auth == {f"Bearer {SECRET}"}


def test_retries_run_out(server, tmp_path):
    server.script("500@conversation", "500@conversation", "500@conversation")
    with pytest.raises(LLMUnavailable, match="rerun to resume"):
        _synth(server, tmp_path, max_retries=2, concurrency=1).synthesize(_jobs(1))


def test_a_fatal_error_keeps_the_answers_already_received(server, tmp_path, monkeypatch):
    """A call refused for good while other calls' answers wait for the cache's fsync: the caller gets that
    error, the waiting answers are written all the same (a rerun sends none again), the client is closed."""
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (time.sleep(0.3), real_fsync(fd)))
    prompts = [[{"role": "user", "content": f"question {i}"}] for i in range(6)]
    steps = _Steps(LLMSynthesisConfig.model_validate(_settings(server, tmp_path)))

    async def work(i):
        client = steps.client
        if i is None:  # fails once the others' answers are in, all waiting on the first fsync
            while client.usage.calls < len(prompts):
                await asyncio.sleep(0.01)
            server.script("401")
            return await client.complete("brief", [{"role": "user", "content": "the failing one"}])
        return await client.complete("brief", prompts[i])

    with pytest.raises(LLMFatal, match="HTTP 401 to a brief request"):
        _run_all(steps, "test", [*range(len(prompts)), None], work)
    assert steps.client._api.is_closed()
    assert len((tmp_path / "calls.jsonl").read_text().splitlines()) == len(prompts)
    sent = sum(server.requests.values())
    _, usage = _run_all(steps, "test", range(len(prompts)), work)
    assert sum(server.requests.values()) == sent and usage.cached == len(prompts)


def test_a_request_the_endpoint_refuses_drops_that_conversation_only(server, tmp_path, monkeypatch, caplog):
    """HTTP 400 for one request (too long for the model): that conversation is dropped and counted, with the
    server's reason; the run goes on, and a rerun does not send the refused request again. A 400 for JSON
    mode, which every request would get, still stops the run."""
    monkeypatch.setenv("HINS_TEST_KEY", SECRET)
    convs = [ProceduralSynthesizer(seed=1).conversation(cid, p1, p2) for cid, p1, p2 in _jobs(3)]
    server.script("400@topics")
    synth = _synth(server, tmp_path, api_key_env="HINS_TEST_KEY")
    annotated, queries, stats = synth.annotate(convs)
    assert len(annotated) == 2 and len(queries) == 12 and stats["dropped_conversations"] == 1
    assert stats["dropped_steps"] == {"topics": 1} and stats["invalid_answers"] == {}
    (reason,) = stats["drop_errors"]["topics"]
    assert "refused a topics request" in reason and "maximum context length is 2048 tokens" in reason
    assert "refused a topics request" in caplog.text and SECRET not in caplog.text + json.dumps(stats)
    assert dict(server.requests) == {"topics": 3, "queries": 2}
    again = _synth(server, tmp_path, api_key_env="HINS_TEST_KEY").annotate(convs)
    assert dict(server.requests) == {"topics": 3, "queries": 2} and again[2]["drop_errors"] == stats["drop_errors"]
    assert [c.to_dict() for c in again[0]] == [c.to_dict() for c in annotated]
    server.script("nojson")
    with pytest.raises(LLMFatal, match="json_mode=false"):
        _synth(server, tmp_path, cache_path=str(tmp_path / "other.jsonl")).annotate(convs[:1])


def test_an_answer_without_choices_is_re_asked(server, tmp_path, caplog):
    server.script("empty@brief")
    convs, _, stats = _synth(server, tmp_path).synthesize(_jobs(1))
    assert len(convs) == 1 and stats["invalid_answers"] == stats["repaired"] == {"brief": 1}
    assert "answered a brief request with no choices" in caplog.text


def test_llm_queries_drop_a_conversation_without_two_speakers(server, tmp_path):
    convs = [ProceduralSynthesizer(seed=1).conversation(cid, p1, p2) for cid, p1, p2 in _jobs(2)]
    convs[0] = replace(convs[0], speakers=[*convs[0].speakers, "Someone Else"])
    annotated, queries, stats = _synth(server, tmp_path).annotate(convs)
    assert [c.cid for c in annotated] == [convs[1].cid] and len(queries) == 6
    assert stats["dropped_conversations"] == 1 and stats["dropped_steps"] == {"topics": 1}
    (reason,) = stats["drop_errors"]["topics"]
    assert "need two speakers" in reason and convs[0].cid in reason
    assert dict(server.requests) == {"topics": 1, "queries": 1}


def test_llm_topics_cluster_another_source(server, tmp_path):
    convs = [ProceduralSynthesizer(seed=1).conversation(cid, p1, p2) for cid, p1, p2 in _jobs(3)]
    settings = _settings(server, tmp_path, "topics", max_repairs=2)
    server.script("schema@topics", "schema@topics", "schema@topics")
    result = assign_topics(convs[:1], LLMTopics(**settings), None)  # invalid thrice: one topic, counted
    assert result.labels[convs[0].cid] == ["all"] * 40 and result.method_stats["fallback_conversations"] == 1
    server.script("schema@topics")
    result = assign_topics(convs[1:], LLMTopics(**settings), None)
    assert all(len(set(result.labels[c.cid])) == 4 for c in convs[1:]) and result.ari is not None
    assert result.method_stats["repaired"] == {"topics": 1} and result.method_stats["fallback_conversations"] == 0


def test_llm_queries_for_another_source(server, tmp_path):
    jobs = _jobs(2)
    convs = [ProceduralSynthesizer(seed=1).conversation(cid, p1, p2) for cid, p1, p2 in jobs]
    annotated, queries, stats = _synth(server, tmp_path).annotate(convs)
    assert stats["conversations"] == 2 and convs[0].messages[0].topic != annotated[0].messages[0].topic
    for conv in annotated:
        _assert_valid(conv, [q for q in queries if q.cid == conv.cid])


def test_dry_run_estimate_sends_nothing(server, tmp_path):
    estimate = _synth(server, tmp_path, price_input_per_1k=0.001, price_output_per_1k=0.002).estimate(_jobs(5))
    assert estimate["calls"] == {"events": 10, "brief": 10, "conversation": 5, "topics": 5, "queries": 5}
    assert estimate["total_input_tokens"] > 0 and estimate["cost_usd"] > 0 and not server.requests


@pytest.mark.parametrize(("overrides", "message"), [
    ((), "missing value(s) for synthesis.base_url, synthesis.model"),
    (("synthesis.base_url=http://h/v1", "synthesis.model=m", "synthesis.concurrency=0"), "synthesis.concurrency"),
    (("synthesis.base_url=h", "synthesis.model=m"), "synthesis.base_url"),
    (("synthesis.base_url=http://h/v1", "synthesis.model=m", f"synthesis.api_key_env={SECRET}"),
     "synthesis.api_key_env: looks like an API key"),
    (("synthesis.base_url=http://h/v1", "synthesis.model=m", "+synthesis.concurency=3"), "synthesis.concurency"),
    (("synthesis.base_url=http://h/v1", "synthesis.model=m", "synthesis.prompts.events=nope.md"),
     "synthesis.prompts: no such prompt file"),
])
def test_openai_config_errors_name_the_key(overrides, message):
    with pytest.raises(ConfigError) as err:
        validate(_compose("synthesis=openai", *overrides))
    assert message in str(err.value)


@pytest.mark.parametrize("override", ["synthesis.base_url=ftp://u:hunter2xyz@h/v1", "+synthesis.api_key=hunter2xyz",
                                      "synthesis.api_key_env=hunter2xyz:x", "topics.base_url='http://h/v1?key=hunter2xyz'"])
def test_a_key_in_the_config_is_refused_without_quoting_it(override):
    """The schema's side of a key given in the config (the command line is refused before Hydra: hins.core.logging_utils):
    from YAML or an interpolation, the error names the key and says where keys belong, never the value."""
    topics = ["topics=llm", "topics.model=m"] if override.startswith("topics") else []
    with pytest.raises(ConfigError) as err:
        validate(_compose("synthesis=openai", "synthesis.base_url=http://h/v1", "synthesis.model=m", *topics,
                          override))
    key = override.partition("=")[0].lstrip("+")
    assert f"{key}: " in str(err.value) and "api_key_env to that variable's name" in str(err.value)
    assert "hunter2xyz" not in str(err.value)


def test_llm_topics_config_follows_synthesis_or_stands_alone():
    with pytest.raises(ConfigError, match="topics.base_url: required"):
        validate(_compose("topics=llm"))
    validate(_compose("topics=llm", "topics.base_url=http://h/v1", "topics.model=m", "data=locomo",
                      f"data.path={ROOT / 'pyproject.toml'}"))
    cfg = _compose("synthesis=openai", "synthesis.base_url=http://h/v1", "synthesis.model=m", "topics=llm")
    validate(cfg)
    assert cfg.topics.base_url == "http://h/v1" and cfg.topics.cache_path == cfg.synthesis.cache_path


def test_synthesis_local_composes_and_the_llm_groups_follow_it():
    cfg = _compose("synthesis=local", "topics=llm", "queries=llm")
    validate(cfg)
    assert cfg.synthesis.base_url == "http://127.0.0.1:8080/v1" and cfg.synthesis.json_schema == "json_object"
    assert cfg.synthesis._target_ == "hins.synthesis.llm.LLMSynthesizer" and cfg.synthesis.concurrency == 1
    assert cfg.topics.json_schema == cfg.queries.json_schema == "json_object"
    openai = _compose("synthesis=openai", "synthesis.base_url=http://h/v1", "synthesis.model=m")
    assert openai.synthesis.json_schema is None
    with pytest.raises(ConfigError, match="synthesis.json_schema"):
        validate(_compose("synthesis=local", "synthesis.json_schema=grammar"))


def test_llm_queries_config_needs_an_endpoint_or_follows_synthesis():
    with pytest.raises(ConfigError) as err:
        validate(_compose("queries=llm"))
    assert "queries.base_url: required" in str(err.value) and "queries.model: required" in str(err.value)
    with pytest.raises(ConfigError, match="queries.model: required"):
        validate(_compose("queries=llm", "queries.base_url=http://h/v1"))
    with pytest.raises(ConfigError, match=r"queries: evidence_min \(13\) must be <= evidence_max \(12\)"):
        validate(_compose("queries=llm", "queries.base_url=http://h/v1", "queries.model=m", "queries.evidence_min=13"))
    run = validate(_compose("queries=llm", "queries.base_url=http://h/v1", "queries.model=m"))
    assert run.queries.source == "llm" and (run.queries.evidence_min, run.queries.evidence_max) == (5, 12)
    cfg = _compose("synthesis=openai", "synthesis.base_url=http://h/v1", "synthesis.model=m", "queries=llm")
    assert validate(cfg).queries.model == "m" and cfg.queries.cache_path == cfg.synthesis.cache_path
    assert validate(_compose()).queries.source == "data"  # the default: the source's own queries
    # The queries artifact is keyed by what shapes the answers, not by how they are fetched or where the key is.
    settings = [validate(_compose("queries=llm", "queries.model=m", *o)).queries.answer_settings() for o in (
        ("queries.base_url=http://h/v1",), ("queries.base_url=http://H/v1?v2", "queries.concurrency=2",
                                             "queries.api_key_env=OTHER_KEY"), ("queries.base_url=http://h/v1",
                                                                                "queries.temperature=0.1"))]
    assert settings[0] == settings[1] != settings[2]


def _llm_queries_run(server: FakeOpenAI, tmp_path: Path, monkeypatch, *overrides: str, fold: int | None = None
                     ) -> Pipeline:
    """``queries=llm`` against the server, caches under tmp_path."""
    monkeypatch.setenv("HINS_ROOT", str(tmp_path))
    cfg = _compose(*overrides, "queries=llm", f"queries.base_url={server.url}", "queries.model=fake-model",
                   "queries.backoff_s=0.02", "queries.max_backoff_s=0.1", f"paths.cache_dir={tmp_path / 'cache'}")
    return Pipeline(validate(cfg), tmp_path / "out", tmp_path / "cache", None, fold)


def test_llm_queries_train_on_procedural_conversations(server, tmp_path, monkeypatch):
    pipe = _llm_queries_run(server, tmp_path, monkeypatch, "+experiment=smoke", "data.n_conversations=8")
    server.script("schema@queries")  # one answer repaired
    data = pipe.prepare()
    assert dict(server.requests) == {"topics": 8, "queries": 9}
    source = pipe.runner.run(pipe.source)
    convs, own = source.conversations, source.queries
    for split in ("train", "val"):  # the LLM's 2+2+2 per conversation train and pick the checkpoint
        got = data.queries[split]
        assert len(got) == 6 * len(data.splits[split]) and all(is_llm_query(q) for q in got)
        for conv in (convs[c] for c in data.splits[split]):
            assert sorted(q.kind for q in got if q.cid == conv.cid) == ["p1", "p1", "p2", "p2", "shared", "shared"]
            assert all(5 <= len(q.evidence) <= 12 for q in got)
    test = set(data.splits["test"])  # the generator's own queries evaluate
    assert {q.qid for q in data.queries["test"]} == {q.qid for q in own if q.cid in test}
    llm_texts = {q.text for q in data.queries["train"]}
    assert data.stats["samples"]["train"] > 0 and {r["query"] for r in data.datasets["train"]} == llm_texts
    stats = data.stats["queries"]
    assert stats["source"] == "llm" and stats["generated"] == stats["kept"] == 48 and stats["dropped"] == {}
    assert stats["llm"]["repaired"] == {"queries": 1} and stats["llm"]["usage"]["calls"] == 17
    assert stats["source_queries"]["kept"] == len(own)
    again = _llm_queries_run(server, tmp_path, monkeypatch, "+experiment=smoke", "data.n_conversations=8",
                             "queries.concurrency=3").prepare()  # the artifact, not the LLM, answers
    assert sum(server.requests.values()) == 17 and again.data_key == data.data_key


def test_llm_queries_dry_run_costs_the_real_prompts_and_sends_nothing(server, tmp_path, monkeypatch):
    """``queries.dry_run=true``: calls, tokens and cost of the LLM queries from the source's real conversations;
    nothing is sent. Its input tokens match what the real run then sends (the fake server counts words)."""
    overrides = ("+experiment=smoke", "data.n_conversations=8", "queries.price_input_per_1k=0.001")
    pipe = _llm_queries_run(server, tmp_path, monkeypatch, *overrides, "queries.dry_run=true")
    estimate = pipe.dry_run()
    assert not server.requests and estimate["calls"] == {"queries/topics": 8, "queries/queries": 8}
    assert list(estimate["stages"]) == ["queries"] and estimate["cost_usd"] > 0
    assert json.loads((tmp_path / "out" / "dry_run.json").read_text()) == estimate
    sent = _llm_queries_run(server, tmp_path, monkeypatch, *overrides).prepare().stats["queries"]["llm"]["usage"]
    assert sent["calls"] == 16
    words = estimate["total_input_tokens"] / 1.4  # the estimate's tokens per word
    assert abs(words - sent["input_tokens"]) < 0.05 * sent["input_tokens"], (words, sent)


def test_llm_topics_dry_run_costs_the_real_prompts_and_sends_nothing(server, tmp_path, monkeypatch):
    """``topics=llm`` with ``topics.dry_run=true`` prices the topics calls on the source's real conversations;
    nothing is sent, and the input tokens match what the real run then sends."""
    monkeypatch.setenv("HINS_ROOT", str(tmp_path))

    def pipeline(*overrides: str) -> Pipeline:
        cfg = _compose("+experiment=smoke", "data.n_conversations=6", "topics=llm", f"topics.base_url={server.url}",
                       "topics.model=fake-model", "topics.backoff_s=0.02", "topics.max_backoff_s=0.1",
                       "topics.price_output_per_1k=0.002", f"paths.cache_dir={tmp_path / 'cache'}", *overrides)
        return Pipeline(validate(cfg), tmp_path / "out", tmp_path / "cache")

    estimate = pipeline("topics.dry_run=true").dry_run()
    assert not server.requests and estimate["calls"] == {"topics/topics": 6} and estimate["total_calls"] == 6
    assert estimate["stages"]["topics"]["conversations"] == 6 and estimate["cost_usd"] > 0
    sent = pipeline().prepare().stats["topics"]["usage"]
    assert sent["calls"] == 6
    words = estimate["total_input_tokens"] / 1.4
    assert abs(words - sent["input_tokens"]) < 0.05 * sent["input_tokens"], (words, sent)


def test_synthesis_dry_run_prices_every_llm_stage(server, tmp_path, monkeypatch):
    """``synthesis.dry_run=true`` with ``topics=llm`` and ``queries=llm``: the synthesis' steps, then the topics and
    queries stages on stand-ins of the conversations it would write (2 x turns messages each), nothing sent; the
    totals are the stages' sums, and the stand-ins make the later stages' prompts as long as the real ones."""
    monkeypatch.setenv("HINS_ROOT", str(tmp_path))
    cfg = _compose("+experiment=smoke", "data.n_conversations=4", "synthesis=openai", f"synthesis.base_url={server.url}",
                   "synthesis.model=fake-model", "synthesis.dry_run=true", "synthesis.price_input_per_1k=0.001",
                   "topics=llm", "queries=llm", f"paths.cache_dir={tmp_path / 'cache'}")
    run = validate(cfg)
    assert run.topics.dry_run and run.queries.dry_run  # they follow synthesis.dry_run
    report = Pipeline(run, tmp_path / "out", tmp_path / "cache").dry_run()
    assert not server.requests and list(report["stages"]) == ["conversations", "topics", "queries"]
    assert report["calls"] == {"conversations/events": 8, "conversations/brief": 8, "conversations/conversation": 4,
                               "conversations/topics": 4, "conversations/queries": 4, "topics/topics": 4,
                               "queries/topics": 4, "queries/queries": 4}
    stages = report["stages"].values()
    assert report["total_calls"] == 40 == sum(s["total_calls"] for s in stages)
    assert report["cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in stages)) and report["cost_usd"] > 0
    synthesis, queries = report["stages"]["conversations"], report["stages"]["queries"]
    assert synthesis["input_tokens"]["queries"] == queries["input_tokens"]["queries"]  # the same prompts, twice
    conversation_words = synthesis["output_tokens"]["conversation"] / 4 / 1.4
    assert 40 * 20 < conversation_words < 40 * 30  # 40 messages of ~22 words, with ids and speakers


def _locomo_40_turns(tmp_path: Path) -> Path:
    """The LoCoMo fixture twice over (4 conversations), each padded to 40 turns: the fake server's answers
    are valid on 40 messages with 5 of each speaker in every block of 10. Its QA and observations unchanged."""
    samples = []
    for copy_no in range(2):
        for sample in json.loads((ROOT / "tests" / "fixtures" / "locomo_tiny.json").read_text()):
            sample = copy.deepcopy(sample)
            sample["sample_id"] += f"-{copy_no}"
            log = sample["conversation"]
            sessions = [v for k, v in log.items() if k.startswith("session_") and isinstance(v, list) and v]
            turns, last = [t for s in sessions for t in s], sessions[-1]
            session = last[0]["dia_id"].split(":")[0]
            while len(turns) < 40:
                block = turns[len(turns) // 10 * 10:]
                who = min(log["speaker_a"], log["speaker_b"], key=lambda n: sum(t["speaker"] == n for t in block))
                turns.append({"speaker": who, "dia_id": f"{session}:{len(last) + 1}",
                              "text": f"{who} talks about plan {len(turns)} of copy {copy_no}"})
                last.append(turns[-1])
            samples.append(sample)
    path = tmp_path / "locomo_40.json"
    path.write_text(json.dumps(samples))
    return path


def test_llm_queries_train_on_locomo_while_its_questions_evaluate(server, tmp_path, monkeypatch):
    path = _locomo_40_turns(tmp_path)
    pipe = _llm_queries_run(server, tmp_path, monkeypatch, "+experiment=locomo_cv", "model=tiny_random",
                            f"data.path={path}", "negatives.k=3", "negatives.group_size=2", "queries.max_repairs=0",
                            fold=0)
    server.script("schema@queries")  # one conversation's queries stay invalid: dropped and counted
    data = pipe.prepare()
    assert dict(server.requests) == {"topics": 4, "queries": 4}
    corpus = load_locomo(path)
    test = set(data.splits["test"])
    questions = {q.qid for q in corpus.questions if q.cid in test and corpus.categories[q.qid] in (1, 2, 3, 4)}
    assert questions and {q.qid for q in data.queries["test"]} == questions  # the file's QA evaluate
    train = data.queries["train"]
    assert train and all(is_llm_query(q) and q.kind in ("p1", "p2", "shared") for q in train)
    file_texts = {q.text for q in corpus.questions + corpus.observations}
    assert all(r["query"] not in file_texts for r in data.datasets["train"]) and data.stats["samples"]["train"] > 0
    stats = data.stats["queries"]
    assert stats["generated"] == 24 and stats["kept"] == 18 and stats["dropped"] == {"invalid LLM answer (queries)": 6}
    assert stats["llm"]["dropped_conversations"] == 1 and stats["llm"]["dropped_steps"] == {"queries": 1}
    assert "expected 2 questions about each of" in stats["llm"]["drop_errors"]["queries"][0]
    own = pipe.runner.run(pipe.source).queries
    assert stats["source_queries"]["kept"] == len(own)  # every valid one, as the file gives it


# ---- the whole pipeline as a subprocess (python -m hins.run ...): 15-30 s each ----
def _hins_run(tmp_path: Path, server: FakeOpenAI, *extra: str, group: str = "synthesis",
              stop_after: str = "data") -> subprocess.Popen:
    """``python -m hins.run +experiment=smoke <group>=<LLM option> ... stop_after=data`` against the server."""
    env = {**os.environ, "HINS_ROOT": str(tmp_path), "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1",
           "HINS_TEST_KEY": SECRET}
    option = "openai" if group == "synthesis" else "llm"
    args = ["+experiment=smoke", f"{group}={option}", f"{group}.base_url={server.url}", f"{group}.model=fake-model",
            f"{group}.api_key_env=HINS_TEST_KEY", f"stop_after={stop_after}", "data.n_conversations=8", *extra]
    return subprocess.Popen([sys.executable, "-m", "hins.run", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_pipeline_killed_midway_resumes_without_lost_or_repeated_calls(server, tmp_path):
    cache = tmp_path / "outputs" / "cache" / "llm_calls.jsonl"
    server.delay_s = 0.05  # slow enough to be killed mid-way
    proc = _hins_run(tmp_path, server, "synthesis.concurrency=4")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not cache.exists() or len(cache.read_bytes().splitlines()) < 15):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = [json.loads(line)["key"] for line in cache.read_bytes().splitlines(keepends=True)
                if line.endswith(b"\n")]
    assert 15 <= len(finished) < 8 * 7, "the run was not killed mid-way"
    server.delay_s = 0.0
    proc = _hins_run(tmp_path, server)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, out[-3000:]
    assert all(server.answered[k] == 1 for k in finished)  # no finished call was sent again
    # Calls in flight at the kill may be answered twice (the answer never reached the cache); no others.
    assert sum(n - 1 for n in server.answered.values()) <= 4
    keys = [json.loads(line)["key"] for line in cache.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == len(server.answered) == 8 * 7
    info = json.loads(next((tmp_path / "outputs" / "cache" / "conversations").glob("*/info.json")).read_text())
    assert info["synthesis"]["conversations"] == 8 and info["synthesis"]["usage"]["cached"] >= len(finished)
    convs = [json.loads(x) for x in next((tmp_path / "outputs" / "cache" / "conversations").glob(
        "*/conversations.jsonl")).read_text().splitlines()]
    assert len(convs) == 8 and all(len(c["messages"]) == 40 for c in convs)
    stats = json.loads(next((tmp_path / "outputs" / "runs" / "smoke").glob("*/data_stats.json")).read_text())
    assert stats["samples"]["train"] > 0
    assert server.auth == {f"Bearer {SECRET}"}  # the key was used, and is in none of the files the runs wrote
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) > 10 and not [p for p in written if SECRET.encode() in p.read_bytes()]


@pytest.mark.slow
def test_pipeline_dry_run_reports_and_sends_nothing(server, tmp_path):
    proc = _hins_run(tmp_path, server, "synthesis.dry_run=true", "synthesis.price_input_per_1k=0.00015")
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, out[-3000:]
    assert "Dry run (nothing sent): 56 calls" in out and not server.requests
    report = json.loads(next((tmp_path / "outputs" / "runs" / "smoke").glob("*/dry_run.json")).read_text())
    assert report["total_calls"] == 56 and report["cost_usd"] > 0


@pytest.mark.slow
def test_pipeline_llm_topics_on_procedural_conversations(server, tmp_path):
    proc = _hins_run(tmp_path, server, group="topics")
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, out[-3000:]
    assert dict(server.requests) == {"topics": 8}  # the conversations themselves are procedural
    stats = json.loads(next((tmp_path / "outputs" / "runs" / "smoke").glob("*/data_stats.json")).read_text())
    assert stats["topics"]["method"] == "llm" and stats["topics"]["usage"]["calls"] == 8
    assert stats["topics"]["ari_vs_ground_truth"] is not None and stats["samples"]["train"] > 0


@pytest.mark.slow
def test_pipeline_llm_queries_smoke_end_to_end(server, tmp_path):
    proc = _hins_run(tmp_path, server, group="queries", stop_after="train")
    out = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, out[-3000:]
    assert dict(server.requests) == {"topics": 8, "queries": 8}  # the conversations themselves are procedural
    run_dir = next((tmp_path / "outputs" / "runs" / "smoke").iterdir())
    stats = json.loads((run_dir / "data_stats.json").read_text())
    assert stats["queries"]["source"] == "llm" and stats["queries"]["llm"]["usage"]["calls"] == 16
    assert stats["queries"]["kept"] == 48 and stats["samples"]["train"] > 0
    assert json.loads((run_dir / "results.json").read_text())["results"]["trained"]["n_queries"] > 0
