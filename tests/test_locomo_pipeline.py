"""LoCoMo-format logs as a training source: folds by conversation never leak into training."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig

from hins.core.config import validate
from hins.pipeline import Pipeline, load_model
from hins.stages.splits import fold_split
from hins.core.records import DataError
from tests.conftest import CONF, ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "locomo_tiny.json"


@pytest.fixture
def four_conversations(tmp_path: Path) -> Path:
    """The tiny fixture twice over, renamed and reworded so every conversation is distinct."""
    samples = json.loads(FIXTURE.read_text())
    out = []
    for copy_no in range(2):
        for sample in samples:
            s = copy.deepcopy(sample)
            s["sample_id"] = f"{s['sample_id']}-{copy_no}"
            for key, turns in s["conversation"].items():
                if isinstance(turns, list):
                    for t in turns:
                        t["text"] = f"{t['text']} (copy {copy_no})"
            for qa in s.get("qa", []):
                qa["question"] = f"{qa['question']} (copy {copy_no})"
            out.append(s)
    path = tmp_path / "four.json"
    path.write_text(json.dumps(out))
    return path


def _cfg(tmp_path: Path, *overrides: str):
    os.environ["HINS_ROOT"] = str(tmp_path)
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["experiment=locomo_cv", "model=tiny_random", *overrides],
                      return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
    return cfg


def test_fold_split_partitions_conversations():
    cids = [f"c{i}" for i in range(10)]
    tests = []
    for fold in range(3):
        split = fold_split(cids, 3, fold, 1)
        assert not set(split["test"]) & (set(split["train"]) | set(split["val"]))
        assert sorted(split["train"] + split["val"] + split["test"]) == cids
        tests += split["test"]
    assert sorted(tests) == cids  # every conversation is evaluated exactly once
    # folds the conversations cannot fill stop the run in one line (hins.run: exit 2), naming the key
    with pytest.raises(DataError, match="data.folds=20 needs at least 20 conversations"):
        fold_split(cids, 20, 0, 1)
    with pytest.raises(DataError, match="data.val_conversations=7 leaves no training conversation"):
        fold_split(cids, 3, 0, 7)


@pytest.mark.parametrize("fold", [0, 1])
def test_no_turn_question_or_observation_of_the_evaluated_fold_reaches_training(tmp_path, four_conversations, fold):
    cfg = _cfg(tmp_path, f"data.path={four_conversations}", "negatives.k=3", "negatives.group_size=2")
    run = validate(cfg)
    data = Pipeline(run, tmp_path / "out", cfg.paths.cache_dir, None, fold).prepare()
    held = set(data.splits["test"])
    assert held and data.splits["train"]
    held_texts = {m.text for c in held for m in data.conversations[c].messages}
    held_queries = {q.text for q in data.queries["test"]}
    train = data.datasets["train"]
    assert len(train) > 0
    kinds = {q.kind for q in data.queries["train"]}
    assert "observation" in kinds  # observations train; they never evaluate
    assert all(q.kind != "observation" for q in data.queries["test"])
    for row in train:
        assert row["cid"] not in held
        assert row["pos_id"].rsplit(":", 1)[0] not in held
        assert all(n.rsplit(":", 1)[0] not in held for n in row["neg_ids"])
        assert row["query"] not in held_queries
        assert not any(p.split(": ", 1)[1] in held_texts for p in [row["pos"], *row["neg"]])


def _rewrite(path: Path, out: Path, cids: set[str]) -> Path:
    """``path`` with the conversations ``cids`` changed: every turn reworded, every question's and observation's
    evidence moved to the conversation's first turn (or, for questions citing it, its second)."""
    samples = json.loads(path.read_text())
    for s in samples:
        if s["sample_id"] not in cids:
            continue
        turns = [t for v in s["conversation"].values() if isinstance(v, list) for t in v]
        for t in turns:
            t["text"] = f"something else entirely, {t['text'][::-1]}"
        first, second = turns[0]["dia_id"], turns[1]["dia_id"]
        for qa in s["qa"]:
            qa["evidence"] = [second if first in str(qa.get("evidence")) else first]
        for per_speaker in s.get("observation", {}).values():
            for facts in per_speaker.values():
                for fact in facts:
                    fact[1:] = [second]
    out.write_text(json.dumps(samples))
    return out


