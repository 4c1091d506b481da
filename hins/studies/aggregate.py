"""Turn a Hydra multirun directory into the study's tables, paired tests and plots.

``python -m hins.aggregate outputs/multiruns/table4_locomo [more multirun dirs --out DIR] [--metrics recall@10
ndcg@10] [--reference full]``

The unit is the **replicate**: one trained model, i.e. one (fold, seed). A job directory (one holding
``.hydra/``) is one (arm, seed), or one (arm, seed, fold) where the sweep sets ``data.fold``, its arm being its
overrides less ``seed``, ``data.fold`` (replicate dimensions) and ``eval.extra`` (which names no arm); it holds one
replicate per fold it evaluated (``results.json``, or ``fold_*/results.json``). Training
noise (the seed: negatives drawn, data order, dropout) moves an arm's held-out mean by more than the
question-to-question spread of one model does, so every comparison of arms is made over replicates.

- **Arm tables**, per metric: for each replicate, the question-weighted mean over that replicate's own
  questions (overall and per query kind); the arm's mean over replicates ± the 95% confidence half-width
  (Student t, n-1 degrees of freedom). Beside each arm: its number of replicates, the requested tier mix
  (its effective hard/medium/easy ratios; "—" for uniform and mined negatives), the realised mix of the
  training negatives actually drawn (``data_stats.json``), flagged where they differ by more than 10 points
  in any tier, and the distinct negatives per training sample (mean and minimum, when ``data_stats.json``
  records them). The untuned base model is the mean over its test sets, once each (every fold's test set; an
  extra set that every fold model evaluated once).
- **Speaker-shortcut check**, per arm: over the questions that name exactly one speaker (the per-question rows
  that carry ``speaker_share@10``; the others do not count), each replicate's mean share of its top 10 said by
  that speaker; the arm's mean ± CI over replicates, beside the share of those questions' evidence said by
  that speaker and the untuned model's share (mean over its test sets).
- **Paired differences** against the reference arm (default Full 30/30/40) and against the untuned model.
  Replicates pair by (seed, fold) and share questions only where they were evaluated on the same test set
  (where the seed changes the test set, as on synthetic data, a replicate pairs with the reference's replicate
  of its own seed and fold). Per replicate r, d_r = the mean over its shared questions of variant minus
  reference. Reported: the mean of d_r; a paired t over replicates (95% CI and two-sided p); and a two-level
  bootstrap (draw replicates with replacement, then within each drawn replicate its questions with
  replacement; statistic: the mean over drawn replicates of their question-mean differences; percentile 95% CI
  and two-sided p), which includes both training noise and question sampling. An arm is starred (``*``) where
  the paired t gives p < 0.05 and the two-level bootstrap CI excludes 0, and only with at least 3 replicates:
  with fewer it is shown, marked "n < 3: not tested". The **question bootstrap with the models fixed**
  (per question, the difference averaged over matched replicates; questions resampled) is kept beside them
  under that name: it treats each trained model as the only one there could be, so its intervals are too
  narrow for a claim about a recipe.
- **Extra test sets** (``eval.extra``: LoCoMo-format files every trained model is also evaluated on, under
  ``extra`` in each fold's ``results.json``): for each, the same tables by the same code (``tables`` takes the
  row source), from that set's rows only, keyed by (its test set, fold, question); the reference arm is the main
  tables'. A set that only some jobs evaluated is aggregated over those, and the others are named.
- ``aggregate.json`` holds every number of the tables, per-replicate values included, each extra set's under
  ``extra.<name>`` (with its paths, test sets, and the jobs that did not evaluate it).
- Plots (PNG), of the runs' own test set: a bar chart of every arm, the paired differences from the reference (two-level bootstrap CI),
  and a heat map over the hard/medium/easy simplex when the sweep holds three or more hierarchical ratio points.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy import stats as sps

from hins.core.artifacts import config_key
from hins.core.cli import output_dir
from hins.core.config import NegativesConfig
from hins.core.logging_utils import JOB_START
from hins.evaluation.metrics import SHORTCUT_KEYS, shortcut_summary
from hins.core.records import TIERS

log = logging.getLogger(__name__)

RowKey = tuple[str, Any, str]  # (test set, fold, question id): one question of one test set

UNTUNED = "Untuned base model"
# The paper's Table 4 row order, then the baselines; other variants follow by label.
ROW_ORDER = ("Just Hard", "No Medium", "No Easy", "Full", "Uniform", "Model-mined")
# The paper's Table 4 column order for LoCoMo; other kinds follow in alphabetical order.
KIND_ORDER = ("temporal", "open-domain", "multi-hop", "single-hop")
TIER_NAMES = {frozenset({"hard"}): "Just Hard (H)", frozenset({"hard", "easy"}): "No Medium (H+E)",
              frozenset({"hard", "medium"}): "No Easy (H+M)"}
MIN_TESTED = 3  # replicates an arm needs before it can be starred
MIX_TOLERANCE = 0.10  # realised share of a tier this far from the requested one flags the arm
MIX_FLAG = "⚠ realised ≠ requested"
NOT_TESTED = "n < 3: not tested"
N_BOOT = 10_000


class AggregateError(Exception):
    """A multirun directory that cannot be aggregated (named, with the reason)."""


@dataclass
class Replicate:
    """One trained model: one fold of one job, with the untuned model's results on the same questions."""

    seed: int
    fold: Any  # the held-out fold index, None for a random split
    test_set: str
    # model ("trained" / "untuned") -> question id -> {"kind": ..., metric: value}
    rows: dict[str, dict[str, dict[str, Any]]]

    def keyed(self, model: str) -> dict[RowKey, dict[str, Any]]:
        return {(self.test_set, self.fold, qid): row for qid, row in self.rows.get(model, {}).items()}


