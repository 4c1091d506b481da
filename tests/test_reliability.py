"""Faults a week-long sweep meets: bad input files, kills mid-write and mid-training, damaged caches, NaN losses,
impossible settings and a full disk. RELIABILITY.md lists every test here (and the older ones it relies on),
one row each; ``test_reliability_table_matches_the_tests`` keeps the two in step."""

from __future__ import annotations

import copy
import errno
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hins.core.artifacts import ArtifactStore, DiskFullError, read_jsonl, verify, write_jsonl
from hins.core.config import ConfigError, validate
from hins.evaluation.locomo import LocomoFormatError, load_locomo
from hins.training.model import ModelLoadError, ModelSpec, load_embedder
from hins.stages.personas import JsonPersonas, PersonaSourceError
from hins.core.interrupt import TrainingInterrupted
from hins.training.train import ResumableBatchSampler, TrainingDiverged, _resume_lock, finish_resume, fit
from tests.conftest import ROOT
from tests.faults import Crash, FaultyLoss
from tests.test_config import _compose

FIXTURE = ROOT / "tests" / "fixtures" / "locomo_tiny.json"
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # a busy 2-core machine: 20x faster than 2 threads


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

# Fixed examples in CI (derandomize); HINS_FUZZ_EXAMPLES=2000 hunts with fresh random ones.
HUNT = os.environ.get("HINS_FUZZ_EXAMPLES")
FUZZ = settings(max_examples=int(HUNT or 60), derandomize=not HUNT, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

# Any JSON value a wrong file could hold where a field is expected, a huge string included.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20) | st.just("x" * 200_000) | st.sampled_from(["D1:1", "D9:99", "session_1", "", "5"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def _paths(node, prefix=()):
    """Every (container path, key) in a JSON tree."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        yield prefix, key
        yield from _paths(child, prefix + (key,))


def _at(node, path):
    for key in path:
        node = node[key]
    return node


@st.composite
def mutated(draw, original):
    """The document with 1-3 random fields deleted or replaced by a value of any type."""
    data = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, 3))):
        places = list(_paths(data))
        if not places:
            break
        path, key = draw(st.sampled_from(places))
        parent = _at(data, path)
        if draw(st.booleans()):
            del parent[key]
        else:
            parent[key] = draw(JSON_VALUES)
    return data


def _damaged_bytes(data: bytes, draw_cut: int, junk: bytes, mode: str) -> bytes:
    cut = draw_cut % max(1, len(data))
    if mode == "truncate":
        return data[:cut]
    return data[:cut] + junk + data[cut:]  # e.g. bytes that are not UTF-8


# ------------------------------------------------------------------------------------------------ LoCoMo files


@FUZZ
@given(data=mutated(json.loads(FIXTURE.read_text())))
def test_locomo_fuzzed_fields_load_or_name_the_problem(tmp_path, data):
    path = tmp_path / "fuzzed_locomo.json"
    path.write_text(json.dumps(data))
    try:
        corpus = load_locomo(path)
    except LocomoFormatError as err:
        assert str(path) in str(err)
        return
    cids = [c.cid for c in corpus.conversations]
    assert len(cids) == len(set(cids))
    sizes = {c.cid: len(c.messages) for c in corpus.conversations}
    assert all(sizes.values())
    for q in corpus.questions + corpus.observations:  # every evidence id points at a real message
        assert q.evidence and all(0 <= m < sizes[q.cid] for m in q.evidence)


@FUZZ
@given(cut=st.integers(0, 10**6), junk=st.binary(min_size=1, max_size=8) | st.just(b"\xff\xfe\xc3("),
       mode=st.sampled_from(["truncate", "insert"]))
def test_locomo_truncated_or_non_utf8_bytes_name_the_file(tmp_path, cut, junk, mode):
    path = tmp_path / "damaged_locomo.json"
    path.write_bytes(_damaged_bytes(FIXTURE.read_bytes(), cut, junk, mode))
    try:
        load_locomo(path)
    except LocomoFormatError as err:
        assert str(path) in str(err)


def test_bad_locomo_file_in_a_run_exits_with_one_line(tmp_path):
    path = tmp_path / "bad_locomo.json"
    path.write_text('[{"sample_id": 1, "conversation": {"speaker_a": "A"}}]')
    env = {**os.environ, "HINS_ROOT": str(tmp_path), "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1", **ONE_THREAD}
    proc = subprocess.run([sys.executable, "-m", "hins.run", "+experiment=locomo_cv", f"data.path={path}",
                           "stop_after=data"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-3000:]
    assert f"{path}: sample 0 (sample_id=1): field 'conversation.speaker_b'" in out and "Traceback" not in out


def _four_conversations(path: Path, change: dict[int, Any]) -> Path:
    """The tiny fixture twice over with distinct ids (folds of 2: conversations 0-1, then 2-3); ``change``: a
    conversation's index -> what to do to its questions."""
    samples = []
    for copy_no in range(2):
        for sample in json.loads(FIXTURE.read_text()):
            sample["sample_id"] = f"{sample['sample_id']}-{copy_no}"
            samples.append(sample)
    for i, fix in change.items():
        fix(samples[i])
    path.write_text(json.dumps(samples))
    return path


def _no_qa(sample: dict) -> None:
    sample["qa"] = []


def _dangling(sample: dict) -> None:
    for qa in sample["qa"]:
        qa["evidence"] = ["D99:1"]


@pytest.mark.parametrize(("change", "args", "message"), [
    ({2: _no_qa, 3: _no_qa}, [], "fold 1: the test split (tiny-1-1, tiny-2-1) holds no question to evaluate"),
    ({2: _dangling, 3: _dangling}, [], "fold 1: the test split (tiny-1-1, tiny-2-1) holds no question to evaluate"),
    ({2: _no_qa}, ["data.fold=0", "data.val_conversations=1", "data.train_queries=[qa]"],
     "fold 0: the val split (tiny-1-1) holds no question to choose the checkpoint on"),
])
def test_locomo_split_without_an_evaluable_question_is_named_before_training(tmp_path, monkeypatch, change, args,
                                                                             message):
    from hins.pipeline import Pipeline
    from hins.core.records import DataError
    from hins.stages.sources import source_for

    monkeypatch.setenv("HINS_ROOT", str(tmp_path))
    path = _four_conversations(tmp_path / "four.json", change)
    cfg = _compose("+experiment=locomo_cv", "model=tiny_random", f"data.path={path}", "negatives.k=3",
                   "negatives.group_size=2", *args)
    run = validate(cfg)
    with pytest.raises(DataError) as err:
        for fold in source_for(run).folds():
            Pipeline(run, tmp_path / "out", cfg.paths.cache_dir, None, fold).prepare()
    assert f"{path}: {message}" in str(err.value)
    data_only = _compose("+experiment=locomo_cv", "model=tiny_random", f"data.path={path}", "negatives.k=3",
                         "negatives.group_size=2", *args, "stop_after=data")
    for fold in source_for(run).folds():  # building the data alone is fine: nothing is evaluated
        Pipeline(validate(data_only), tmp_path / "out", data_only.paths.cache_dir, None, fold).prepare()


@pytest.mark.slow
def test_locomo_fold_without_an_evaluable_question_stops_the_run_before_any_fold_trains(tmp_path):
    """Found: such a fold trained, then died with KeyError 'ndcg@10' (exit 1); its model was written, its results
    never; with data.fold=all the folds before it had trained too."""
    path = _four_conversations(tmp_path / "four.json", {2: _no_qa, 3: _no_qa})
    env = {**os.environ, "HINS_ROOT": str(tmp_path), "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1", **ONE_THREAD}
    proc = subprocess.run([sys.executable, "-m", "hins.run", "+experiment=locomo_cv", "model=tiny_random", "logger=csv",
                           f"data.path={path}", "negatives.k=3", "negatives.group_size=2", "trainer.batch_size=4",
                           "trainer.max_steps=2"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-3000:]
    assert f"{path}: fold 1: the test split (tiny-1-1, tiny-2-1) holds no question to evaluate" in out
    assert "Traceback" not in out and "nothing was trained" in out
    assert not list(tmp_path.rglob("model")) and not list(tmp_path.rglob("*.ckpt"))  # fold 0 did not train either


def test_locomo_non_utf8_file_is_named(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes(FIXTURE.read_bytes().replace(b"Morning", "Mörning".encode("latin-1")))
    with pytest.raises(LocomoFormatError, match=re.escape(f"{path}: not UTF-8")):
        load_locomo(path)


def test_locomo_duplicate_ids_and_empty_conversations(tmp_path):
    data = json.loads(FIXTURE.read_text())
    path = tmp_path / "dup.json"
    path.write_text(json.dumps([data[0], data[0]]))
    with pytest.raises(LocomoFormatError, match=r"sample 1 \(sample_id='tiny-1'\): field 'sample_id'"):
        load_locomo(path)
    turns = data[0]["conversation"]["session_1"]
    data[0]["conversation"]["session_1"] = turns + [dict(turns[0], text="a second turn with the id D1:1")]
    path.write_text(json.dumps(data))
    assert load_locomo(path).stats["duplicate_dia_ids"] == 1  # counted; evidence keeps the first turn
    empty = copy.deepcopy(data[0])
    for key in [k for k in empty["conversation"] if k.startswith("session_")]:
        empty["conversation"][key] = [] if not key.endswith("date_time") else empty["conversation"][key]
    path.write_text(json.dumps([empty]))
    with pytest.raises(LocomoFormatError, match="at least one session_N with turns"):
        load_locomo(path)


def test_locomo_huge_text_field_is_kept_whole(tmp_path):
    data = json.loads(FIXTURE.read_text())
    data[0]["conversation"]["session_1"][0]["text"] = "word " * 400_000  # 2 MB in one turn
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(data))
    assert load_locomo(path).conversations[0].messages[0].text == "word " * 400_000


# ------------------------------------------------------------------------------------------------ persona files

PERSONAS = [
    {"name": "Ana Reyes", "age": 34, "sex": "female", "traits": {"hobby": "climbing", "job": "nurse"}},
    {"name": "Bo Lind", "traits": ["I keep bees.", "I read at night."]},
    {"name": "Cy Moss", "city": "Leeds", "age": 61},
]


@FUZZ
@given(data=mutated(PERSONAS) | mutated({"train": [{"Speaker 1": ["I swim."], "Speaker 2": ["I cook."]}]}))
def test_persona_fuzzed_fields_load_or_name_the_file(tmp_path, data):
    path = tmp_path / "fuzzed_personas.json"
    path.write_text(json.dumps(data))
    try:
        source = JsonPersonas(path, seed=0)
    except PersonaSourceError as err:
        assert str(path) in str(err)
        return
    for i in range(4):
        a, b = source.pair(i)
        assert a.name != b.name and isinstance(a.age, int)


@FUZZ
@given(cut=st.integers(0, 10**6), junk=st.binary(min_size=1, max_size=8), mode=st.sampled_from(["truncate", "insert"]),
       suffix=st.sampled_from([".json", ".jsonl"]))
def test_persona_truncated_or_non_utf8_bytes_name_the_file(tmp_path, cut, junk, mode, suffix):
    path = tmp_path / f"damaged_personas{suffix}"
    text = json.dumps(PERSONAS) if suffix == ".json" else "\n".join(json.dumps(p) for p in PERSONAS)
    path.write_bytes(_damaged_bytes(text.encode(), cut, junk, mode))
    try:
        JsonPersonas(path, seed=0)
    except PersonaSourceError as err:
        assert str(path) in str(err)


# ------------------------------------------------------------------------------------------------ model directories


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_embedder):
    return tiny_embedder.save(tmp_path_factory.mktemp("model") / "tiny")


MODEL_DAMAGE = {
    "empty_dir": lambda d: [shutil.rmtree(p) if p.is_dir() else p.unlink() for p in list(d.iterdir())],
    "config_truncated": lambda d: (d / "config.json").write_bytes((d / "config.json").read_bytes()[:20]),
    "config_not_utf8": lambda d: (d / "config.json").write_bytes(b"\xff\xfe{}"),
    "config_wrong_type": lambda d: (d / "config.json").write_text('{"model_type": "bert", "hidden_size": "big"}'),
    "config_a_list": lambda d: (d / "config.json").write_text("[1, 2]"),
    "weights_truncated": lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:999]),
    "weights_missing": lambda d: (d / "model.safetensors").unlink(),
    "tokenizer_truncated": lambda d: (d / "tokenizer.json").write_bytes((d / "tokenizer.json").read_bytes()[:50]),
    "tokenizer_missing": lambda d: (d / "tokenizer.json").unlink(),
    "pooling_not_json": lambda d: (d / "1_Pooling" / "config.json").write_bytes(b"\xff"),
    "pooling_a_list": lambda d: (d / "1_Pooling" / "config.json").write_text("[]"),
}


