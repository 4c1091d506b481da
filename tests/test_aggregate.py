"""hins.aggregate's statistics over replicates (one trained model = fold × seed): the paired t and the two-level
bootstrap by hand, the question bootstrap with the models fixed kept as it was, the significance rule, the requested
/ realised mix flag and the distinct-negative columns, the eval.extra sets' own tables and the speaker-shortcut
column, on fake multirun directories."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import yaml
import pytest

from hins.studies.aggregate import (MIX_FLAG, NOT_TESTED, AggregateError, aggregate, fixed_models_bootstrap, load_jobs,
                                    markdown, paired_t, two_level_bootstrap)
from hins.studies.aggregate import main as aggregate_main
from hins.core.records import TIERS
from tests.test_studies import _fake_job


def test_paired_t_matches_hand_computation():
    d = paired_t([0.01, 0.03, 0.05])
    # mean 0.03, sd 0.02, se 0.02/sqrt(3); t(0.975, 2 d.f.) = 4.302653. For 2 d.f. the two-sided p has a closed
    # form, 1 - |t| / sqrt(t^2 + 2), with t = 0.03 / se = 2.598076.
    se = 0.02 / math.sqrt(3)
    assert d["ci_low"] == pytest.approx(0.03 - 4.302653 * se, rel=1e-6)
    assert d["ci_high"] == pytest.approx(0.03 + 4.302653 * se, rel=1e-6)
    t = 0.03 / se
    assert d["p"] == pytest.approx(1 - t / math.sqrt(t * t + 2), rel=1e-9) and d["df"] == 2
    assert paired_t([0.02, 0.02, 0.02]) == {"ci_low": 0.02, "ci_high": 0.02, "p": 0.0, "df": 2}  # no spread at all
    assert paired_t([0.0, 0.0])["p"] == 1.0
    assert paired_t([0.3]) is None  # one replicate: no t


def test_two_level_bootstrap_by_hand():
    # Every question of a replicate has the same difference: resampling questions changes nothing, so the result
    # is the bootstrap of the replicate means alone (the replicate draws come first from the same seed).
    means = [0.05, -0.01, 0.02, 0.04]
    flat = [np.full(n, m) for n, m in zip((7, 3, 12, 5), means)]
    replicate_only = fixed_models_bootstrap(np.array(means))
    boot = two_level_bootstrap(flat)
    assert boot["ci_low"] == pytest.approx(replicate_only["ci_low"], abs=1e-12)
    assert boot["ci_high"] == pytest.approx(replicate_only["ci_high"], abs=1e-12)
    assert boot["p"] == pytest.approx(replicate_only["p"])
    # One replicate whose questions all differ by the same amount: nothing varies.
    single = two_level_bootstrap([np.full(9, 0.03)])
    assert single["ci_low"] == pytest.approx(0.03) and single["ci_high"] == pytest.approx(0.03)
    assert single["p"] == pytest.approx(1e-4)  # never on the other side of zero: the floor 1 / n_boot
    # Deterministic under its seed; another seed draws other resamples.
    rng = np.random.default_rng(3)
    noisy = [rng.normal(0.02, 0.2, 40) for _ in range(3)]
    assert two_level_bootstrap(noisy) == two_level_bootstrap(noisy)
    assert two_level_bootstrap(noisy, seed=1) != two_level_bootstrap(noisy)


def test_two_level_bootstrap_adds_question_noise_to_replicate_noise():
    """Replicates with the same mean difference but noisy questions: the replicate-only bootstrap sees no spread,
    the two-level one sees the questions'."""
    base = np.array([-0.2, 0.0, 0.2, 0.0] * 10) + 0.05  # mean 0.05, sd 0.1414 over 40 questions
    boot = two_level_bootstrap([base, base.copy(), base.copy()])
    assert fixed_models_bootstrap(np.array([base.mean()] * 3))["ci_low"] == pytest.approx(0.05)
    assert boot["ci_low"] < 0.05 < boot["ci_high"]
    assert boot["ci_high"] - boot["ci_low"] == pytest.approx(2 * 1.96 * base.std() / math.sqrt(3 * 40), rel=0.2)


