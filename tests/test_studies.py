"""The studies: sweep configs, model-mined negatives, ratio calibration, aggregation math, and a tiny
multirun that aggregates and, rerun, skips its finished jobs."""

from __future__ import annotations

import functools
import itertools
import json
import math
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import yaml

from hins.studies.aggregate import _wall_seconds, aggregate, fixed_models_bootstrap, load_jobs, mean_ci, variant_label
from hins.stages.calibration import CLASSES, distractor_tiers, proportions, ratio_string
from hins.core.config import validate
from hins.stages.negatives import Ranker, build_samples
from hins.core.records import TIERS, Conversation, Message, Query
from tests.conftest import CONF, ROOT, make_conversation, make_queries, negatives_config
from tests.test_config import LOCOMO, _compose

STUDIES = ["table4_locomo", "ratios_locomo", "table4_synthetic", "ratios_synthetic"]


def _jobs(experiment: str) -> list[list[str]]:
    params = yaml.safe_load((CONF / "experiment" / f"{experiment}.yaml").read_text())["hydra"]["sweeper"]["params"]
    keys = list(params)
    values = [str(params[k]).split(",") for k in keys]
    return [[f"{k}={v}" for k, v in zip(keys, combo)] for combo in itertools.product(*values)]


@pytest.mark.parametrize("experiment", STUDIES)
def test_every_sweep_job_composes_and_validates(experiment):
    if "locomo" in experiment and not os.path.isfile(LOCOMO):
        pytest.skip("LoCoMo file not found (set HINS_LOCOMO)")
    jobs = _jobs(experiment)
    assert len(jobs) >= 10
    seen = set()
    for overrides in jobs:
        run = validate(_compose(f"+experiment={experiment}", *overrides))
        assert run.negatives.k == 15 and run.logger.wandb.group == experiment
        ratios = run.negatives.ratios if run.negatives.calibrated else tuple(sorted(run.negatives.ratios.items()))
        seen.add((run.negatives.strategy, tuple(run.negatives.tiers), ratios, run.seed, getattr(run.data, "fold", None)))
    assert len(seen) == len(jobs)  # no two jobs are the same run


def test_sweeps_cover_the_issue():
    table4 = {o for job in _jobs("table4_locomo") for o in job}
    arms = ("just_hard", "no_medium", "no_easy", "hins", "all_medium", "calibrated", "uniform", "mined")
    assert {f"negatives={v}" for v in arms} <= table4
    # Replicates (fold x seed): LoCoMo both folds x 4 seeds, synthetic 8 seeds, per arm.
    assert {f"seed={s}" for s in (1, 2, 3, 4)} | {"data.fold=0", "data.fold=1"} <= table4
    synthetic = {o for job in _jobs("table4_synthetic") for o in job}
    assert {f"negatives={v}" for v in arms} | {f"seed={s}" for s in range(1, 9)} <= synthetic
    for source in ("locomo", "synthetic"):
        if source == "locomo" and not os.path.isfile(LOCOMO):
            continue
        # The ratio study is its sweep plus the Table 4 sweep's hierarchical arms, aggregated together: ten points
        # of the simplex with the replicates of Table 4, none trained twice. The calibrated point is measured per
        # run on its training split, never a fixed ratio from all the data.
        points = {}
        for experiment in (f"table4_{source}", f"ratios_{source}"):
            for job in _jobs(experiment):
                neg = validate(_compose(f"+experiment={experiment}", *job)).negatives
                if neg.strategy != "hierarchical":
                    continue
                ratios = variant_label(neg)[1]
                point = "calibrated" if neg.calibrated else tuple(round(100 * ratios.get(t, 0.0)) for t in TIERS)
                points.setdefault(point, set()).add(experiment)
        assert {(30, 30, 40), (0, 100, 0), (0, 0, 100), (0, 50, 50), "calibrated"} <= set(points)
        assert len(points) >= 10 and all(len(where) == 1 for where in points.values())
        assert {s for job in _jobs(f"ratios_{source}") for s in job if s.startswith("seed=")} == {
            s for job in _jobs(f"table4_{source}") for s in job if s.startswith("seed=")}


def test_a_calibrated_job_is_labelled_without_a_fixed_ratio():
    from hins.studies.aggregate import variant_label

    label, ratios = variant_label(validate(_compose("negatives=calibrated")).negatives)
    assert label == "Calibrated on the training split" and ratios is None