@dataclass
class ExtraRows:
    """One ``eval.extra`` set in one job: a replicate per fold model, each on all of the set's questions."""

    path: str
    replicates: list[Replicate]


@dataclass
class Distinct:
    """Distinct negatives per training sample (data_stats.json): mean weighted by samples, minimum, K requested."""

    mean: float
    min: int
    samples: int
    k: int | None

    @staticmethod
    def combine(parts: list[Distinct | None]) -> Distinct | None:
        """Over folds or jobs; None unless every part records it (a run from before the count was kept)."""
        if not parts or any(p is None for p in parts):
            return None
        samples = sum(p.samples for p in parts)
        ks = {p.k for p in parts}
        return Distinct(sum(p.mean * p.samples for p in parts) / samples if samples else 0.0,
                        min(p.min for p in parts), samples, ks.pop() if len(ks) == 1 else None)


@dataclass
class Job:
    path: Path
    variant: str  # the overrides less seed: the grouping key
    label: str  # what the tables show
    seed: int
    ratios: dict[str, float] | None  # effective hard/medium/easy ratios of a hierarchical job
    realised: dict[str, float]  # tier shares of the training negatives actually drawn (data_stats.json)
    distinct: Distinct | None  # distinct negatives per training sample (data_stats.json), None if not recorded
    wall_s: float | None  # the job's attempts' time, from its run.log
    replicates: list[Replicate] = field(default_factory=list)  # on the job's own test set(s)
    extra: dict[str, ExtraRows] = field(default_factory=dict)  # eval.extra sets by name (results.json "extra")


RowSource = Callable[[Job], list[Replicate]]  # which of a job's replicates a set of tables is built from


def mean_ci(values: list[float], level: float = 0.95) -> tuple[float, float | None]:
    """Mean and the half-width of its Student-t confidence interval (None for a single value)."""
    n = len(values)
    mean = float(np.mean(values))
    if n < 2:
        return mean, None
    sd = float(np.std(values, ddof=1))
    return mean, float(sps.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n))


def _two_sided_p(boots: np.ndarray, n_boot: int) -> float:
    p = min(1.0, 2 * min(float(np.mean(boots <= 0)), float(np.mean(boots >= 0))))
    return max(p, 1 / n_boot)