def _cv_study(root: Path) -> None:
    """Two arms × 3 seeds × 2 folds (one test set per fold), 20 questions each, 0/1 recall from fixed formulas."""
    for fold in (0, 1):
        base = [float((3 * i + fold) % 4 == 0) for i in range(20)]
        for seed in (1, 2, 3):
            for arm, shift in (("hins", 0), ("no_easy", 1)):
                trained = [float((7 * i + 5 * seed + 3 * fold + shift * i * i) % 11 < 6 + shift) for i in range(20)]
                _fake_job(root, arm, seed, f"fold{fold}", base, trained, fold=fold)


def test_replicates_are_fold_by_seed_and_pair_by_seed_and_fold(tmp_path):
    _cv_study(tmp_path)
    result = aggregate(load_jobs(tmp_path)[0], ["recall@10"])
    full, no_easy = result["variants"][1], result["variants"][0]
    assert no_easy["label"].startswith("No Easy") and full["label"].startswith("Full")
    assert [(r["seed"], r["fold"]) for r in no_easy["replicates"]] == [(s, f) for s in (1, 2, 3) for f in (0, 1)]
    d = no_easy["paired_vs_reference"]["recall@10"]
    assert d["n_replicates"] == 6 and [r["n_questions"] for r in d["replicates"]] == [20] * 6
    for rep in d["replicates"]:  # each replicate minus the reference's replicate of its own seed and fold
        mine = next(r for r in no_easy["replicates"] if (r["seed"], r["fold"]) == (rep["seed"], rep["fold"]))
        ref = next(r for r in full["replicates"] if (r["seed"], r["fold"]) == (rep["seed"], rep["fold"]))
        assert rep["diff"] == pytest.approx(mine["metrics"]["recall@10"]["overall"]
                                            - ref["metrics"]["recall@10"]["overall"])
    diffs = [r["diff"] for r in d["replicates"]]
    assert d["mean"] == pytest.approx(np.mean(diffs))
    assert d["t"] == paired_t(diffs)
    overall = no_easy["metrics"]["recall@10"]["overall"]
    assert overall["n"] == 6 and overall["mean"] == pytest.approx(
        np.mean([r["metrics"]["recall@10"]["overall"] for r in no_easy["replicates"]]))
    # The untuned model: once per test set (fold), not once per job.
    assert result["untuned_test_sets"] == 2
    assert result["untuned"]["recall@10"]["overall"] == pytest.approx((5 / 20 + 5 / 20) / 2)


def test_fixed_models_bootstrap_keeps_its_values(tmp_path):
    """The question bootstrap with the models fixed (per question, the difference averaged over matched seeds;
    questions resampled) gives what hins.aggregate reported as its paired bootstrap before replicates were the
    unit (values from commit a533199 on this fake study)."""
    _cv_study(tmp_path)
    result = aggregate(load_jobs(tmp_path)[0], ["recall@10"])
    no_easy, full = result["variants"]
    assert no_easy["paired_vs_reference"]["recall@10"]["fixed_models_bootstrap"] == pytest.approx(
        {"mean": 0.08333333333333334, "ci_low": 0.008333333333333335, "ci_high": 0.15833333333333333, "p": 0.0326,
         "n": 40})
    assert no_easy["paired_vs_untuned"]["recall@10"]["fixed_models_bootstrap"] == pytest.approx(
        {"mean": 0.375, "ci_low": 0.21666666666666665, "ci_high": 0.525, "p": 0.0001, "n": 40})
    assert full["paired_vs_untuned"]["recall@10"]["fixed_models_bootstrap"] == pytest.approx(
        {"mean": 0.29166666666666663, "ci_low": 0.1583333333333333, "ci_high": 0.41666666666666663, "p": 0.0001,
         "n": 40})
    # Here the fixed-models bootstrap would call No Easy better (p 0.03); over replicates the seeds disagree.
    d = no_easy["paired_vs_reference"]["recall@10"]
    assert d["t"]["p"] > 0.3 and d["two_level_bootstrap"]["ci_low"] < 0 and d["significant"] is False
    table = markdown(result, ["recall@10"])
    assert "question bootstrap, models fixed" in table and "[+0.8, +15.8] | 0.033 | 40 |" in table