def _unit(v: list[float]) -> np.ndarray:
    a = np.array(v, dtype=np.float32)
    return a / np.linalg.norm(a)


def test_mined_negatives_are_the_top_ranked_below_the_margin():
    conv = make_conversation("c0", n_topics=2, per_topic=10)
    other = make_conversation("c1", n_topics=2, per_topic=10)
    query = Query(qid="q", cid="c0", text="q", target=conv.speakers[0], kind="p1", topic="t0", evidence=[0, 2])
    # Message m of c0 scores 1 - m/100 (m=0, the positive, scores 1.0); c1's messages score 0.5 - m/100.
    angle = {("c0", m.mid): math.acos(1 - m.mid / 100) for m in conv.messages}
    angle |= {("c1", m.mid): math.acos(0.5 - m.mid / 100) for m in other.messages}
    passages = {ref: _unit([math.cos(a), math.sin(a)]) for ref, a in angle.items()}
    ranker = Ranker(passages, {"q": _unit([1.0, 0.0])})
    spec = negatives_config(k=4, strategy="mined", mine_margin=0.025, group_size=2)
    labels = {c.cid: [m.topic for m in c.messages] for c in (conv, other)}
    samples, stats = build_samples({"c0": conv, "c1": other}, [query], labels, spec, seed=0, ranker=ranker)
    by_pos = {s.pos: s.negs for s in samples}
    # Positive 0 (score 1.0): candidates must score <= 0.975, i.e. messages 3, 4, 5, 6 (2 is evidence).
    assert by_pos[0] == [("c0", 3), ("c0", 4), ("c0", 5), ("c0", 6)]
    # Positive 2 (score 0.98): <= 0.955, i.e. messages 5, 6, 7, 8.
    assert by_pos[2] == [("c0", 5), ("c0", 6), ("c0", 7), ("c0", 8)]
    assert stats.dropped_samples == 0
    # K=40 asks for more than lie below the margin (positive 0: c0's 3..19 and c1's 20; positive 2: 5..19 and 20):
    # a sample keeps those it has, unless shortfall=drop.
    few, few_stats = build_samples({"c0": conv, "c1": other}, [query], labels, spec.model_copy(update={"k": 40}),
                                   seed=0, ranker=ranker)
    assert {s.pos: len(s.negs) for s in few} == {0: 37, 2: 35} and few_stats.masked_slots == 3 + 5
    assert few_stats.distinct_min == 35 and few_stats.short_samples == 2
    none, none_stats = build_samples({"c0": conv, "c1": other}, [query], labels,
                                     spec.model_copy(update={"k": 40, "shortfall": "drop"}), seed=0, ranker=ranker)
    assert none == [] and none_stats.dropped_samples == 2
    with pytest.raises(ValueError, match="needs the base model"):
        build_samples({"c0": conv, "c1": other}, [query], labels, spec, seed=0)


def test_calibration_classifies_a_hand_built_case():
    speakers = ["Ann", "Bob"]
    conv = Conversation(cid="a", speakers=speakers, messages=[
        Message(mid=i, speaker=speakers[i % 2], text=f"a{i}", topic="x" if i < 4 else "y") for i in range(8)])
    other = Conversation(cid="b", speakers=speakers, messages=[
        Message(mid=i, speaker=speakers[i % 2], text=f"b{i}", topic="x") for i in range(4)])
    labels = {"a": [m.topic for m in conv.messages], "b": [m.topic for m in other.messages]}
    query = Query(qid="q", cid="a", text="q", target="Ann", kind="single-hop", topic="x", evidence=[0])
    # Ranked by hand: a1 (hard: topic x, Bob), a2 (target_topic: topic x, Ann), a5 (medium), b0 (easy),
    # then the rest far below; evidence a0 scores highest but is never a distractor.
    order = [("a", 0), ("a", 1), ("a", 2), ("a", 5), ("b", 0), ("a", 3), ("a", 4), ("a", 6), ("a", 7),
             ("b", 1), ("b", 2), ("b", 3)]
    passages = {ref: _unit([1.0, 0.1 * rank]) for rank, ref in enumerate(order)}
    ranker = Ranker(passages, {"q": _unit([1.0, 0.0])})
    counts = distractor_tiers(ranker, {"a": conv, "b": other}, [query], labels, {"a": ["b"]}, top_n=4)
    assert dict(zip(CLASSES, counts[0])) == {"hard": 1, "medium": 1, "easy": 1, "target_topic": 1}
    result = proportions(np.array([[1, 1, 1, 1], [3, 0, 0, 1]]), n_boot=200)
    assert result["all"]["hard"]["share"] == pytest.approx(4 / 8)
    assert result["tiers"]["hard"]["share"] == pytest.approx(4 / 6)
    assert result["tiers"]["easy"]["share"] == pytest.approx(1 / 6)
    assert 0 <= result["tiers"]["hard"]["ci_low"] <= 4 / 6 <= result["tiers"]["hard"]["ci_high"] <= 1
    assert ratio_string(result["tiers"]) == "67-17-16"  # largest remainder; ties to the harder tier


