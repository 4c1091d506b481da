"""End to end: the smoke experiment, and a two-job multirun that reuses the cached stages (subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HINS_ROOT": str(tmp_path), "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "hins.run", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


@pytest.mark.slow
def test_smoke_end_to_end(tmp_path):
    _run(tmp_path, "+experiment=smoke")
    runs = list((tmp_path / "outputs" / "runs" / "smoke").iterdir())
    assert len(runs) == 1
    run = runs[0]
    summary = json.loads((run / "results.json").read_text())
    for model in ("untuned", "trained"):
        res = summary["results"][model]
        assert res["n_queries"] > 0
        assert set(res["overall"]) == {"recall@1", "recall@5", "recall@10", "ndcg@10", "mrr"}
        assert set(res["win_rate"]) <= {"hard", "medium", "easy", "target_topic"} and res["win_rate"]
    assert summary["training"]["steps"] == 6
    assert summary["training"]["train_mode_share"] == 1.0  # dropout really on while training
    assert (run / "model" / "modules.json").exists()
    assert (run / "resolved_config.yaml").exists() and (run / "results.md").exists()
    assert (run / "csv" / "metrics.csv").exists()
    stats = json.loads((run / "data_stats.json").read_text())
    assert stats["negatives"]["train"]["samples"] == summary["data"]["train"]
    neg_dirs = list((tmp_path / "outputs" / "cache" / "negatives").iterdir())
    assert (neg_dirs[0] / "train" / "samples.jsonl").exists() and (neg_dirs[0] / "train" / "hf").is_dir()
    row = json.loads((neg_dirs[0] / "train" / "samples.jsonl").read_text().splitlines()[0])
    assert set(row) >= {"query", "pos", "neg"} and len(row["neg"]) == 15


@pytest.mark.slow
def test_multirun_over_negatives_reuses_cached_stages(tmp_path):
    # mine_margin 0: the tiny random model scores every message about the same, so a margin leaves no candidate
    proc = _run(tmp_path, "-m", "+experiment=smoke", "negatives=hins,mined", "negatives.mine_margin=0",
                "trainer.max_steps=2")
    log = proc.stdout + proc.stderr
    for stage in ("conversations", "topics", "queries"):
        assert log.count(f"stage {stage}: building") == 1, stage
        assert log.count(f"stage {stage}: reusing") == 1, stage
    assert log.count("stage negatives: building") == 2
    # The base model's vectors of a split are encoded once: the untuned test scores of both jobs and the mined
    # job's test negatives share them; mining adds the train and val splits'.
    assert log.count("stage base_vectors: building") == 3 and log.count("stage base_vectors: reusing") == 2
    jobs = sorted(p for p in next((tmp_path / "outputs" / "multiruns" / "smoke").iterdir()).iterdir() if p.is_dir())
    assert len([j for j in jobs if (j / "results.json").exists()]) == 2


FIXTURE = ROOT / "tests" / "fixtures" / "locomo_tiny.json"


@pytest.mark.slow
def test_extra_test_sets_are_evaluated_for_the_trained_model(tmp_path):
    """``eval.extra``: every conversation of each LoCoMo-format file evaluated, untuned and trained, with the main test
    set's metrics, each file its own test set in results.json and results.md (two files of one name numbered)."""
    proc = _run(tmp_path, "+experiment=smoke", f"eval.extra=[{FIXTURE},{FIXTURE}]")
    (run,) = (tmp_path / "outputs" / "runs" / "smoke").iterdir()
    summary = json.loads((run / "results.json").read_text())
    assert set(summary["extra"]) == {"locomo_tiny", "locomo_tiny-2"}
    first, second = summary["extra"]["locomo_tiny"], summary["extra"]["locomo_tiny-2"]
    assert first["path"] == str(FIXTURE) and first["test_set"] == second["test_set"] != summary["test_set"]
    for model in ("untuned", "trained"):
        res = first["results"][model]
        # the fixture's category 1-4 questions with evidence, over both its conversations
        assert res["n_queries"] == 9 and res["n_conversations"] == 2
        assert set(res["overall"]) == set(summary["results"][model]["overall"])
        assert {r["qid"].rsplit("-qa", 1)[0] for r in res["per_query"]} == {"tiny-1", "tiny-2"}
        assert res["speaker_shortcut"]["n"] > 0
        assert res["overall"] == second["results"][model]["overall"]
    assert first["results"]["untuned"]["overall"] != first["results"]["trained"]["overall"]
    log = proc.stdout + proc.stderr
    assert log.count("stage base_vectors: building") == 2  # the main test set's and the file's (read once for both)
    text = (run / "results.md").read_text()
    assert f"## Extra test set locomo_tiny ({FIXTURE}: 9 queries, 2 conversations)" in text
    assert "## Extra test set locomo_tiny-2" in text and "said by the speaker the question names" in text


def test_a_malformed_extra_file_is_named_before_any_training(tmp_path):
    from hins.config import validate
    from hins.locomo import LocomoFormatError
    from hins.pipeline import extra_sets
    from tests.test_config import _compose

    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "a list"}')
    run = validate(_compose(f"eval.extra=[{FIXTURE},{bad}]"))
    with pytest.raises(LocomoFormatError, match=r"eval.extra\[1\]: .*bad.json: expected a JSON list"):
        extra_sets(run)