def fixed_models_bootstrap(diffs: np.ndarray, n_boot: int = N_BOOT, seed: int = 0) -> dict[str, float]:
    """Question bootstrap with the models fixed: the mean of per-question differences, its 95% percentile
    interval and a two-sided p-value, resampling questions only (each model treated as the only one)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diffs), size=(n_boot, len(diffs)))
    boots = diffs[idx].mean(axis=1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return {"mean": float(diffs.mean()), "ci_low": float(lo), "ci_high": float(hi), "p": _two_sided_p(boots, n_boot),
            "n": int(len(diffs))}


def paired_t(diffs: list[float], level: float = 0.95) -> dict[str, float] | None:
    """Paired t over replicates: the mean per-replicate difference, its Student-t interval and two-sided p
    (None below 2 replicates; with no spread at all, the interval is the mean and p is 0, or 1 at a zero mean)."""
    n = len(diffs)
    if n < 2:
        return None
    mean = float(np.mean(diffs))
    se = float(np.std(diffs, ddof=1)) / math.sqrt(n)
    if se == 0.0:
        return {"ci_low": mean, "ci_high": mean, "p": 1.0 if mean == 0.0 else 0.0, "df": n - 1}
    half = float(sps.t.ppf(0.5 + level / 2, n - 1)) * se
    return {"ci_low": mean - half, "ci_high": mean + half, "p": float(2 * sps.t.sf(abs(mean) / se, n - 1)),
            "df": n - 1}


def two_level_bootstrap(diffs: list[np.ndarray], n_boot: int = N_BOOT, seed: int = 0) -> dict[str, float]:
    """Bootstrap over replicates, then over questions within each drawn replicate. ``diffs[r]`` holds replicate
    r's per-question differences. Each resample draws as many replicates as there are, with replacement, and
    for every draw resamples that replicate's questions afresh; its statistic is the mean over the drawn
    replicates of their question-mean differences. Percentile 95% CI and two-sided p. The replicate draws come
    first from the seeded generator, so where every question of a replicate has the same difference the
    result equals the question-free bootstrap of the replicate means with the same seed."""
    rng = np.random.default_rng(seed)
    n_rep = len(diffs)
    picks = rng.integers(0, n_rep, size=(n_boot, n_rep))
    drawn = np.empty((n_boot, n_rep))
    for slot in range(n_rep):
        for r, d in enumerate(diffs):
            rows = np.flatnonzero(picks[:, slot] == r)
            if rows.size:
                drawn[rows, slot] = d[rng.integers(0, len(d), size=(rows.size, len(d)))].mean(axis=1)
    boots = drawn.mean(axis=1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return {"ci_low": float(lo), "ci_high": float(hi), "p": _two_sided_p(boots, n_boot)}


def format_p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def variant_label(neg: NegativesConfig) -> tuple[str, dict[str, float] | None]:
    if neg.calibrated:  # its ratios differ by fold and seed: each job's data_stats.json holds them
        return "Calibrated on the training split", None
    if neg.strategy == "uniform":
        return "Uniform random", None
    if neg.strategy == "mined":
        return f"Model-mined (margin {neg.mine_margin:g})", None
    ratios = neg.effective_ratios()
    full = {t: ratios.get(t, 0.0) for t in TIERS}
    pct = "/".join(f"{100 * full[t]:.0f}" for t in TIERS)
    # Named by the tiers enabled (a tier left out is never drawn, not even to backfill), not by zero ratios.
    enabled = frozenset(neg.tiers)
    if enabled in TIER_NAMES:
        return f"{TIER_NAMES[enabled]} {pct}", full
    return (f"Full (H+M+E) {pct}" if pct == "30/30/40" else f"H/M/E {pct}"), full


def _replicates(path: Path, seed: int) -> tuple[list[Replicate], dict[str, ExtraRows]]:
    """The job's replicates on its own test set, and on each ``eval.extra`` set (read from the folds' results, not
    from the cross-validation summary, which pools the fold models)."""
    results = path / "results.json"
    if not results.is_file():
        return [], {}
    summary = json.loads(results.read_text())
    folds = [summary] if "results" in summary else [
        json.loads(p.read_text()) for p in sorted(path.glob("fold_*/results.json"))]
    out: list[Replicate] = []
    extra: dict[str, ExtraRows] = {}
    for fold in folds:
        if not fold.get("results"):
            continue
        out.append(_replicate(seed, fold.get("fold"), fold["results"], fold.get("test_set")))
        for name, held_out in fold.get("extra", {}).items():
            extra.setdefault(name, ExtraRows(held_out["path"], [])).replicates.append(
                _replicate(seed, fold.get("fold"), held_out["results"], held_out.get("test_set")))
    return out, extra


def _replicate(seed: int, fold: Any, results: dict[str, Any], test_set: str | None) -> Replicate:
    rows = {model: {row["qid"]: row for row in res["per_query"]} for model, res in results.items()}
    return Replicate(seed, fold, test_set or _untuned_fingerprint(results), rows)


def _untuned_fingerprint(results: dict[str, Any]) -> str:
    """The test set of a results.json written before they named it (hins.evaluation.evaluate.test_set_id): the base model's
    per-question results, which equal each other exactly where the test set is the same."""
    return config_key("untuned", results.get("untuned", {}).get("per_query"))


def _key(override: str) -> str:
    return override.lstrip("+~").split("=")[0]


# Overrides that never define a variant: the replicate's seed and fold, the study, and the extra test sets (a job
# run again with eval.extra added stays the same arm).
_NOT_VARIANTS = ("seed", "data.fold", "experiment", "eval.extra")
# Overrides the variant label already says (or that never define a variant).
_LABELLED = (*_NOT_VARIANTS, "negatives", "negatives.ratios", "negatives.tiers", "negatives.strategy")


def _train_negatives(path: Path) -> list[dict[str, Any]]:
    """The training split's negative statistics of each of the job's folds (data_stats.json)."""
    return [json.loads(stats.read_text())["negatives"].get("train", {})
            for stats in [path / "data_stats.json", *sorted(path.glob("fold_*/data_stats.json"))] if stats.is_file()]


def _realised(train: list[dict[str, Any]]) -> dict[str, float]:
    counts: dict[str, int] = defaultdict(int)
    for split in train:
        for tier, n in split.get("realised", {}).items():
            counts[tier] += n
    total = sum(counts.values())
    return {t: n / total for t, n in sorted(counts.items())} if total else {}


def _distinct(train: list[dict[str, Any]]) -> Distinct | None:
    return Distinct.combine([Distinct(float(s["distinct_mean"]), int(s["distinct_min"]), int(s.get("samples", 0)),
                                      s.get("k")) if "distinct_mean" in s else None for s in train])


_STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]")


def _wall_seconds(path: Path) -> float | None:
    """The time the job's attempts ran, summed: Hydra appends every attempt (a rerun after a kill, a skipped
    finished job) to the same run.log, so its first and last lines can be hours apart."""
    log_file = path / "run.log"
    if not log_file.is_file():
        return None
    spans: list[list[datetime]] = []
    for line in log_file.read_text().splitlines():
        stamp = _STAMP.match(line)
        if stamp is None:
            continue
        at = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f")
        if not spans or JOB_START in line:
            spans.append([at, at])
        spans[-1][1] = at
    seconds = sum((end - start).total_seconds() for start, end in spans)
    return seconds if seconds > 0 else None


def load_jobs(*roots: Path) -> tuple[list[Job], list[Path], list[str]]:
    """Every finished job under the ``roots`` (multirun directories) with its replicates, the job directories with
    no results yet, and the overrides every job shares (left out of the labels). Several roots make one study, e.g.
    a ratio sweep that adds points to the Table 4 sweep's arms instead of training them again; an arm (its
    overrides) run with the same seed under two roots is refused, since it would count one replicate twice."""
    for root in roots:
        if not root.is_dir():
            raise AggregateError(f"{root}: no such directory (give a multirun directory, e.g. "
                                 "outputs/multiruns/<name>)")
    found, unfinished = [], []
    for hydra_dir in (h for root in roots for h in sorted(root.rglob(".hydra"))):
        path = hydra_dir.parent
        try:
            overrides = yaml.safe_load((hydra_dir / "overrides.yaml").read_text()) or []
            cfg = yaml.safe_load((hydra_dir / "config.yaml").read_text())
        except (OSError, yaml.YAMLError) as err:
            raise AggregateError(f"{hydra_dir}: unreadable Hydra record ({err})") from None
        replicates, extra = _replicates(path, int(cfg["seed"]))
        if replicates and all(r.rows.get("trained") for r in replicates):
            found.append((path, overrides, cfg, replicates, extra))
        else:
            unfinished.append(path)
    if not found:
        raise AggregateError(f"{', '.join(map(str, roots))}: no finished job (no results.json beside a .hydra/ folder)")
    common = set.intersection(*(set(o) for _, o, *_ in found))
    jobs = []
    for path, overrides, cfg, replicates, extra in found:
        variant = ",".join(o for o in overrides if _key(o) not in _NOT_VARIANTS)
        label, ratios = variant_label(NegativesConfig.model_validate(cfg["negatives"]))
        others = [o for o in overrides if o not in common and _key(o) not in _LABELLED]
        if others:
            label += " · " + ",".join(others)
        train = _train_negatives(path)
        folds = {r.fold for r in replicates}
        twin = next((j.path for j in jobs if (j.variant, j.seed) == (variant, int(cfg["seed"]))
                     and folds & {r.fold for r in j.replicates}), None)
        if twin is not None:
            raise AggregateError(f"{twin} and {path}: the same arm ({variant or 'no override'}), seed "
                                 f"{cfg['seed']} and fold twice; aggregate one of them")
        jobs.append(Job(path, variant, label, int(cfg["seed"]), ratios, _realised(train), _distinct(train),
                        _wall_seconds(path), replicates, extra))
    return jobs, unfinished, sorted(o for o in common if _key(o) not in ("seed", "experiment"))


def _kind_order(kinds: set[str]) -> list[str]:
    return [k for k in KIND_ORDER if k in kinds] + sorted(kinds - set(KIND_ORDER))


def _means(rows: dict[str, dict[str, Any]], metric: str, kinds: list[str]) -> dict[str, float]:
    out = {"overall": float(np.mean([r[metric] for r in rows.values()]))}
    for kind in kinds:
        vals = [r[metric] for r in rows.values() if r["kind"] == kind]
        if vals:
            out[kind] = float(np.mean(vals))
    return out


def mix_flag(requested: dict[str, float] | None, realised: dict[str, float]) -> bool:
    """Whether the realised share of any tier is more than 10 points from the requested one (never where either
    is unknown: uniform and mined negatives request no mix; a run without data_stats.json records none)."""
    return bool(requested) and bool(realised) and any(
        abs(realised.get(t, 0.0) - requested.get(t, 0.0)) > MIX_TOLERANCE + 1e-9 for t in TIERS)


def aggregate(jobs: list[Job], metrics: list[str], reference: str | None = None) -> dict[str, Any]:
    """The tables of the runs' own test sets, and under ``extra`` the same tables for each ``eval.extra`` set
    (built by the same code from that set's replicates only), every one compared with the same reference arm."""
    ref = _pick_reference(_by_variant(jobs), reference)
    out = tables(jobs, metrics, ref, lambda job: job.replicates)
    names = sorted({name for job in jobs for name in job.extra})
    if names:
        out["extra"] = {name: _extra_tables(jobs, metrics, ref, name) for name in names}
    return out


def _extra_tables(jobs: list[Job], metrics: list[str], ref: str, name: str) -> dict[str, Any]:
    """One ``eval.extra`` set's tables over the jobs that evaluated it (the others are named)."""
    having = [j for j in jobs if name in j.extra]
    return {"paths": sorted({j.extra[name].path for j in having}),
            "test_sets": sorted({r.test_set for j in having for r in j.extra[name].replicates}),
            "jobs": len(having), "jobs_without": [str(j.path) for j in jobs if name not in j.extra],
            **tables(jobs, metrics, ref, lambda job: job.extra[name].replicates if name in job.extra else [])}


def _by_variant(jobs: list[Job]) -> dict[str, list[Job]]:
    by_variant: dict[str, list[Job]] = defaultdict(list)
    for job in jobs:
        by_variant[job.variant].append(job)
    return by_variant


def _shortcut(per_set: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The speaker-shortcut check over replicates (or the untuned model's test sets), each summarised by
    ``hins.evaluation.metrics.shortcut_summary`` over its own rows that carry the check's keys: the mean ± CI of the share of
    the top k said by the named speaker, the mean share of the evidence, over those with such a question."""
    named = [s for s in per_set if s["n"]]
    if not named:
        return None
    top, ci = mean_ci([s["top_share"] for s in named])
    return {"k": named[0]["k"], "n": len(named), "questions": sum(s["n"] for s in named), "top_share": top,
            "top_share_ci": ci, "evidence_share": float(np.mean([s["evidence_share"] for s in named]))}


def tables(jobs: list[Job], metrics: list[str], ref: str, rows: RowSource) -> dict[str, Any]:
    """Per arm and metric: mean ± CI over replicates (per kind and overall); the speaker-shortcut check; paired
    tests over replicates against the reference arm ``ref`` and the untuned model. ``rows`` gives each job's
    replicates (its own test set, or one ``eval.extra`` set); jobs with none are left out."""
    ref_label = next(j.label for j in jobs if j.variant == ref)
    by_variant = _by_variant([j for j in jobs if rows(j)])
    kinds = _kind_order({r["kind"] for js in by_variant.values() for j in js for rep in rows(j)
                         for r in rep.rows["trained"].values()})
    # The untuned model, once per test set (jobs and fold models evaluated on one test set share it).
    untuned: dict[str, dict[str, dict[str, Any]]] = {}
    for job in sorted((j for js in by_variant.values() for j in js), key=lambda j: j.seed):
        for rep in rows(job):
            if rep.rows.get("untuned"):
                untuned.setdefault(rep.test_set, rep.rows["untuned"])
    out: dict[str, Any] = {"kinds": kinds, "reference": ref_label, "reference_variant": ref, "variants": [],
                           "untuned": {}, "untuned_test_sets": len(untuned), "min_replicates_tested": MIN_TESTED,
                           "untuned_speaker_shortcut": _shortcut([shortcut_summary(list(u.values()))
                                                                  for u in untuned.values()])}
    for metric in metrics:
        if untuned:
            per_set = [_means(u, metric, kinds) for u in untuned.values()]
            out["untuned"][metric] = {g: float(np.mean([s[g] for s in per_set if g in s]))
                                      for g in ["overall", *kinds] if any(g in s for s in per_set)}

    def row_key(variant: str) -> tuple[int, float, float, list[tuple[int, int | str]]]:
        job = by_variant[variant][0]
        ratios = job.ratios or {}
        # Numbers in labels by value: trainer.max_steps=20 before 160.
        label = [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", job.label)]
        return (next((i for i, name in enumerate(ROW_ORDER) if job.label.startswith(name)), len(ROW_ORDER)),
                -ratios.get("hard", 0.0), -ratios.get("medium", 0.0), label)

    ref_by = {(r.seed, r.fold): r for j in by_variant.get(ref, []) for r in rows(j)}
    for variant in sorted(by_variant, key=row_key):
        members = sorted(by_variant[variant], key=lambda j: (j.seed, str([r.fold for r in j.replicates])))
        replicates = [rep for j in members for rep in rows(j)]
        realised = {t: float(np.mean([j.realised.get(t, 0.0) for j in members]))
                    for t in sorted({t for j in members for t in j.realised})}
        distinct = Distinct.combine([j.distinct for j in members])
        shortcut = [shortcut_summary(list(r.rows["trained"].values())) for r in replicates]
        entry: dict[str, Any] = {
            "variant": variant, "label": members[0].label, "seeds": sorted({j.seed for j in members}),
            "n_replicates": len(replicates), "ratios": members[0].ratios, "realised": realised,
            "mix_flag": mix_flag(members[0].ratios, realised),
            "distinct_negatives": None if distinct is None else {"mean": distinct.mean, "min": distinct.min,
                                                                 "k": distinct.k},
            "replicates": [{"seed": r.seed, "fold": r.fold, "test_set": r.test_set,
                            "n_questions": len(r.rows["trained"]), "speaker_shortcut": s, "metrics": {}}
                           for r, s in zip(replicates, shortcut)],
            "speaker_shortcut": _shortcut(shortcut),
            "metrics": {}, "paired_vs_reference": {}, "paired_vs_untuned": {}}
        for metric in metrics:
            per_rep = [_means(r.rows["trained"], metric, kinds) for r in replicates]
            for record, means in zip(entry["replicates"], per_rep):
                record["metrics"][metric] = means
            entry["metrics"][metric] = {}
            for g in ["overall", *kinds]:
                values = [m[g] for m in per_rep if g in m]
                if values:
                    mean, ci = mean_ci(values)
                    entry["metrics"][metric][g] = {"mean": mean, "ci": ci, "n": len(values)}
            if variant != ref:
                entry["paired_vs_reference"][metric] = paired(
                    [(r, ref_by[(r.seed, r.fold)].keyed("trained")) for r in replicates if (r.seed, r.fold) in ref_by],
                    metric)
            if untuned:
                entry["paired_vs_untuned"][metric] = paired([(r, r.keyed("untuned")) for r in replicates], metric)
        out["variants"].append(entry)
    return out


def _pick_reference(by_variant: dict[str, list[Job]], reference: str | None) -> str:
    if reference is not None:
        hits = [v for v in by_variant if reference in v or reference in by_variant[v][0].label]
        if len(hits) != 1:
            raise AggregateError(f"--reference {reference!r} matches {len(hits)} variants: "
                                 f"{sorted(by_variant) if not hits else hits}")
        return hits[0]
    full = [v for v in by_variant if by_variant[v][0].label.startswith("Full (H+M+E) 30/30/40")]
    return full[0] if full else next(iter(by_variant))


def paired(pairs: list[tuple[Replicate, dict[RowKey, dict[str, Any]]]], metric: str) -> dict[str, Any] | None:
    """Each replicate's trained model minus the other model's results on the same questions (the reference
    arm's replicate of the same seed and fold, or the untuned model): per-replicate differences, the paired t
    and the two-level bootstrap over them, and the question bootstrap with the models fixed. Questions are
    keyed by test set, so replicates evaluated on different test sets share none."""
    per_rep, question_diffs = [], []
    by_question: dict[RowKey, list[float]] = defaultdict(list)  # for the fixed-models bootstrap
    for rep, other in pairs:
        diffs = {key: row[metric] - other[key][metric] for key, row in rep.keyed("trained").items() if key in other}
        if not diffs:
            continue
        values = np.array(list(diffs.values()))
        question_diffs.append(values)
        per_rep.append({"seed": rep.seed, "fold": rep.fold, "test_set": rep.test_set, "n_questions": len(values),
                        "diff": float(values.mean())})
        for key, d in diffs.items():
            by_question[key].append(d)
    if not per_rep:
        return None
    d_r = [r["diff"] for r in per_rep]
    t = paired_t(d_r)
    boot = two_level_bootstrap(question_diffs)
    tested = len(d_r) >= MIN_TESTED
    return {"mean": float(np.mean(d_r)), "n_replicates": len(d_r), "replicates": per_rep, "t": t,
            "two_level_bootstrap": boot,
            "significant": (t["p"] < 0.05 and not boot["ci_low"] <= 0.0 <= boot["ci_high"]) if tested else None,
            "fixed_models_bootstrap": fixed_models_bootstrap(np.array([np.mean(v) for v in by_question.values()]))}


def _cell(stat: dict[str, float | None] | None) -> str:
    if not stat or stat.get("mean") is None:
        return "—"
    ci = stat.get("ci")
    return f"{100 * stat['mean']:.1f}" + (f" ± {100 * ci:.1f}" if ci is not None else "")


def _pct(shares: dict[str, float] | None) -> str:
    return "—" if not shares else "/".join(f"{100 * shares.get(t, 0.0):.0f}" for t in TIERS)


def _mix(realised: dict[str, float], flagged: bool) -> str:
    other = realised.get("target_topic", 0.0)
    return (_pct(realised) + (f" (+{100 * other:.0f} target)" if other >= 0.005 else "")
            + (f" {MIX_FLAG}" if flagged else ""))


def _distinct_cell(d: dict[str, Any] | None) -> str:
    if d is None:
        return "—"
    return f"{d['mean']:.1f}, min {d['min']}" + (f" (K {d['k']})" if d.get("k") is not None else "")


def _interval(low: float, high: float) -> str:
    return f"[{100 * low:+.1f}, {100 * high:+.1f}]"


def _paired_table(result: dict[str, Any], metrics: list[str], which: str, against: str, matched: str) -> str:
    lines = [f"### Paired differences vs {against} (percentage points; per replicate, the mean difference over "
             f"its questions; {matched})", "",
             "| Method | metric | replicates | Δ mean | paired t 95% CI | p (t) | two-level bootstrap 95% CI | "
             "p (bootstrap) | question bootstrap, models fixed: 95% CI | p | questions |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for v in result["variants"]:
        for metric in metrics:
            d = v[which].get(metric)
            if not d:
                is_ref = which == "paired_vs_reference" and v["variant"] == result["reference_variant"]
                lines.append(f"| {v['label']} | {metric} | {v['n_replicates']} | {'reference' if is_ref else '—'} | "
                             + " | ".join(["—"] * 7) + " |")
                continue
            t, boot, fixed = d["t"], d["two_level_bootstrap"], d["fixed_models_bootstrap"]
            mark = {True: "*", False: "", None: f" ({NOT_TESTED})"}[d["significant"]]
            lines.append(
                f"| {v['label']} | {metric} | {d['n_replicates']} | {100 * d['mean']:+.1f}{mark} | "
                + (f"{_interval(t['ci_low'], t['ci_high'])} | {format_p(t['p'])} | " if t else "— | — | ")
                + f"{_interval(boot['ci_low'], boot['ci_high'])} | {format_p(boot['p'])} | "
                f"{_interval(fixed['ci_low'], fixed['ci_high'])} | {format_p(fixed['p'])} | {fixed['n']} |")
    return "\n".join(lines)


def _shortcut_table(result: dict[str, Any]) -> str:
    untuned = result["untuned_speaker_shortcut"]
    if untuned is not None:  # the untuned model's row shows no CI, as in the arm tables
        untuned = {**untuned, "top_share_ci": None}
    checks = [(UNTUNED, "—", untuned),
              *((v["label"], str(v["n_replicates"]), v["speaker_shortcut"]) for v in result["variants"])]
    if not any(check for _, _, check in checks):
        return "No question names exactly one speaker (or the results predate the check): no speaker-shortcut check."
    k = next(check["k"] for _, _, check in checks if check)
    lines = [f"### Speaker-shortcut check (%; questions that name exactly one speaker: the share of the top {k} said "
             "by that speaker, mean ± 95% CI over replicates, beside the share of their evidence said by that "
             "speaker; the untuned model: mean over its test sets)", "",
             f"| Method | replicates | questions naming one speaker (over replicates) | share of top {k} said by "
             "that speaker | share of evidence said by that speaker |", "|---|---|---|---|---|"]
    for label, n, check in checks:
        if check is None:
            lines.append(f"| {label} | {n} | 0 | — | — |")
            continue
        top = _cell({"mean": check["top_share"], "ci": check["top_share_ci"]})
        lines.append(f"| {label} | {n} | {check['questions']} | {top} | {_cell({'mean': check['evidence_share']})} |")
    return "\n".join(lines)


def _section(result: dict[str, Any], metrics: list[str]) -> list[str]:
    """One test set's tables (the runs' own, or one ``eval.extra`` set): arms per metric, the speaker-shortcut
    check, paired differences against the reference and the untuned model."""
    kinds = result["kinds"]
    head = ("| Method | replicates | requested H/M/E % | realised H/M/E % | distinct negatives per sample | "
            + " | ".join(kinds) + " | Average |")
    rule = "|---|---|---|---|---|" + "---|" * (len(kinds) + 1)
    parts = []
    for metric in metrics:
        lines = [f"### {metric} (%, mean ± 95% CI over replicates, one trained model = fold × seed; each "
                 "replicate's Average is question-weighted over its own questions)", "", head, rule]
        if metric in result["untuned"]:
            u = result["untuned"][metric]
            cells = [_cell({"mean": u.get(k)}) for k in [*kinds, "overall"]]
            lines.append(f"| {UNTUNED} | — | — | — | — | " + " | ".join(cells) + " |")
        for v in result["variants"]:
            m = v["metrics"][metric]
            lines.append(f"| {v['label']} | {v['n_replicates']} | {_pct(v['ratios'])} | "
                         f"{_mix(v['realised'], v['mix_flag'])} | {_distinct_cell(v['distinct_negatives'])} | "
                         + " | ".join(_cell(m.get(k)) for k in kinds) + f" | {_cell(m['overall'])} |")
        parts.append("\n".join(lines))
    parts.append(_shortcut_table(result))
    if any(v["variant"] == result["reference_variant"] for v in result["variants"]):
        parts.append(_paired_table(result, metrics, "paired_vs_reference", result["reference"],
                                   "replicates matched by seed and fold, on the same test set"))
    else:
        parts.append(f"The reference, {result['reference']}, has no replicate here: no paired differences against it.")
    if any(v["paired_vs_untuned"] for v in result["variants"]):
        parts.append(_paired_table(result, metrics, "paired_vs_untuned", "the untuned model",
                                   "each replicate against the untuned model on its own questions"))
    return parts


def _extra_heading(name: str, extra: dict[str, Any]) -> str:
    total = extra["jobs"] + len(extra["jobs_without"])
    text = (f"## Extra test set {name} ({', '.join(extra['paths'])}): every trained model on all of it "
            f"(eval.extra), evaluated by {extra['jobs']} of {total} jobs")
    if extra["jobs_without"]:
        text += f"; not by {', '.join(extra['jobs_without'])}: aggregated over the jobs that did"
    if len(extra["test_sets"]) > 1:
        text += (f"\n\nIts file differed between jobs ({len(extra['test_sets'])} test sets): replicates pair only "
                 "within one.")
    return text


def markdown(result: dict[str, Any], metrics: list[str]) -> str:
    parts = ["## Each run's own held-out test set", *_section(result, metrics)]
    for name, extra in result.get("extra", {}).items():
        parts += [_extra_heading(name, extra), *_section(extra, metrics)]
    parts.append(f"{MIX_FLAG}: the realised share of a tier is more than {100 * MIX_TOLERANCE:.0f} points from the "
                 "requested one. Distinct negatives: per training sample, mean and minimum (— where the run did "
                 "not record them).")
    parts.append(f"*: paired t p < 0.05 and the two-level bootstrap CI (replicates, then questions within each) "
                 f"excludes 0; tested only with at least {MIN_TESTED} replicates ({NOT_TESTED} otherwise). The "
                 "question bootstrap with the models fixed ignores training noise: it is shown for reference, not "
                 "for claims about a mix.")
    return "\n\n".join(parts) + "\n"


def plots(result: dict[str, Any], metric: str, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.tri as mtri

    written = []
    variants = result["variants"]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(variants) + 2), 4.5))
    means = [100 * v["metrics"][metric]["overall"]["mean"] for v in variants]
    errs = [100 * (v["metrics"][metric]["overall"]["ci"] or 0.0) for v in variants]
    ax.bar(range(len(variants)), means, yerr=errs, capsize=4, color="tab:blue")
    if metric in result["untuned"]:
        ax.axhline(100 * result["untuned"][metric]["overall"], color="grey", ls="--", label=UNTUNED)
        ax.legend(loc="lower right")
    ax.set_xticks(range(len(variants)), [v["label"] for v in variants], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(f"{metric} (%)")
    low = min(means + [100 * result["untuned"].get(metric, {}).get("overall", min(means) / 100)])
    ax.set_ylim(max(0.0, low - 5), max(m + e for m, e in zip(means, errs)) + 2)
    ax.set_title(f"{metric}: mean ± 95% CI over replicates")
    fig.tight_layout()
    written.append(out / f"variants_{metric.replace('@', '_at_')}.png")
    fig.savefig(written[-1], dpi=120)
    plt.close(fig)

    paired = [(v["label"], v["paired_vs_reference"].get(metric)) for v in variants]
    paired = [(label, d) for label, d in paired if d]
    if paired:
        fig, ax = plt.subplots(figsize=(7.5, 0.5 * len(paired) + 1.6))
        ys = np.arange(len(paired))
        mid = [100 * d["mean"] for _, d in paired]
        lo = [100 * (d["mean"] - d["two_level_bootstrap"]["ci_low"]) for _, d in paired]
        hi = [100 * (d["two_level_bootstrap"]["ci_high"] - d["mean"]) for _, d in paired]
        ax.errorbar(mid, ys, xerr=[lo, hi], fmt="o", capsize=4, color="tab:blue")
        ax.axvline(0, color="grey", ls="--")
        ax.set_yticks(ys, [label for label, _ in paired], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(f"{metric}: difference from {result['reference']}\n"
                      "(points; 95% CI: two-level bootstrap, replicates then questions)")
        fig.tight_layout()
        written.append(out / f"paired_{metric.replace('@', '_at_')}.png")
        fig.savefig(written[-1], dpi=120)
        plt.close(fig)

    points = [v for v in variants if v["ratios"] and all(v["ratios"][t] is not None for t in TIERS)]
    if len(points) >= 3:
        corners = {"hard": (0.0, 0.0), "medium": (1.0, 0.0), "easy": (0.5, math.sqrt(3) / 2)}
        xy = np.array([[sum(v["ratios"][t] * corners[t][i] for t in TIERS) for i in (0, 1)] for v in points])
        z = np.array([100 * v["metrics"][metric]["overall"]["mean"] for v in points])
        fig, ax = plt.subplots(figsize=(6.5, 5.5))
        if len(points) >= 4:
            try:
                tri = mtri.Triangulation(xy[:, 0], xy[:, 1])
                cs = ax.tricontourf(tri, z, levels=12, cmap="viridis")
            except (ValueError, RuntimeError):  # collinear points: scatter only
                cs = None
        else:
            cs = None
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=z, cmap="viridis", edgecolors="white", s=80, zorder=3)
        fig.colorbar(cs if cs is not None else sc, ax=ax, label=f"{metric} (%)")
        for (x, y), val in zip(xy, z):
            ax.annotate(f"{val:.1f}", (x, y), textcoords="offset points", xytext=(8, 3), ha="left", fontsize=8)
        tri_x = [corners[t][0] for t in (*TIERS, TIERS[0])]
        tri_y = [corners[t][1] for t in (*TIERS, TIERS[0])]
        ax.plot(tri_x, tri_y, color="black", lw=1)
        for t, (x, y) in corners.items():
            ax.annotate(f"100% {t}", (x, y), textcoords="offset points", xytext=(0, -16 if y == 0 else 12),
                        ha="center", fontsize=9)
        ax.set_xlim(-0.15, 1.15)
        ax.set_ylim(-0.1, 0.97)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_title(f"{metric} (%) over the hard/medium/easy simplex\n(points: mean over replicates, at the requested "
                     "mix;\nthe realised mixes are in the tables; colour interpolated)", pad=14)
        fig.tight_layout()
        written.append(out / f"simplex_{metric.replace('@', '_at_')}.png")
        fig.savefig(written[-1], dpi=120, bbox_inches="tight")  # the two-line title is wider than the triangle
        plt.close(fig)
    return written


def metrics_held(jobs: list[Job]) -> set[str]:
    """The metrics every trained model's row holds, on every test set (not the speaker-shortcut keys, which only
    the rows of questions naming one speaker carry)."""
    rows = [row for j in jobs for rep in [*j.replicates, *(r for x in j.extra.values() for r in x.replicates)]
            for row in rep.rows["trained"].values()]
    return set.intersection(*(set(row) for row in rows)) - {"qid", "kind", *SHORTCUT_KEYS} if rows else set()


def main(argv: list[str] | None = None) -> int:
    """Exit 0 with the tables; 2 for a bad argument or a directory that cannot be aggregated (before any work);
    5 (a full disk) or 1 when a file cannot be written (the tables are on the console)."""
    parser = argparse.ArgumentParser(prog="python -m hins.aggregate", description=__doc__.split("\n")[0])
    parser.add_argument("multirun_dir", type=Path, nargs="+",
                        help="one multirun directory, or several that make one study (their arms side by side)")
    parser.add_argument("--metrics", nargs="+", default=["recall@10", "ndcg@10"])
    parser.add_argument("--reference", default=None,
                        help="the variant others are compared with (a substring of its overrides or label; "
                             "default: Full (H+M+E) 30/30/40)")
    parser.add_argument("--out", type=output_dir, default=None,
                        help="where to write (default: the multirun directory; required with several)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    metrics = list(dict.fromkeys(args.metrics))
    roots = list(dict.fromkeys(args.multirun_dir))
    if len(roots) > 1 and args.out is None:
        parser.error("--out is required with several multirun directories")
    out = args.out or roots[0]
    try:
        jobs, unfinished, common = load_jobs(*roots)
        if args.out is None:
            try:
                output_dir(str(out))
            except argparse.ArgumentTypeError as err:
                raise AggregateError(f"{err} (give --out)") from None
        held = metrics_held(jobs)
        missing = [m for m in metrics if m not in held]
        if missing:
            raise AggregateError(f"--metrics: {missing} not held by every question's results (they hold "
                                 f"{sorted(held)}; the speaker-shortcut check has a table of its own)")
        result = aggregate(jobs, metrics, args.reference)
    except AggregateError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    result["unfinished_jobs"] = [str(p) for p in unfinished]
    result["common_overrides"] = common
    walls = [j.wall_s for j in jobs if j.wall_s is not None]
    result["wall_s"] = {"total": sum(walls), "mean_per_job": sum(walls) / len(walls)} if walls else None
    head = f"Overrides shared by every job: {', '.join(common)}\n\n" if common else ""
    if walls:
        head += (f"Wall time: {sum(walls) / 60:.1f} min over {len(walls)} jobs "
                 f"({sum(walls) / len(walls) / 60:.1f} min per job, from each job's run.log)\n\n")
    table = head + markdown(result, metrics)
    note = f"\n{len(unfinished)} job(s) without results left out: {', '.join(map(str, unfinished))}\n" if unfinished else ""
    replicates = sum(len(j.replicates) for j in jobs)
    print(table + note)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "aggregate.md").write_text(f"# {' + '.join(r.name for r in roots)}: {len(jobs)} jobs, {replicates} replicates "
                                          f"(trained models: fold × seed)\n\n{table}{note}")
        (out / "aggregate.json").write_text(json.dumps(result, indent=2))
        images = plots(result, metrics[0], out)
    except OSError as err:
        from hins.core.artifacts import disk_full

        print(f"error: could not write {err.filename or out}: {err.strerror or err} (the tables are above)",
              file=sys.stderr)
        return 5 if disk_full(err) else 1
    print(f"Written: {out / 'aggregate.md'}, {out / 'aggregate.json'}, " + ", ".join(map(str, images)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