def test_mean_ci_matches_hand_computation():
    mean, half = mean_ci([1.0, 2.0, 3.0])
    # sd = 1, t(0.975, 2) = 4.302653; half-width = 4.302653 / sqrt(3)
    assert mean == 2.0 and half == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)
    mean, half = mean_ci([0.5, 0.7])
    assert mean == pytest.approx(0.6) and half == pytest.approx(12.706205 * math.sqrt(0.02) / math.sqrt(2), rel=1e-5)
    assert mean_ci([0.4]) == (0.4, None)


def test_fixed_models_bootstrap():
    constant = fixed_models_bootstrap(np.full(50, 0.02))
    assert constant["mean"] == pytest.approx(0.02) and constant["ci_low"] == pytest.approx(0.02)
    assert constant["p"] == pytest.approx(1e-4)  # never on the other side of zero
    rng = np.random.default_rng(1)
    noise = fixed_models_bootstrap(rng.normal(0.0, 0.1, 2000))
    assert noise["ci_low"] < 0 < noise["ci_high"] and noise["p"] > 0.05
    shifted = fixed_models_bootstrap(rng.normal(0.05, 0.1, 2000))
    assert shifted["ci_low"] > 0 and shifted["p"] < 0.01
    assert shifted["ci_high"] - shifted["ci_low"] == pytest.approx(2 * 1.96 * 0.1 / math.sqrt(2000), rel=0.15)



def test_wall_time_sums_a_jobs_attempts(tmp_path):
    """Hydra appends every attempt at a job to its run.log: a killed run, its rerun, a later skipped rerun."""
    lines = ["[2026-12-01 10:00:00,000][hins][INFO] - job starting in /x", "[2026-12-01 10:00:10,500][hins] - step",
             "Traceback (most recent call last):",  # killed
             "[2026-12-01 11:00:00,000][hins][INFO] - job starting in /x", "[2026-12-01 11:00:30,000][hins] - done",
             "[2026-12-02 09:00:00,000][hins][INFO] - job starting in /x",
             "[2026-12-02 09:00:00,250][hins][INFO] - job already finished in /x; skipping"]
    (tmp_path / "run.log").write_text("\n".join(lines) + "\n")
    assert _wall_seconds(tmp_path) == pytest.approx(10.5 + 30 + 0.25)
    (tmp_path / "run.log").write_text("\n".join(lines[1:3] + lines[4:5]) + "\n")  # a log from before the marker
    assert _wall_seconds(tmp_path) == pytest.approx(3600 - 10.5 + 30)


@functools.cache
def _negatives(name: str) -> dict:
    """A negatives config group option, composed and validated once (composition takes a while)."""
    return validate(_compose(f"negatives={name}")).negatives.model_dump()


Shares = dict[str, list[tuple[float, float] | None]]  # model -> per question: (top-10 share, evidence share)