def _study(root: Path, seeds: tuple[int, ...]) -> dict:
    """No Easy beats Full by 2 to 4 points on every seed's questions (20 questions, one shared test set)."""
    for seed in seeds:
        base = [float(i % 2) for i in range(20)]
        full = [0.5 + 0.01 * ((i * seed) % 5) for i in range(20)]
        _fake_job(root, "hins", seed, "shared", base, full)
        _fake_job(root, "no_easy", seed, "shared", base, [f + 0.02 + 0.01 * seed for f in full])
    return aggregate(load_jobs(root)[0], ["recall@10"])


def test_a_consistent_difference_over_three_replicates_is_starred(tmp_path):
    result = _study(tmp_path, (1, 2, 3))
    d = result["variants"][0]["paired_vs_reference"]["recall@10"]
    assert d["n_replicates"] == 3 and d["mean"] == pytest.approx(0.04)
    assert d["t"]["p"] < 0.05 and d["two_level_bootstrap"]["ci_low"] > 0 and d["significant"] is True
    table = markdown(result, ["recall@10"])
    assert "| No Easy (H+M) 50/50/0 | recall@10 | 3 | +4.0* |" in table
    assert not [line for line in table.splitlines() if line.startswith("| ") and NOT_TESTED in line]


def test_two_replicates_are_shown_but_never_starred(tmp_path):
    result = _study(tmp_path, (1, 2))
    d = result["variants"][0]["paired_vs_reference"]["recall@10"]
    assert d["n_replicates"] == 2 and d["mean"] == pytest.approx(0.035) and d["significant"] is None
    assert d["t"] is not None and d["two_level_bootstrap"]["ci_low"] > 0  # the numbers are there, untested
    row = next(line for line in markdown(result, ["recall@10"]).splitlines()
               if line.startswith("| No Easy (H+M) 50/50/0 | recall@10 | 2 |"))
    assert f"+3.5 ({NOT_TESTED})" in row and "*" not in row
    single = _study(tmp_path / "one", (1,))["variants"][0]["paired_vs_reference"]["recall@10"]
    assert single["t"] is None and single["significant"] is None  # one replicate: no t, only the bootstraps


def _train_stats(realised: dict[str, int], samples: int, distinct: tuple[float, int] | None = None) -> dict:
    stats = {"samples": samples, "realised": realised}
    if distinct is not None:
        stats |= {"distinct_mean": distinct[0], "distinct_min": distinct[1], "k": 15}
    return stats


def test_requested_and_realised_mix_with_a_flag_beyond_ten_points(tmp_path):
    # Full asks 30/30/40 and realises 33/27/40 (within 10 points); No Easy asks 50/50/0 and realises 70/30/0.
    for arm, realised in (("hins", (33, 27, 40)), ("no_easy", (70, 30, 0)), ("uniform", (0, 20, 80))):
        _fake_job(tmp_path, arm, 1, "s", [0.5], [0.6], train_stats=_train_stats(dict(zip(TIERS, realised)), 10))
    result = aggregate(load_jobs(tmp_path)[0], ["recall@10"])
    by = {v["label"].split(" ")[0]: v for v in result["variants"]}
    assert by["Full"]["mix_flag"] is False and by["No"]["mix_flag"] is True
    assert by["Uniform"]["mix_flag"] is False and by["Uniform"]["ratios"] is None  # no mix requested: never flagged
    table = markdown(result, ["recall@10"])
    assert f"| No Easy (H+M) 50/50/0 | 1 | 50/50/0 | 70/30/0 {MIX_FLAG} | — |" in table
    assert "| Full (H+M+E) 30/30/40 | 1 | 30/30/40 | 33/27/40 | — |" in table
    assert "| Uniform random | 1 | — | 0/20/80 | — |" in table