@pytest.mark.parametrize("damage", sorted(MODEL_DAMAGE))
def test_damaged_model_dir_names_the_path(model_dir, tmp_path, damage):
    target = tmp_path / "model"
    shutil.copytree(model_dir, target)
    MODEL_DAMAGE[damage](target)
    with pytest.raises(ModelLoadError) as err:
        load_embedder(ModelSpec(name="x", source="dir", path=str(target), pooling="auto"))
    assert str(target) in str(err.value)


# ------------------------------------------------------------------------------------------------ config overrides

NUMERIC_KEYS = ["trainer.lr", "loss.temperature", "model.temperature", "trainer.batch_size", "trainer.max_steps",
                "trainer.warmup_ratio", "trainer.weight_decay", "trainer.grad_clip", "negatives.k",
                "negatives.mine_margin", "queries.evidence_min", "eval.ndcg_k", "data.n_conversations"]


@pytest.mark.parametrize(("override", "key"), [
    ("trainer.lr=nan", "trainer.lr"), ("trainer.lr=inf", "trainer.lr"), ("trainer.lr=0.5", "trainer.lr"),
    ("loss.temperature=1e-4", "loss.temperature"), ("loss.temperature=inf", "loss.temperature"),
    ("model.temperature=0.001", "model.temperature"), ("model.temperature=nan", "model.temperature"),
    ("trainer.grad_clip=nan", "trainer.grad_clip"), ("trainer.batch_size=abc", "trainer.batch_size"),
])
def test_overflowing_or_nan_settings_are_rejected_at_composition(override, key):
    with pytest.raises(ConfigError) as err:
        validate(_compose(override))
    assert key in str(err.value)