def _calibration(tmp_path: Path, path: Path, cache: str, fold: int = 0) -> tuple[dict, dict]:
    cfg = _cfg(tmp_path, f"data.path={path}", "negatives=calibrated", "negatives.k=3", "negatives.group_size=2",
               f"paths.cache_dir={tmp_path / cache}")
    run = validate(cfg)
    data = Pipeline(run, tmp_path / "out", cfg.paths.cache_dir, load_model(run), fold).prepare()
    return data.stats["negatives"], data.splits


def test_calibrated_ratios_read_only_the_training_split(tmp_path, four_conversations):
    """``negatives=calibrated``: the fold's ratio comes from its training conversations alone; rewording a held-out
    conversation and moving its evidence leaves the ratio (and its intervals) as they were, the same change to a
    training conversation moves it; the training negatives are drawn by the measured ratio."""
    stats, splits = _calibration(tmp_path, four_conversations, "a")
    calibration = stats["calibration"]
    assert calibration["conversations"] == splits["train"] and set(splits["test"]).isdisjoint(splits["train"])
    assert calibration["distractors"] == 3 * calibration["questions"] > 0
    shares = {t: calibration["tiers"][t]["share"] for t in ("hard", "medium", "easy")}
    assert stats["effective_ratios"] == pytest.approx(shares)
    assert all(v["ci_low"] <= v["share"] <= v["ci_high"] for v in calibration["tiers"].values())

    held_out = _rewrite(four_conversations, tmp_path / "held_out.json", set(splits["test"]))
    changed, same_splits = _calibration(tmp_path, held_out, "b")
    assert same_splits == splits and changed["calibration"] == calibration

    trained_on = _rewrite(four_conversations, tmp_path / "trained_on.json", {splits["train"][0]})
    moved, _ = _calibration(tmp_path, trained_on, "c")
    assert moved["calibration"]["all"] != calibration["all"]


def test_calibrate_command_reads_the_training_split_of_a_given_fold(tmp_path, four_conversations):
    """``python -m hins.calibrate data.fold=1`` measures what a run of fold 1 with negatives=calibrated draws by,
    and names the conversations it read."""
    from hins.calibrate import _measure_run, report

    overrides = [f"data.path={four_conversations}", "model=tiny_random", "negatives.k=3", "negatives.group_size=2"]
    os.environ["HINS_ROOT"] = str(tmp_path)
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="calibrate", overrides=[*overrides, "data.fold=1"], return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
    run = validate(cfg, extra=("calibrate",))
    result, used = _measure_run(run, cfg.paths.cache_dir, tmp_path / "tool", load_model(run), 3, "group", 2000)
    stats, splits = _calibration(tmp_path, four_conversations, "cache", fold=1)
    assert result["conversations"] == splits["train"] and "fold 1" in used
    assert result == stats["calibration"]
    text = report(result, {"data": "locomo", "model": "tiny", "top_n": 3, "pool": "group", "conversation_set": used})
    assert f"Conversations read: {used}: {', '.join(splits['train'])}." in text


@pytest.mark.slow
def test_locomo_cv_end_to_end(tmp_path, four_conversations):
    env = {**os.environ, "HINS_ROOT": str(tmp_path), "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "hins.run", "+experiment=locomo_cv", "model=tiny_random", "logger=csv",
         f"data.path={four_conversations}", "negatives.k=3", "negatives.group_size=2", "trainer.batch_size=4",
         "trainer.max_steps=2", f"eval.extra=[{FIXTURE}]"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = next((tmp_path / "outputs" / "runs" / "locomo_cv").iterdir())
    summary = json.loads((run / "results.json").read_text())
    assert summary["folds"] == 2
    pooled = summary["pooled"]
    n_eval = sum(f["data"]["test"] > 0 for f in summary["per_fold"])
    assert n_eval == 2
    assert pooled["untuned"]["overall"]["n"] == pooled["trained"]["overall"]["n"] > 0
    assert set(pooled["trained"]["overall"]) >= {"recall@1", "recall@50", "ndcg@10", "mrr"}
    assert (run / "fold_0" / "results.json").exists() and (run / "fold_1" / "model" / "modules.json").exists()
    assert "± " in (run / "results.md").read_text()
    # eval.extra: each fold's model evaluates all of the extra file; the summary pools them
    extra = summary["extra"]["locomo_tiny"]
    assert extra["pooled"]["trained"]["overall"]["n"] == 2 * 9 and extra["speaker_shortcut"]["trained"]["n"] > 0
    for f in (0, 1):
        fold = json.loads((run / f"fold_{f}" / "results.json").read_text())
        assert fold["extra"]["locomo_tiny"]["test_set"] == extra["test_set"]
    assert "## Extra test set locomo_tiny" in (run / "results.md").read_text()