def test_distinct_negative_columns_when_recorded(tmp_path):
    # Full: two folds of 10 and 30 samples (mean 14 and 12, min 9 and 11) -> 12.5, min 9; No Easy: no record.
    for fold, samples, distinct in ((0, 10, (14.0, 9)), (1, 30, (12.0, 11))):
        _fake_job(tmp_path, "hins", 1, f"f{fold}", [0.5], [0.6], fold=fold,
                  train_stats=_train_stats({"hard": 3, "medium": 3, "easy": 4}, samples, distinct))
        _fake_job(tmp_path, "no_easy", 1, f"f{fold}", [0.5], [0.7], fold=fold,
                  train_stats=_train_stats({"hard": 5, "medium": 5, "easy": 0}, samples))
    result = aggregate(load_jobs(tmp_path)[0], ["recall@10"])
    no_easy, full = result["variants"]
    assert full["distinct_negatives"] == {"mean": pytest.approx(12.5), "min": 9, "k": 15}
    assert no_easy["distinct_negatives"] is None
    table = markdown(result, ["recall@10"])
    assert "| Full (H+M+E) 30/30/40 | 2 | 30/30/40 | 30/30/40 | 12.5, min 9 (K 15) |" in table
    assert "| No Easy (H+M) 50/50/0 | 2 | 50/50/0 | 50/50/0 | — |" in table


def _extra_study(root: Path, with_extra: bool = True) -> dict:
    """Full and No Easy × 3 seeds on one shared test set; an eval.extra set "mylogs" (its own test set, the same
    question ids) that No Easy's seed-3 job did not evaluate. On it, seed s's Full model gains 0.10 s on every
    question over the untuned model and No Easy's 0.11 s."""
    base = [0.2, 0.2, 0.4, 0.4]
    for seed in (1, 2, 3):
        for arm, main_trained, gain in (("hins", 0.5, 0.10), ("no_easy", 0.6, 0.11)):
            extra = {"mylogs": ("logs1", base, [b + gain * seed for b in base])}
            _fake_job(root, arm, seed, "shared", [0.0, 0.0, 1.0, 1.0], [main_trained] * 4,
                      extra=extra if with_extra and (arm, seed) != ("no_easy", 3) else None)
    return aggregate(load_jobs(root)[0], ["recall@10"])


def test_an_extra_set_gets_its_own_tables_from_its_own_rows(tmp_path):
    result = _extra_study(tmp_path)
    # The runs' own test set: exactly what the same jobs give without the extra set.
    assert {k: v for k, v in result.items() if k != "extra"} == _extra_study(tmp_path / "plain", with_extra=False)
    assert result["untuned"]["recall@10"]["overall"] == pytest.approx(0.5)

    x = result["extra"]["mylogs"]
    assert x["paths"] == ["/logs/mylogs.json"] and x["test_sets"] == ["logs1"] and x["jobs"] == 5
    assert x["jobs_without"] == [str(tmp_path / "negatives=no_easy,seed=3")]
    assert x["untuned"]["recall@10"]["overall"] == pytest.approx(0.3) and x["untuned_test_sets"] == 1
    assert x["reference"].startswith("Full (H+M+E)")
    no_easy, full = x["variants"]
    assert {r["test_set"] for v in x["variants"] for r in v["replicates"]} == {"logs1"}
    # Full: replicate means 0.4, 0.5, 0.6; No Easy (seeds 1, 2 only): 0.41, 0.52.
    assert full["n_replicates"] == 3 and full["metrics"]["recall@10"]["overall"] == pytest.approx(
        {"mean": 0.5, "ci": 4.302653 * 0.1 / math.sqrt(3), "n": 3}, rel=1e-6)
    assert no_easy["n_replicates"] == 2 and no_easy["metrics"]["recall@10"]["overall"] == pytest.approx(
        {"mean": 0.465, "ci": 12.706205 * (0.11 / math.sqrt(2)) / math.sqrt(2), "n": 2}, rel=1e-6)
    d = no_easy["paired_vs_reference"]["recall@10"]  # per seed: 0.01 s
    assert [r["diff"] for r in d["replicates"]] == pytest.approx([0.01, 0.02])
    # 1 d.f.: se = 0.005, half-width t(0.975, 1) se = 12.706205 * 0.005; t = 3, p = 1 - 2 atan(3) / pi.
    assert d["mean"] == pytest.approx(0.015) and d["significant"] is None
    assert d["t"] == pytest.approx({"ci_low": 0.015 - 12.706205 * 0.005, "ci_high": 0.015 + 12.706205 * 0.005,
                                    "p": 1 - 2 * math.atan(3) / math.pi, "df": 1}, rel=1e-6)
    assert d["fixed_models_bootstrap"]["n"] == 4 and d["fixed_models_bootstrap"]["mean"] == pytest.approx(0.015)
    u = full["paired_vs_untuned"]["recall@10"]
    assert [r["diff"] for r in u["replicates"]] == pytest.approx([0.1, 0.2, 0.3])
    assert u["mean"] == pytest.approx(0.2) and u["t"]["ci_low"] == pytest.approx(0.2 - 4.302653 * 0.1 / math.sqrt(3))
    assert u["t"]["p"] == pytest.approx(1 - math.sqrt(12) / math.sqrt(14))  # 2 d.f., t = sqrt(12): not starred
    assert u["significant"] is False

    table = markdown(result, ["recall@10"])
    own, held_out = table.split("## Extra test set mylogs (/logs/mylogs.json)")
    assert "evaluated by 5 of 6 jobs; not by " + str(tmp_path / "negatives=no_easy,seed=3") in held_out
    assert "| Full (H+M+E) 30/30/40 | 3 | 30/30/40 | — | — | 50.0 ± 24.8 | 50.0 ± 24.8 |" in held_out
    assert "| Untuned base model | — | — | — | — | 30.0 | 30.0 |" in held_out
    assert f"| No Easy (H+M) 50/50/0 | recall@10 | 2 | +1.5 ({NOT_TESTED}) |" in held_out
    assert "| No Easy (H+M) 50/50/0 | recall@10 | 3 | +10.0* |" in own
    assert "| Untuned base model | — | — | — | — | 50.0 |" in own