@settings(max_examples=40, deadline=None, derandomize=not HUNT)
@given(key=st.sampled_from(NUMERIC_KEYS),
       value=st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1e308", "1e-308", "abc", "''", "[1]", "{a: 1}",
                              "true", "null"]) | st.floats(allow_nan=False, width=32).map(repr))
def test_fuzzed_numeric_overrides_validate_or_name_the_key(key, value):
    cfg = _compose(f"{key}={value}")
    try:
        validate(cfg)
    except ConfigError as err:
        assert key.split(".")[-1] in str(err)


def _flags_first(args):
    """Hydra's command line: flags (-m) before the overrides."""
    return sorted(args, key=lambda a: not a.startswith("-"))


# The key each case leaks: as a URL's password or query parameter, inside an OpenAI-shaped key, as a Hugging Face
# token where the NAME of a variable belongs; and from an environment variable, resolved only by the schema.
LEAK = "Zq8vX3mK9pL2wR5tY7uB"
ENDPOINT = ["synthesis=openai", "synthesis.model=m"]


@pytest.mark.parametrize(("module", "args", "key"), [
    ("hins.run", [*ENDPOINT, f"synthesis.base_url=http://user:{LEAK}@localhost:9/v1"], "synthesis.base_url"),
    ("hins.run", [*ENDPOINT, "synthesis.base_url=http://localhost:9/v1", f"synthesis.api_key_env=sk-proj-{LEAK}"],
     "synthesis.api_key_env"),
    ("hins.run", ["topics=llm", "topics.base_url=http://localhost:9/v1", "topics.model=m",
                  f"topics.api_key_env=hf_{LEAK}"], "topics.api_key_env"),
    ("hins.run", ["-m", "queries=llm", f"queries.base_url=http://localhost:9/v1?key={LEAK}", "queries.model=m",
                  "negatives=hins,no_easy"], "queries.base_url"),
    ("hins.paper_tables", [f"llm.base_url=http://user:{LEAK}@localhost:9/v1", "llm.model=m", "answer=true"],
     "llm.base_url"),
    pytest.param("hins.run", [*ENDPOINT, "synthesis.base_url=${oc.env:HINS_TEST_URL}"], "synthesis.base_url",
                 marks=pytest.mark.slow),
])
def test_a_key_in_the_config_is_refused_and_written_nowhere(tmp_path, module, args, key):
    """Found and fixed: such keys were written in plain text to the run's .hydra/config.yaml and overrides.yaml,
    and a URL's credentials crashed the run in aiohttp, printing the key in Hydra's error line."""
    env = {**os.environ, "HINS_ROOT": str(tmp_path), "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1",
           "HINS_TEST_URL": f"http://user:{LEAK}@localhost:9/v1", **ONE_THREAD}
    smoke = ["+experiment=smoke"] if module == "hins.run" else []
    proc = subprocess.run([sys.executable, "-m", module, *_flags_first([*smoke, *args])], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-3000:]
    assert LEAK not in out and "Traceback" not in out and "Error executing job" not in out
    assert any(key in line and "api_key_env" in line for line in out.splitlines()), out
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert not [p for p in written if LEAK.encode() in p.read_bytes()]
    if "oc.env" in args[-1]:  # Hydra composed this one and wrote its files: the key is in none of them
        assert any(p.name == "config.yaml" and p.parent.name == ".hydra" for p in written)
    else:  # refused before Hydra wrote anything
        assert written == [] and len(out.strip().splitlines()) == 1