def _fake_job(root: Path, negatives: str, seed: int, test_set: str | None, untuned: list[float],
              trained: list[float], fold: int | None = None, train_stats: dict | None = None,
              shortcut: Shares | None = None, extra: dict[str, tuple[str, list[float], list[float]]] | None = None
              ) -> Path:
    """A finished job directory as a Hydra multirun leaves it, with per-question recall@10: one results.json, or
    with ``fold``, one fold of a cross-validated job (``fold_<n>/results.json``; call once per fold), and the
    training split's negative statistics (``data_stats.json``) when given. ``shortcut``: the speaker-shortcut
    fields of the questions that name one speaker (None: a question that does not); ``extra``: eval.extra sets,
    name -> (test set, untuned, trained), read from ``/logs/<name>.json``."""
    job = root / f"negatives={negatives},seed={seed}"
    (job / ".hydra").mkdir(parents=True, exist_ok=True)
    overrides = [f"negatives={negatives}", f"seed={seed}"]
    if extra:  # as the job was launched; it names no variant
        overrides.append("eval.extra=[" + ",".join(f"/logs/{name}.json" for name in extra) + "]")
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"seed": seed, "negatives": _negatives(negatives)}))

    def rows(values: list[float], shares: list[tuple[float, float] | None] | None = None
             ) -> dict[str, list[dict[str, object]]]:
        shares = shares or [None] * len(values)
        return {"per_query": [{"qid": f"q{i}", "kind": "p1", "recall@10": v, **({} if share is None else {
            "named_speaker": "Ann", "speaker_share@10": share[0], "evidence_speaker_share": share[1]})}
            for i, (v, share) in enumerate(zip(values, shares))]}

    shortcut = shortcut or {}
    summary = {"fold": fold, "results": {model: rows(values, shortcut.get(model))
                                         for model, values in (("untuned", untuned), ("trained", trained))}}
    if test_set is not None:
        summary["test_set"] = test_set
    if extra:
        summary["extra"] = {name: {"path": f"/logs/{name}.json", "test_set": held_out_set, "results": {
            "untuned": rows(base), "trained": rows(model)}} for name, (held_out_set, base, model) in extra.items()}
    where = job if fold is None else job / f"fold_{fold}"
    where.mkdir(exist_ok=True)
    (where / "results.json").write_text(json.dumps(summary))
    if fold is not None:  # the cross-validation summary holds no per-question rows of its own
        (job / "results.json").write_text(json.dumps({"name": "cv", "folds": fold + 1, "pooled": {}}))
    if train_stats is not None:
        (where / "data_stats.json").write_text(json.dumps({"negatives": {"train": train_stats}}))
    return job


@pytest.mark.parametrize("named", [True, False])
def test_seeds_with_their_own_test_sets_pair_within_the_seed(tmp_path, named):
    """Synthetic data changes with the seed under the same question ids: each replicate is compared with its own
    seed's untuned model and reference, one seed's question being one question of the fixed-models bootstrap
    (named: results.json names the test set; else an older results.json, told apart by its untuned rows)."""
    for seed, base in ((1, [0.0, 0.0, 0.0]), (2, [1.0, 1.0, 1.0])):
        test_set = f"set{seed}" if named else None
        _fake_job(tmp_path, "hins", seed, test_set, base, [b + 0.1 if seed == 1 else b - 0.1 for b in base])
        _fake_job(tmp_path, "no_easy", seed, test_set, base, [b + 0.3 if seed == 1 else b - 0.3 for b in base])
    jobs, unfinished, _ = load_jobs(tmp_path)
    assert len(jobs) == 4 and not unfinished
    result = aggregate(jobs, ["recall@10"])
    assert result["untuned"]["recall@10"]["overall"] == pytest.approx(0.5)  # both seeds' questions, once each
    full, no_easy = (next(v for v in result["variants"] if v["label"].startswith(name)) for name in ("Full", "No Easy"))
    vs_untuned = full["paired_vs_untuned"]["recall@10"]
    assert vs_untuned["mean"] == pytest.approx(0.0)  # +0.1 and -0.1 from its own base
    assert [r["diff"] for r in vs_untuned["replicates"]] == pytest.approx([0.1, -0.1])
    assert vs_untuned["n_replicates"] == 2 and vs_untuned["fixed_models_bootstrap"]["n"] == 6
    paired = no_easy["paired_vs_reference"]["recall@10"]
    assert [r["diff"] for r in paired["replicates"]] == pytest.approx([0.2, -0.2])  # against its own seed's Full
    assert paired["mean"] == pytest.approx(0.0) and paired["fixed_models_bootstrap"]["n"] == 6