def test_an_extra_set_without_the_reference_arm_says_so(tmp_path):
    _fake_job(tmp_path, "hins", 1, "s", [0.5], [0.6])
    _fake_job(tmp_path, "no_easy", 1, "s", [0.5], [0.7], extra={"mylogs": ("logs1", [0.2], [0.3])})
    result = aggregate(load_jobs(tmp_path)[0], ["recall@10"])
    (no_easy,) = result["extra"]["mylogs"]["variants"]
    assert no_easy["paired_vs_reference"]["recall@10"] is None
    assert no_easy["paired_vs_untuned"]["recall@10"]["mean"] == pytest.approx(0.1)
    assert "The reference, Full (H+M+E) 30/30/40, has no replicate here" in markdown(result, ["recall@10"])


def _shortcut_study(root: Path) -> None:
    """One arm × 3 seeds, 4 questions of which q0 and q2 name one speaker (their evidence: 50% and 100% that
    speaker's). Untuned: 40% and 60% of the top 10 that speaker's; seed s: 50 + 10 s % and 70 + 10 s %."""
    for seed in (1, 2, 3):
        _fake_job(root, "hins", seed, "shared", [0.5] * 4, [0.6] * 4, shortcut={
            "untuned": [(0.4, 0.5), None, (0.6, 1.0), None],
            "trained": [(0.5 + 0.1 * seed, 0.5), None, (0.7 + 0.1 * seed, 1.0), None]})


def test_speaker_shortcut_column_over_replicates(tmp_path):
    _shortcut_study(tmp_path)
    result = aggregate(load_jobs(tmp_path)[0], ["recall@10"])
    (full,) = result["variants"]
    # Per replicate, the mean over the two questions naming a speaker: 0.7, 0.8, 0.9 (the other two do not count).
    assert [r["speaker_shortcut"]["top_share"] for r in full["replicates"]] == pytest.approx([0.7, 0.8, 0.9])
    assert full["speaker_shortcut"] == pytest.approx({"k": 10, "n": 3, "questions": 6, "evidence_share": 0.75,
                                                      "top_share": 0.8, "top_share_ci": 4.302653 * 0.1 / math.sqrt(3)},
                                                     rel=1e-6)
    assert result["untuned_speaker_shortcut"] == pytest.approx(
        {"k": 10, "n": 1, "questions": 2, "evidence_share": 0.75, "top_share": 0.5, "top_share_ci": None})
    table = markdown(result, ["recall@10"])
    assert "| Untuned base model | — | 2 | 50.0 | 75.0 |" in table
    assert "| Full (H+M+E) 30/30/40 | 3 | 6 | 80.0 ± 24.8 | 75.0 |" in table