# ------------------------------------------------------------------------------------------------ cache integrity


def _build(calls):
    def build(tmp):
        calls.append(1)
        write_jsonl(tmp / "rows.jsonl", [{"i": i, "text": f"row {i}"} for i in range(50)])
        (tmp / "sub").mkdir()
        (tmp / "sub" / "blob.bin").write_bytes(bytes(range(256)) * 8)
    return build


def _load(path):
    return read_jsonl(path / "rows.jsonl"), (path / "sub" / "blob.bin").read_bytes()


DAMAGE = st.sampled_from(["truncate", "flip", "append", "delete", "extra_file", "manifest"])


@FUZZ
@given(kind=DAMAGE, which=st.sampled_from(["rows.jsonl", "sub/blob.bin"]), where=st.integers(0, 10**6),
       junk=st.binary(min_size=1, max_size=16) | JSON_VALUES.map(lambda v: json.dumps(v).encode()))
def test_damaged_artifact_is_detected_and_rebuilt(tmp_path_factory, kind, which, where, junk):
    store, calls = ArtifactStore(tmp_path_factory.mktemp("cache")), []
    good = store.get_or_build("stage", "k1", _build(calls), _load)
    final = store.path("stage", "k1")
    target = final / which
    data = target.read_bytes()
    if kind == "truncate":
        target.write_bytes(data[: where % len(data)])
    elif kind == "flip":
        i = where % len(data)
        target.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:])
    elif kind == "append":
        target.write_bytes(data + junk)
    elif kind == "delete":
        target.unlink()
    elif kind == "extra_file":
        (final / "stray.txt").write_bytes(junk)
    else:
        manifest = final / "MANIFEST.json"
        assume(junk != manifest.read_bytes())
        manifest.write_bytes(junk)
    assert verify(final, "stage", "k1") is not None
    assert store.get_or_build("stage", "k1", _build(calls), _load) == good
    assert len(calls) == 2 and verify(final, "stage", "k1") is None


def test_artifact_under_another_key_is_not_used(tmp_path):
    store, calls = ArtifactStore(tmp_path), []
    store.get_or_build("stage", "k1", _build(calls), _load)
    shutil.copytree(store.path("stage", "k1"), store.path("stage", "k2"))  # a copied or renamed directory
    assert "for key 'k1', not 'k2'" in verify(store.path("stage", "k2"), "stage", "k2")
    store.get_or_build("stage", "k2", _build(calls), _load)
    assert len(calls) == 2


def test_artifact_that_verifies_but_does_not_load_is_rebuilt(tmp_path, caplog):
    store, calls = ArtifactStore(tmp_path), []
    store.get_or_build("stage", "k", _build(calls), _load)

    def strict_load(path):  # e.g. an artifact of an older format whose manifest is intact
        rows, blob = _load(path)
        if len(calls) == 1:
            raise KeyError("field_added_later")
        return rows, blob

    with caplog.at_level(logging.WARNING):
        store.get_or_build("stage", "k", _build(calls), strict_load)
    assert len(calls) == 2 and "does not load (KeyError" in caplog.text