def test_seeds_sharing_a_test_set_pool_its_questions(tmp_path):
    for seed in (1, 2):
        _fake_job(tmp_path, "hins", seed, "shared", [0.5, 0.5], [0.6, 0.7])
        _fake_job(tmp_path, "no_easy", seed, "shared", [0.5, 0.5], [0.6 + 0.1 * seed, 0.7])
    result = aggregate(load_jobs(tmp_path)[0], ["recall@10"])
    assert result["untuned"]["recall@10"]["overall"] == pytest.approx(0.5)
    no_easy = next(v for v in result["variants"] if v["label"].startswith("No Easy"))
    paired = no_easy["paired_vs_reference"]["recall@10"]
    fixed = paired["fixed_models_bootstrap"]
    assert fixed["n"] == 2 and fixed["mean"] == pytest.approx((0.15 + 0.0) / 2)  # q0: +0.1, +0.2 averaged
    # Over replicates: seed 1 gains (0.1 + 0) / 2, seed 2 (0.2 + 0) / 2; two replicates are never starred.
    assert [r["diff"] for r in paired["replicates"]] == pytest.approx([0.05, 0.1])
    assert paired["mean"] == pytest.approx(0.075) and paired["significant"] is None

def _cmd(tmp_path: Path, module: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HINS_ROOT": str(tmp_path), "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    return proc



@pytest.mark.slow
def test_calibrate_command_on_locomo_is_cached(tmp_path):
    """``python -m hins.calibrate``: every distractor of every question classified, the ratio written, the
    conversations read named; run again, it reads the cached calibration instead of encoding LoCoMo again."""
    if not os.path.isfile(LOCOMO):
        pytest.skip("LoCoMo file not found (set HINS_LOCOMO)")
    first = _cmd(tmp_path, "hins.calibrate", "model=tiny_random", "calibrate.bootstrap=200")
    assert "stage base_vectors: building" in first.stderr + first.stdout
    (out,) = (tmp_path / "outputs" / "calibrate" / "calibrate").iterdir()
    result = json.loads((out / "calibration.json").read_text())
    assert result["distractors"] == 15 * result["questions"] and result["questions"] > 1000
    assert sum(v["share"] for v in result["all"].values()) == pytest.approx(1.0)
    assert f"negatives.ratios={result['ratio']}" in (out / "calibration.md").read_text()
    assert "Conversations read: all 10 conversations (data.fold=all" in (out / "calibration.md").read_text()
    second = _cmd(tmp_path, "hins.calibrate", "model=tiny_random", "calibrate.bootstrap=200")
    log = second.stderr + second.stdout
    assert "stage calibration: reusing" in log and "stage base_vectors: building" not in log

@pytest.mark.slow
def test_tiny_multirun_aggregates_and_resumes(tmp_path):
    sweep = ["-m", "+experiment=table4_synthetic", "model=tiny_random", "logger=csv", "data.n_conversations=16",
             "data.split={train:0.5,val:0.0,test:0.5}", "trainer.max_steps=2", "negatives=hins,no_easy", "seed=1",
             "eval.extra=[tests/fixtures/locomo_tiny.json]"]
    first = _cmd(tmp_path, "hins.run", *sweep)
    root = tmp_path / "outputs" / "multiruns" / "table4_synthetic"
    jobs = sorted(p for p in root.iterdir() if (p / "DONE.json").is_file())
    assert [p.name for p in jobs][0].startswith("data.n_conversations=16,") and len(jobs) == 2
    assert not any("eval.extra" in p.name for p in jobs)  # a path in a job's name would nest directories
    assert "already finished" not in first.stdout + first.stderr

    agg = _cmd(tmp_path, "hins.aggregate", str(root))
    table = (root / "aggregate.md").read_text()
    assert "Full (H+M+E) 30/30/40" in table and "No Easy (H+M) 50/50/0" in table and "Untuned base model" in table
    result = json.loads((root / "aggregate.json").read_text())
    assert result["reference"].startswith("Full (H+M+E)")
    no_easy = next(v for v in result["variants"] if v["label"].startswith("No Easy"))
    paired = no_easy["paired_vs_reference"]["recall@10"]
    assert no_easy["realised"]["easy"] == 0.0 and no_easy["n_replicates"] == paired["n_replicates"] == 1
    assert paired["fixed_models_bootstrap"]["n"] > 0 and paired["t"] is None and paired["significant"] is None
    assert "n < 3: not tested" in table and "question bootstrap, models fixed" in table
    assert (root / "variants_recall_at_10.png").stat().st_size > 1000
    assert "Written:" in agg.stdout
    # The eval.extra set: its own tables, from its own rows (its questions, not the synthetic test set's).
    assert "## Extra test set locomo_tiny (tests/fixtures/locomo_tiny.json): every trained model on all of it " \
           "(eval.extra), evaluated by 2 of 2 jobs" in table
    extra = result["extra"]["locomo_tiny"]
    own_sets = {r["test_set"] for v in result["variants"] for r in v["replicates"]}
    extra_sets = {r["test_set"] for v in extra["variants"] for r in v["replicates"]}
    assert len(extra_sets) == 1 and not extra_sets & own_sets and extra["untuned_test_sets"] == 1
    extra_no_easy = next(v for v in extra["variants"] if v["label"].startswith("No Easy"))
    assert [r["n_questions"] for r in extra_no_easy["replicates"]] == [
        json.loads((jobs[1] / "results.json").read_text())["extra"]["locomo_tiny"]["results"]["trained"]["n_queries"]]
    assert extra_no_easy["paired_vs_reference"]["recall@10"]["n_replicates"] == 1
    # LoCoMo questions name their speakers: the shortcut check has rows on the extra set.
    assert extra_no_easy["speaker_shortcut"]["questions"] > 0 and "Speaker-shortcut check" in table

    stamps = [(p / "results.json").stat().st_mtime_ns for p in jobs]
    second = _cmd(tmp_path, "hins.run", *sweep)
    assert (second.stdout + second.stderr).count("already finished") == 2
    assert [(p / "results.json").stat().st_mtime_ns for p in jobs] == stamps


@pytest.mark.slow
def test_sweep_jobs_run_in_parallel_under_the_submitit_launcher(tmp_path):
    """A study sweep through Hydra's submitit launcher (``submitit_local`` here; ``submitit_slurm`` on a cluster):
    every job runs in a process of its own, concurrently, into the same sweep layout, and aggregates."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    sweep = ["-m", "+experiment=table4_synthetic", "model=tiny_random", "logger=csv", "data.n_conversations=16",
             "data.split={train:0.5,val:0.0,test:0.5}", "trainer.max_steps=2", "negatives=hins,no_easy", "seed=1",
             "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10", "hydra.launcher.cpus_per_task=1"]
    _cmd(tmp_path, "hins.run", *sweep)
    root = tmp_path / "outputs" / "multiruns" / "table4_synthetic"
    jobs = sorted(p for p in root.iterdir() if (p / "DONE.json").is_file())
    assert len(jobs) == 2
    assert len(list((root / ".submitit").glob("*/*_result.pkl"))) == 2  # one submitit job each

    def span(job: Path) -> tuple[datetime, datetime]:
        stamps = re.findall(r"^\[([\d-]+ [\d:,]+)\]", (job / "run.log").read_text(), flags=re.M)
        return tuple(datetime.strptime(stamps[i], "%Y-%m-%d %H:%M:%S,%f") for i in (0, -1))

    (start_a, end_a), (start_b, end_b) = span(jobs[0]), span(jobs[1])
    assert start_a < end_b and start_b < end_a  # side by side, not one after the other
    _cmd(tmp_path, "hins.aggregate", str(root))
    assert "No Easy (H+M) 50/50/0" in (root / "aggregate.md").read_text()



def test_a_sweep_with_an_invalid_job_runs_none_of_its_jobs(tmp_path):
    """Every job is validated before the first runs (hins.studies.sweep_check): a typo in one value of a study sweep stops
    it at once, naming the job, instead of an hour in."""
    env = {**os.environ, "HINS_ROOT": str(tmp_path), "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "hins.run", "-m", "+experiment=table4_synthetic", "model=tiny_random",
                           "negatives.ratios=30-30-40,30-30", "seed=1"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-3000:]
    assert "of the sweep's 16 jobs have an invalid config; nothing was run" in out and "got '30-30'" in out
    assert not list(tmp_path.rglob("results.json")) and not list(tmp_path.rglob("run.log"))  # no job started

def test_aggregate_rejects_a_directory_without_jobs(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "hins.aggregate", str(tmp_path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "no finished job" in proc.stderr