def test_metrics_are_checked_on_every_row_not_the_first(tmp_path, capsys):
    """Only questions that name one speaker carry the shortcut keys: a row that does is no list of the metrics."""
    _shortcut_study(tmp_path)
    assert aggregate_main([str(tmp_path), "--metrics", "speaker_share@10", "--out", str(tmp_path / "a")]) == 2
    assert "--metrics: ['speaker_share@10'] not held by every question's results (they hold ['recall@10']" in (
        capsys.readouterr().err)
    assert not (tmp_path / "a").exists()
    assert aggregate_main([str(tmp_path), "--metrics", "recall@10", "--out", str(tmp_path / "b")]) == 0
    assert "| Full (H+M+E) 30/30/40 | 3 | 6 | 80.0 ± 24.8 | 75.0 |" in (tmp_path / "b" / "aggregate.md").read_text()


def test_several_multirun_directories_make_one_study(tmp_path):
    """A ratio sweep adds arms to the Table 4 sweep's instead of training them again: the arms of both are
    compared with one reference, pairing by (seed, fold) across the directories; the same arm and seed under two
    directories (one replicate counted twice) is refused."""
    base = [float(i % 2) for i in range(20)]
    for seed in (1, 2, 3):
        full = [0.5 + 0.01 * ((i * seed) % 5) for i in range(20)]
        _fake_job(tmp_path / "table4", "hins", seed, "shared", base, full)
        _fake_job(tmp_path / "ratios", "no_easy", seed, "shared", base, [f + 0.02 * seed for f in full])
    jobs = load_jobs(tmp_path / "table4", tmp_path / "ratios")[0]
    result = aggregate(jobs, ["recall@10"])
    no_easy = next(v for v in result["variants"] if v["label"].startswith("No Easy"))
    d = no_easy["paired_vs_reference"]["recall@10"]
    assert d["n_replicates"] == 3 and d["mean"] == pytest.approx(np.mean([0.02, 0.04, 0.06]))
    _fake_job(tmp_path / "again", "hins", 2, "shared", base, base)
    with pytest.raises(AggregateError, match=r"the same arm \(negatives=hins\), seed 2 and fold twice"):
        load_jobs(tmp_path / "table4", tmp_path / "again")
    code = aggregate_main([str(tmp_path / "table4"), str(tmp_path / "ratios"), "--out", str(tmp_path / "both"),
                           "--metrics", "recall@10"])
    assert code == 0 and "table4 + ratios: 6 jobs" in (tmp_path / "both" / "aggregate.md").read_text()
    with pytest.raises(SystemExit):  # several directories: where to write must be said
        aggregate_main([str(tmp_path / "table4"), str(tmp_path / "ratios")])


def test_a_sweep_over_folds_makes_fold_a_replicate_dimension_not_an_arm(tmp_path):
    """table4_locomo sweeps data.fold: the jobs of one arm on fold 0 and fold 1 are that arm's replicates (fold ×
    seed), each paired with the reference's replicate of its own seed and fold, not two arms of 4."""
    _cv_study(tmp_path / "cv")  # one job per (arm, seed), holding both folds
    for job in (tmp_path / "cv").iterdir():
        for fold in (0, 1):
            one = tmp_path / "swept" / f"data.fold={fold},{job.name}"
            (one / ".hydra").mkdir(parents=True)
            overrides = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())
            (one / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"data.fold={fold}", *overrides]))
            (one / ".hydra" / "config.yaml").write_text((job / ".hydra" / "config.yaml").read_text())
            (one / "results.json").write_text((job / f"fold_{fold}" / "results.json").read_text())
    swept, cv = (aggregate(load_jobs(tmp_path / d)[0], ["recall@10"]) for d in ("swept", "cv"))
    assert [v["label"] for v in swept["variants"]] == [v["label"] for v in cv["variants"]]
    for a, b in zip(swept["variants"], cv["variants"]):
        assert a["n_replicates"] == b["n_replicates"] == 6 and a["seeds"] == b["seeds"] == [1, 2, 3]
        assert a["metrics"] == b["metrics"]
        if a["paired_vs_reference"].get("recall@10"):
            assert a["paired_vs_reference"]["recall@10"]["mean"] == pytest.approx(
                b["paired_vs_reference"]["recall@10"]["mean"])
            assert a["paired_vs_reference"]["recall@10"]["n_replicates"] == 6