def test_bad_jsonl_line_names_file_and_line(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"a": 1}\n\n{"a": \n')
    with pytest.raises(ValueError, match=re.escape(f"{path}: line 3: not a JSON record")):
        read_jsonl(path)
    path.write_bytes(b'{"a": 1}\n[1, 2]\n')
    with pytest.raises(ValueError, match="line 2: expected a JSON object, got list"):
        read_jsonl(path)
    path.write_bytes(b'{"a": "\xff"}\n')
    with pytest.raises(ValueError, match="line 1: not a JSON record"):
        read_jsonl(path)


def test_stage_killed_while_writing_leaves_nothing_finished(tmp_path):
    """SIGKILL a process in the middle of writing an artifact: no finished artifact, and the next run builds it and
    removes the dead process's temporary directory."""
    script = (
        "import sys, time\n"
        "from hins.core.artifacts import ArtifactStore\n"
        "def build(tmp):\n"
        "    (tmp / 'half.txt').write_text('x' * 1000)\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
        "ArtifactStore(sys.argv[1]).get_or_build('stage', 'k', build, lambda p: None)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    store, calls = ArtifactStore(tmp_path), []
    assert not store.path("stage", "k").exists()
    claim, left = sorted((tmp_path / "stage").iterdir())
    assert left.name.startswith(".k.tmp-") and left.name.endswith(f"-{proc.pid}")
    assert claim.name == ".k.claim" and json.loads(claim.read_text())["pid"] == proc.pid  # its build claim, now stale
    store.get_or_build("stage", "k", _build(calls), _load)
    assert calls == [1] and sorted(p.name for p in (tmp_path / "stage").iterdir()) == ["k"]


def test_parallel_job_finishing_the_same_artifact_first_is_reused(tmp_path):
    store, calls = ArtifactStore(tmp_path / "cache"), []

    def racing_build(tmp):  # another job (process) finishes the same artifact while this one is still writing
        _build(calls)(tmp)
        other = ArtifactStore(tmp_path / "other")
        other.get_or_build("stage", "k", _build([]), _load)
        shutil.copytree(other.path("stage", "k"), store.path("stage", "k"))

    assert store.get_or_build("stage", "k", racing_build, _load) == _load(store.path("stage", "k"))
    assert sorted(p.name for p in (tmp_path / "cache" / "stage").iterdir()) == ["k"]


def test_jobs_building_the_same_stage_at_once_build_it_once(tmp_path):
    """Two processes (two jobs of a parallel sweep) need the same stage at the same moment: one builds it under its
    claim, the other waits, and both get the artifact."""
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from hins.core.artifacts import ArtifactStore\n"
        "root, me = Path(sys.argv[1]), sys.argv[2]\n"
        "(root / f'ready-{me}').touch()\n"
        "while len(list(root.glob('ready-*'))) < 2:  # start together\n"
        "    time.sleep(0.01)\n"
        "def build(tmp):\n"
        "    with open(root / 'builds', 'a') as f:\n"
        "        f.write(me + '\\n')\n"
        "    time.sleep(1)\n"
        "    (tmp / 'a.txt').write_text('built')\n"
        "store = ArtifactStore(root / 'cache', poll=0.05)\n"
        "print(store.get_or_build('stage', 'k', build, lambda p: (p / 'a.txt').read_text()))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), name], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT) for name in ("a", "b")]
    outs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], [err[-2000:] for _, err in outs]
    assert [out.strip() for out, _ in outs] == ["built", "built"]
    assert len((tmp_path / "builds").read_text().split()) == 1  # exactly one build
    assert sorted(p.name for p in (tmp_path / "cache" / "stage").iterdir()) == ["k"]  # the claim released


def test_a_stale_build_claim_is_taken_over(tmp_path):
    """A claim whose owner died on this host is taken over at once; one of another host whose heartbeat stopped
    (its mtime no longer moves), after ``stale_after`` seconds."""
    import hins.core.artifacts as artifacts

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store, calls = ArtifactStore(tmp_path, stale_after=0.2, poll=0.02), []
    (tmp_path / "stage").mkdir()
    for key, owner in (("k", {"host": artifacts._HOST, "pid": dead.pid}), ("k2", {"host": "elsewhere", "pid": 1})):
        (tmp_path / "stage" / f".{key}.claim").write_text(json.dumps({**owner, "token": "stale"}))
        assert store.get_or_build("stage", key, _build(calls), _load) == _load(store.path("stage", key))
    assert calls == [1, 1] and sorted(p.name for p in (tmp_path / "stage").iterdir()) == ["k", "k2"]


# ------------------------------------------------------------------------------------------------ disk


def test_full_disk_names_the_path_cleans_up_and_the_next_run_rebuilds(tmp_path, monkeypatch):
    import hins.core.artifacts as artifacts

    store, calls = ArtifactStore(tmp_path), []

    def no_space(path, rows):
        Path(path).write_text("partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(artifacts, "write_jsonl", no_space)

    def build(tmp):
        artifacts.write_jsonl(tmp / "rows.jsonl", [])

    with pytest.raises(DiskFullError) as err:
        store.get_or_build("stage", "k", build, _load)
    message = str(err.value)
    assert "stage stage: no space left" in message and "rows.jsonl" in message and "free there" in message
    assert err.value.errno == errno.ENOSPC
    assert list((tmp_path / "stage").iterdir()) == []  # the partial directory is gone
    monkeypatch.undo()
    store.get_or_build("stage", "k", _build(calls), _load)
    assert calls == [1] and verify(store.path("stage", "k"), "stage", "k") is None


def test_disk_estimate_is_logged_and_warns_when_too_little_is_free(monkeypatch, caplog, tiny_embedder):
    import hins.core.disk as disk

    small, full = (validate(_compose("+experiment=smoke", f"data.n_conversations={n}")) for n in (16, 5860))
    parts = disk.estimate(full, 33_400_000, 384)
    assert 500e6 < parts["negatives"] < 5e9  # ~293k samples x 16 passages: gigabytes, not megabytes
    assert parts["checkpoints"] == 2 * 3 * 4 * 33_400_000
    assert disk.estimate(small, 1, 32)["negatives"] < parts["negatives"] / 100
    monkeypatch.setattr(disk, "free_bytes", lambda path: 1000)
    with caplog.at_level(logging.INFO):
        disk.log_estimate(small, "/cache", "/out", tiny_embedder)
    assert "disk: this run writes roughly" in caplog.text and "only 1.0 KB free at /cache" in caplog.text


@pytest.mark.slow
def test_full_disk_in_a_run_exits_cleanly_and_the_rerun_recovers(tmp_path):
    script = (
        "import errno, sys\n"
        "import hins.core.artifacts as a\n"
        "real = a.write_jsonl\n"
        "def no_space(path, rows):\n"
        "    if path.name == 'queries.jsonl' and path.parent.parent.name == 'queries':\n"
        "        raise OSError(errno.ENOSPC, 'No space left on device', str(path))\n"
        "    return real(path, rows)\n"
        "a.write_jsonl = no_space\n"
        "import hins.stages.queries\n"
        "hins.stages.queries.write_jsonl = no_space\n"
        "import runpy\n"
        "sys.argv = ['hins/run.py', *sys.argv[1:]]\n"
        "runpy.run_module('hins.run', run_name='__main__')\n"
    )
    args = ["+experiment=smoke", "stop_after=data", "logger=csv"]
    env = {**os.environ, "HINS_ROOT": str(tmp_path), "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1", **ONE_THREAD}
    proc = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 5, out[-3000:]
    assert "stage queries: no space left on the device while writing" in out and "Traceback" not in out
    cache = tmp_path / "outputs" / "cache"
    assert list((cache / "queries").iterdir()) == []  # nothing half-written is left
    proc = subprocess.run([sys.executable, "-m", "hins.run", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "stage conversations: reusing" in out and "stage queries: building" in out


@pytest.mark.parametrize(("env", "args", "named"), [
    ({"HINS_ROOT": "{tmp}/file.txt/sub"}, [], "{tmp}/file.txt/sub/outputs/runs/smoke/"),  # under a file
    ({}, ["paths.cache_dir=/sys/hins-cache"], "/sys/hins-cache"),  # refused even to root
    ({}, ["paths.train_state_dir=/proc/hins/state"], "/proc/hins/state"),  # cannot be made
    ({}, ["-m", "paths.cache_dir=/sys/hins-cache", "negatives=hins,no_easy"], "/sys/hins-cache"),
])
def test_unwritable_output_directory_stops_the_run_before_any_work(tmp_path, env, args, named):
    """Found and fixed: a raw NotADirectoryError from Hydra, or from the first stage after the run had started."""
    (tmp_path / "file.txt").write_text("x")
    env = {**os.environ, "HINS_ROOT": str(tmp_path / "root"), "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1",
           **{k: v.format(tmp=tmp_path) for k, v in env.items()}}
    proc = subprocess.run([sys.executable, "-m", "hins.run", *_flags_first(["+experiment=smoke", *args])], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 5, out[-3000:]
    [line] = out.strip().splitlines()
    assert line.startswith(f"error: cannot write to {named.format(tmp=tmp_path)}") and "writable directory" in line
    assert not (tmp_path / "root").exists()  # no run directory, no stage


@pytest.mark.slow
def test_directory_unwritable_mid_run_names_the_path_and_keeps_what_was_built(tmp_path):
    script = (
        "import errno, sys\n"
        "import hins.core.artifacts as a\n"
        "real = a.write_jsonl\n"
        "def read_only(path, rows):\n"
        "    if path.name == 'queries.jsonl' and path.parent.parent.name == 'queries':\n"
        "        raise PermissionError(errno.EACCES, 'Permission denied', str(path))\n"
        "    return real(path, rows)\n"
        "import hins.stages.queries\n"
        "hins.stages.queries.write_jsonl = read_only\n"
        "import runpy\n"
        "sys.argv = ['hins/run.py', *sys.argv[1:]]\n"
        "runpy.run_module('hins.run', run_name='__main__')\n"
    )
    args = ["+experiment=smoke", "stop_after=data"]
    env = {**os.environ, "HINS_ROOT": str(tmp_path), "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1", **ONE_THREAD}
    proc = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 5, out[-3000:]
    cache = tmp_path / "outputs" / "cache"
    assert re.search(rf"cannot write {re.escape(str(cache / 'queries'))}/\S+/queries.jsonl \(Permission denied\); "
                     "what was finished is kept", out) and "Traceback" not in out
    assert list((cache / "queries").iterdir()) == [] and list((cache / "conversations").iterdir())
    proc = subprocess.run([sys.executable, "-m", "hins.run", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "stage conversations: reusing" in out and "stage queries: building" in out


# ------------------------------------------------------------------------------------------------ training


@settings(max_examples=40, deadline=None, derandomize=not HUNT)
@given(n=st.integers(1, 40), batch=st.integers(1, 9), seed=st.integers(0, 2**31), epochs=st.integers(1, 3),
       start=st.integers(0, 60))
def test_resumable_sampler_gives_the_dataloaders_batches_from_any_step(n, batch, seed, epochs, start):
    from torch.utils.data import DataLoader

    drop = n >= batch
    loader = DataLoader(list(range(n)), batch_size=batch, shuffle=True, drop_last=drop,
                        generator=torch.Generator().manual_seed(seed), collate_fn=lambda x: x)
    expected = [b for _ in range(epochs) for b in loader]  # what training saw before this sampler existed
    sampler = ResumableBatchSampler(n, batch, drop, seed)
    got, step = [], 0
    sampler.position = lambda: step
    while len(got) < len(expected):
        for b in sampler:
            got.append(b)
        step = len(got)
    assert got == expected
    step = start % len(expected)  # a run resumed after `step` steps continues with the rest of that epoch
    epoch_end = (step // len(sampler) + 1) * len(sampler)
    assert list(sampler) == expected[step:epoch_end]


@settings(max_examples=40, deadline=None, derandomize=not HUNT)
@given(n=st.integers(3, 40), per_device=st.integers(1, 4), world=st.integers(2, 3), seed=st.integers(0, 2**31),
       start=st.integers(0, 30))
def test_ddp_processes_share_every_global_batch_from_any_step(n, per_device, world, seed, start):
    """Under DDP each process takes its share of the batch one device would train on, also after a resume."""
    batch = per_device * world
    drop = n >= batch
    one = ResumableBatchSampler(n, batch, drop, seed)
    ranks = [ResumableBatchSampler(n, batch, drop, seed) for _ in range(world)]
    for rank, sampler in enumerate(ranks):
        sampler.shard = lambda rank=rank: (rank, world)
    for sampler in (one, *ranks):
        sampler.position = lambda: start
    shares = [list(s) for s in ranks]
    assert len({len(s) for s in shares}) == 1  # every process runs the same number of steps
    assert [sum(parts, []) for parts in zip(*shares)] == list(one)
    assert all(parts for step in zip(*shares) for parts in step)  # no process gets an empty batch


def _rows(n=20, k=3):
    return [{"sid": f"s{i}", "qid": f"q{i // 2}", "query": f"what did Ann say about topic {i % 7}",
             "pos": f"Ann: topic {i % 7} line {i}", "neg": [f"Bob: other {i} {j}" for j in range(k)]}
            for i in range(n)]


def _validate(model):  # a deterministic score of the weights, standing in for nDCG on held-out queries
    v = model.encode(["Ann: topic 1 line 1", "what did Ann say about topic 1", "Bob: other 3 1"])
    return {"ndcg@10": float(v[0] @ v[1] - v[0] @ v[2])}


def _train_cfg(*overrides):
    cfg = _compose("+experiment=smoke", "trainer.batch_size=4", "trainer.max_steps=9", "trainer.val_every_n_steps=2",
                   "trainer.log_every_n_steps=1", "loss._target_=tests.faults.FaultyLoss", *overrides)
    return cfg, validate(cfg)


def _fit(tmp, embedder, state, crash_at=None, validate_fn=_validate, overrides=(), signal_at=None):
    _, run = _train_cfg(*overrides)
    FaultyLoss.crash_at, FaultyLoss.signal_at = crash_at, signal_at
    try:
        return fit(run, embedder, _rows(), validate_fn, tmp, state)
    finally:
        FaultyLoss.crash_at = FaultyLoss.signal_at = None


def _same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        torch.testing.assert_close(sa[name], sb[name], rtol=1e-5, atol=1e-6, msg=name)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, tiny_embedder):
    tmp = tmp_path_factory.mktemp("uninterrupted")
    results = {}
    for name, validate_fn in (("val", _validate), ("noval", None)):
        results[name] = _fit(tmp / name, tiny_embedder, tmp / f"state_{name}", validate_fn=validate_fn)
    return results


@pytest.mark.parametrize(("crash_at", "with_val"), [(1, True), (3, True), (6, True), (8, True), (5, False)])
def test_training_killed_at_a_step_resumes_to_the_same_weights(tmp_path, tiny_embedder, uninterrupted, crash_at,
                                                              with_val):
    """A kill at step 1 (before any checkpoint), 3 and 6 (mid-epoch, after a validation), 8 (in the second
    epoch), and without validation: the rerun continues to the weights of an uninterrupted run."""
    validate_fn = _validate if with_val else None
    state = tmp_path / "state"
    with pytest.raises(Crash):
        _fit(tmp_path / "killed", tiny_embedder, state, crash_at, validate_fn)
    model, info = _fit(tmp_path / "resumed", tiny_embedder, state, validate_fn=validate_fn)
    ref_model, ref_info = uninterrupted["val" if with_val else "noval"]
    assert info["resumed_from"] == (str(state / "last.ckpt") if crash_at >= 2 else None)
    assert info["steps"] == ref_info["steps"] == 9
    assert info.get("best_val") == ref_info.get("best_val")
    _same_weights(model, ref_model)
    finish_resume(info, tmp_path / "resumed")
    assert not state.exists()
    if with_val:
        assert Path(info["best_checkpoint"]).parent == tmp_path / "resumed" / "checkpoints"


@pytest.mark.parametrize(("signal_at", "with_val", "stopped_at"), [
    ((2, signal.SIGINT, 1), True, 3),  # step 3: saved at its end
    ((3, signal.SIGINT, 1), True, 4),  # step 4, which a validation follows: the validation's last.ckpt is the save
    ((5, signal.SIGTERM, 1), True, 6),
    ((6, signal.SIGINT, 2), True, 6),  # Ctrl-C twice during step 7: stops at once, the validation at 6 saved
    ((8, signal.SIGINT, 1), True, 9),  # the last step
    ((4, signal.SIGINT, 1), False, 5),
])
def test_training_stopped_by_a_signal_saves_a_checkpoint_and_resumes_to_the_same_weights(
        tmp_path, tiny_embedder, uninterrupted, signal_at, with_val, stopped_at):
    validations = []  # every validation of the schedule (steps 2, 4, 6, 8) runs once, before the stop or after

    def counted(model):
        validations.append(1)
        return _validate(model)

    validate_fn = counted if with_val else None
    state = tmp_path / "state"
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(TrainingInterrupted) as stop:
        _fit(tmp_path / "stopped", tiny_embedder, state, validate_fn=validate_fn, signal_at=signal_at)
    assert {s: signal.getsignal(s) for s in handlers} == handlers  # given back
    err = stop.value
    assert (err.signame, err.step, err.checkpoint, err.checkpoint_step) == \
        (signal.Signals(signal_at[1]).name, stopped_at, str(state / "last.ckpt"), stopped_at)
    assert torch.load(state / "last.ckpt", weights_only=False)["global_step"] == stopped_at
    model, info = _fit(tmp_path / "resumed", tiny_embedder, state, validate_fn=validate_fn)
    ref_model, ref_info = uninterrupted["val" if with_val else "noval"]
    assert info["resumed_from"] == str(state / "last.ckpt")
    assert info["steps"] == ref_info["steps"] == 9 and info.get("best_val") == ref_info.get("best_val")
    assert len(validations) == (4 if with_val else 0)
    _same_weights(model, ref_model)


def test_unreadable_resume_checkpoint_trains_from_scratch(tmp_path, tiny_embedder, uninterrupted, caplog):
    state = tmp_path / "state"
    with pytest.raises(Crash):
        _fit(tmp_path / "killed", tiny_embedder, state, 5)
    last = state / "last.ckpt"
    last.write_bytes(last.read_bytes()[:1000])
    with caplog.at_level(logging.WARNING):
        model, info = _fit(tmp_path / "again", tiny_embedder, state)
    assert "is unreadable" in caplog.text and info["resumed_from"] is None
    _same_weights(model, uninterrupted["val"][0])


def test_two_runs_of_one_config_cannot_share_a_resume_directory(tmp_path):
    with _resume_lock(tmp_path / "state"):
        with pytest.raises(RuntimeError, match="another run of this config is training in .*trainer.resume=false"):
            with _resume_lock(tmp_path / "state"):
                pass


@pytest.mark.parametrize("check_every", [1, 3])
def test_nan_loss_stops_training_naming_step_and_batch(tmp_path, tiny_embedder, monkeypatch, check_every):
    monkeypatch.setenv("HINS_NAN_AT", "3")
    state = tmp_path / "state"
    with pytest.raises(TrainingDiverged, match=r"training loss is nan at step 3 \(batch 3 of epoch 0, samples \["):
        _fit(tmp_path / "run", tiny_embedder, state, overrides=(f"trainer.log_every_n_steps={check_every}",))
    saved = torch.load(state / "last.ckpt", weights_only=False)  # the last checkpoint predates the NaN
    assert saved["global_step"] == 2
    assert all(torch.isfinite(t).all() for t in saved["state_dict"].values())


@pytest.mark.slow
def test_nan_loss_in_a_run_exits_with_the_step(tmp_path):
    env = {**os.environ, "HINS_ROOT": str(tmp_path), "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1",
           "HINS_NAN_AT": "4", **ONE_THREAD}
    args = ["+experiment=smoke", "loss._target_=tests.faults.FaultyLoss"]
    proc = subprocess.run([sys.executable, "-m", "hins.run", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 4, out[-3000:]
    assert "training stopped: training loss is nan at step 4 (batch 4 of epoch 0" in out
    assert "Traceback" not in out


def _smoke(tmp_path, root, *extra, wait=True, env=()):
    env = {**os.environ, "HINS_ROOT": str(root), "HINS_CACHE": str(tmp_path / "cache"), "WANDB_MODE": "disabled",
           "HF_HUB_OFFLINE": "1", **ONE_THREAD, **dict(env)}
    args = [sys.executable, "-m", "hins.run", "+experiment=smoke", "trainer.max_steps=12", *extra]
    if not wait:  # in a process group of its own, as a terminal's job: Ctrl-C reaches its loader workers too
        return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return proc.stdout + proc.stderr


def _losses(run_dir):
    rows = (run_dir / "csv" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    col, step = header.index("train/loss"), header.index("step")
    return {int(r.split(",")[step]): float(r.split(",")[col]) for r in rows[1:] if r.split(",")[col]}


@pytest.mark.slow
def test_run_killed_with_sigkill_resumes_with_the_same_command_to_the_same_weights(tmp_path):
    from safetensors.torch import load_file

    _smoke(tmp_path, tmp_path / "a")  # uninterrupted (and builds the shared data cache)
    proc = _smoke(tmp_path, tmp_path / "b", wait=False)
    state_root = tmp_path / "b" / "outputs" / "train_state"
    deadline = time.time() + 240
    while not list(state_root.glob("*/last.ckpt")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    [killed] = (tmp_path / "b" / "outputs" / "runs" / "smoke").iterdir()
    assert not (killed / "results.json").exists()  # it really died mid-training
    log = _smoke(tmp_path, tmp_path / "b")
    assert re.search(r"resuming training from .*last\.ckpt \(step \d+ of 12\)", log)
    assert "disk: this run writes roughly" in log
    [ref] = (tmp_path / "a" / "outputs" / "runs" / "smoke").iterdir()
    [resumed] = [d for d in (tmp_path / "b" / "outputs" / "runs" / "smoke").iterdir() if d != killed]
    a, b = load_file(ref / "model" / "model.safetensors"), load_file(resumed / "model" / "model.safetensors")
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-6, msg=name)
    after = _losses(resumed)
    assert after and all(after[s] == pytest.approx(_losses(ref)[s], rel=1e-5) for s in after)
    assert json.loads((resumed / "results.json").read_text())["results"] == \
        json.loads((ref / "results.json").read_text())["results"]
    assert not any(state_root.iterdir())  # finished: the resume directory is gone


@pytest.mark.slow
def test_run_interrupted_with_ctrl_c_marks_its_directory_and_resumes_to_the_same_weights(tmp_path):
    """Found and fixed: Ctrl-C ended with Lightning's message alone and exit 1, nothing marked the run, and
    the rerun trained from scratch when no checkpoint existed yet."""
    from safetensors.torch import load_file

    extra = ("loss._target_=tests.faults.FaultyLoss", "trainer.num_workers=1")
    _smoke(tmp_path, tmp_path / "a", *extra)  # uninterrupted (and builds the shared data cache)
    waiting = tmp_path / "waiting"  # FaultyLoss writes it during step 5 and waits for the signal
    proc = _smoke(tmp_path, tmp_path / "b", *extra, wait=False,
                  env={"HINS_WAIT_AT": "4", "HINS_WAIT_FILE": str(waiting)})
    deadline = time.time() + 240
    while not waiting.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: to the whole process group
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, out[-3000:]
    [stopped] = (tmp_path / "b" / "outputs" / "runs" / "smoke").iterdir()
    marker = json.loads((stopped / "INTERRUPTED").read_text())
    state = marker["checkpoint"]
    assert (marker["signal"], marker["step"], marker["max_steps"], marker["checkpoint_step"]) == ("SIGINT", 5, 12, 5)
    # the entry point reads +experiment= as experiment= (the defaults list holds experiment: null)
    assert marker["resume"].endswith("python -m hins.run experiment=smoke trainer.max_steps=12 " + " ".join(extra))
    assert f"interrupted by SIGINT at training step 5 of 12; checkpoint {state} (step 5)" in out
    assert "Traceback" not in out and not (stopped / "results.json").exists()
    log = _smoke(tmp_path, tmp_path / "b", *extra)
    assert f"resuming training from {state} (step 5 of 12)" in log
    [ref] = (tmp_path / "a" / "outputs" / "runs" / "smoke").iterdir()
    [resumed] = [d for d in (tmp_path / "b" / "outputs" / "runs" / "smoke").iterdir() if d != stopped]
    a, b = load_file(ref / "model" / "model.safetensors"), load_file(resumed / "model" / "model.safetensors")
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-6, msg=name)
    assert json.loads((resumed / "results.json").read_text())["results"] == \
        json.loads((ref / "results.json").read_text())["results"]


# ------------------------------------------------------------------------------------------------ RELIABILITY.md


def test_reliability_table_matches_the_tests():
    """Every row of RELIABILITY.md names a test that exists, and every test of this file has a row."""
    import ast

    rows = [line for line in (ROOT / "RELIABILITY.md").read_text().splitlines() if re.match(r"\| \d+ \|", line)]
    per_row = [re.findall(r"`(tests/test_\w+\.py)::(\w+)`", row) for row in rows]
    assert rows and all(len(ids) == 1 for ids in per_row), "every row names exactly one test"
    cited = [ids[0] for ids in per_row]
    assert len(cited) == len(set(cited)), "a test is listed twice"
    defined = {}
    for path in {p for p, _ in cited} | {"tests/test_reliability.py"}:
        tree = ast.parse((ROOT / path).read_text())
        defined[path] = {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}
    missing = [f"{p}::{t}" for p, t in cited if t not in defined[p]]
    assert not missing, f"RELIABILITY.md cites tests that do not exist: {missing}"
    unlisted = sorted(defined["tests/test_reliability.py"] - {t for p, t in cited if p == "tests/test_reliability.py"})
    assert not unlisted, f"tests missing from RELIABILITY.md: {unlisted}"
