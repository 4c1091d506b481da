"""Turn a Hydra multirun directory into the study's tables, paired tests and plots.

``python -m hins.aggregate outputs/multiruns/table4_locomo [--metrics recall@10 ndcg@10] [--reference full]``

- Each job directory (one holding ``.hydra/``) is one (variant, seed); its variant is its overrides less
  ``seed``. Per-question results are pooled over the job's folds (each question is held out once).
- Table: mean over seeds ± the 95% confidence half-width (Student t, n-1 degrees of freedom), per query
  kind and overall (question-weighted), in the paper's Table 4 layout.
- Paired test of each variant against the reference: per question, the variant's metric minus the
  reference's, averaged over the seeds both ran; a bootstrap over questions (the unit both share) gives the
  95% interval of the mean difference and a two-sided p-value. Where the seed changes the test set (synthetic
  data, random splits) a question is one seed's question: rows are keyed by test set, fold and question id.
  Variants move held-out recall by a few points while fine-tuning moves it by 15-25, so only a paired
  comparison can tell mixes apart.
- Plots (PNG): a bar chart of every variant, the paired differences from the reference, and a heat map over
  the hard/medium/easy simplex when the sweep holds three or more hierarchical ratio points.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy import stats as sps

from hins.artifacts import config_key
from hins.cli import output_dir
from hins.config import NegativesConfig
from hins.logging_utils import JOB_START
from hins.records import TIERS

log = logging.getLogger(__name__)

RowKey = tuple[str, Any, str]  # (test set, fold, question id): one question of one test set

UNTUNED = "Untuned base model"
# The paper's Table 4 row order, then the baselines; other variants follow by label.
ROW_ORDER = ("Just Hard", "No Medium", "No Easy", "Full", "Uniform", "Model-mined")
# The paper's Table 4 column order for LoCoMo; other kinds follow in alphabetical order.
KIND_ORDER = ("temporal", "open-domain", "multi-hop", "single-hop")
TIER_NAMES = {frozenset({"hard"}): "Just Hard (H)", frozenset({"hard", "easy"}): "No Medium (H+E)",
              frozenset({"hard", "medium"}): "No Easy (H+M)"}


class AggregateError(Exception):
    """A multirun directory that cannot be aggregated (named, with the reason)."""


@dataclass
class Job:
    path: Path
    variant: str  # the overrides less seed: the grouping key
    label: str  # what the tables show
    seed: int
    ratios: dict[str, float] | None  # effective hard/medium/easy ratios of a hierarchical job
    realised: dict[str, float]  # tier shares of the training negatives actually drawn (data_stats.json)
    wall_s: float | None  # the job's attempts' time, from its run.log
    # model ("trained" / "untuned") -> (test set, fold, qid) -> {"kind": ..., metric: value}
    rows: dict[str, dict[RowKey, dict[str, Any]]] = field(default_factory=dict)


def mean_ci(values: list[float], level: float = 0.95) -> tuple[float, float | None]:
    """Mean and the half-width of its Student-t confidence interval (None for a single value)."""
    n = len(values)
    mean = float(np.mean(values))
    if n < 2:
        return mean, None
    sd = float(np.std(values, ddof=1))
    return mean, float(sps.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n))


def paired_bootstrap(diffs: np.ndarray, n_boot: int = 10_000, seed: int = 0) -> dict[str, float]:
    """Mean of per-question differences, its 95% percentile interval and a two-sided bootstrap p-value."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diffs), size=(n_boot, len(diffs)))
    boots = diffs[idx].mean(axis=1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    p = min(1.0, 2 * min(float(np.mean(boots <= 0)), float(np.mean(boots >= 0))))
    return {"mean": float(diffs.mean()), "ci_low": float(lo), "ci_high": float(hi), "p": max(p, 1 / n_boot),
            "n": int(len(diffs))}


def format_p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def variant_label(neg: NegativesConfig) -> tuple[str, dict[str, float] | None]:
    spec = neg.spec()
    if spec.strategy == "uniform":
        return "Uniform random", None
    if spec.strategy == "mined":
        return f"Model-mined (margin {spec.mine_margin:g})", None
    ratios = spec.effective_ratios()
    full = {t: ratios.get(t, 0.0) for t in TIERS}
    pct = "/".join(f"{100 * full[t]:.0f}" for t in TIERS)
    # Named by the tiers enabled (a tier left out is never drawn, not even to backfill), not by zero ratios.
    enabled = frozenset(spec.tiers)
    if enabled in TIER_NAMES:
        return f"{TIER_NAMES[enabled]} {pct}", full
    return (f"Full (H+M+E) {pct}" if pct == "30/30/40" else f"H/M/E {pct}"), full


def _job_rows(path: Path) -> dict[str, dict[RowKey, dict[str, Any]]]:
    results = path / "results.json"
    if not results.is_file():
        return {}
    summary = json.loads(results.read_text())
    folds = [summary] if "results" in summary else [
        json.loads(p.read_text()) for p in sorted(path.glob("fold_*/results.json"))]
    rows: dict[str, dict[RowKey, dict[str, Any]]] = defaultdict(dict)
    for fold in folds:
        if not fold.get("results"):
            continue
        test_set = fold.get("test_set") or _untuned_fingerprint(fold["results"])
        for model, res in fold["results"].items():
            for row in res["per_query"]:
                rows[model][(test_set, fold.get("fold"), row["qid"])] = row
    return dict(rows)


def _untuned_fingerprint(results: dict[str, Any]) -> str:
    """The test set of a results.json written before they named it (hins.evaluate.test_set_id): the base model's
    per-question results, which equal each other exactly where the test set is the same."""
    return config_key("untuned", results.get("untuned", {}).get("per_query"))


def _key(override: str) -> str:
    return override.lstrip("+~").split("=")[0]


# Overrides the variant label already says (or that never define a variant).
_LABELLED = ("seed", "experiment", "negatives", "negatives.ratios", "negatives.tiers", "negatives.strategy")


def _realised(path: Path) -> dict[str, float]:
    counts: dict[str, int] = defaultdict(int)
    for stats in [path / "data_stats.json", *sorted(path.glob("fold_*/data_stats.json"))]:
        if stats.is_file():
            for tier, n in json.loads(stats.read_text())["negatives"].get("train", {}).get("realised", {}).items():
                counts[tier] += n
    total = sum(counts.values())
    return {t: n / total for t, n in sorted(counts.items())} if total else {}


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


def load_jobs(root: Path) -> tuple[list[Job], list[Path], list[str]]:
    """Every finished job under ``root`` with its per-question rows, the job directories with no results yet,
    and the overrides every job shares (left out of the labels)."""
    if not root.is_dir():
        raise AggregateError(f"{root}: no such directory (give a multirun directory, e.g. outputs/multiruns/<name>)")
    found, unfinished = [], []
    for hydra_dir in sorted(root.rglob(".hydra")):
        path = hydra_dir.parent
        try:
            overrides = yaml.safe_load((hydra_dir / "overrides.yaml").read_text()) or []
            cfg = yaml.safe_load((hydra_dir / "config.yaml").read_text())
        except (OSError, yaml.YAMLError) as err:
            raise AggregateError(f"{hydra_dir}: unreadable Hydra record ({err})") from None
        rows = _job_rows(path)
        if rows.get("trained"):
            found.append((path, overrides, cfg, rows))
        else:
            unfinished.append(path)
    if not found:
        raise AggregateError(f"{root}: no finished job (no results.json beside a .hydra/ folder)")
    common = set.intersection(*(set(o) for _, o, _, _ in found))
    jobs = []
    for path, overrides, cfg, rows in found:
        variant = ",".join(o for o in overrides if _key(o) not in ("seed", "experiment"))
        label, ratios = variant_label(NegativesConfig.model_validate(cfg["negatives"]))
        others = [o for o in overrides if o not in common and _key(o) not in _LABELLED]
        if others:
            label += " · " + ",".join(others)
        jobs.append(Job(path, variant, label, int(cfg["seed"]), ratios, _realised(path), _wall_seconds(path), rows))
    return jobs, unfinished, sorted(o for o in common if _key(o) not in ("seed", "experiment"))


def _kind_order(kinds: set[str]) -> list[str]:
    return [k for k in KIND_ORDER if k in kinds] + sorted(kinds - set(KIND_ORDER))


def _means(rows: dict[RowKey, dict[str, Any]], metric: str, kinds: list[str]) -> dict[str, float]:
    out = {"overall": float(np.mean([r[metric] for r in rows.values()]))}
    for kind in kinds:
        vals = [r[metric] for r in rows.values() if r["kind"] == kind]
        if vals:
            out[kind] = float(np.mean(vals))
    return out


def aggregate(jobs: list[Job], metrics: list[str], reference: str | None = None) -> dict[str, Any]:
    """Per variant and metric: mean ± CI over seeds (per kind and overall); paired tests against the reference."""
    by_variant: dict[str, list[Job]] = defaultdict(list)
    for job in jobs:
        by_variant[job.variant].append(job)
    kinds = _kind_order({r["kind"] for j in jobs for r in j.rows["trained"].values()})
    ref = _pick_reference(by_variant, reference)
    # Rows are keyed by test set, fold and question: jobs on one test set pool the untuned rows once, and where
    # the seed changes the test set (synthetic data) each job pairs with its own seed's questions.
    untuned = {k: r for j in jobs for k, r in j.rows.get("untuned", {}).items()}
    out: dict[str, Any] = {"kinds": kinds, "reference": by_variant[ref][0].label, "variants": [], "untuned": {}}
    for metric in metrics:
        if untuned:
            out["untuned"][metric] = _means(untuned, metric, kinds)
    def row_key(variant: str) -> tuple[int, float, float, str]:
        job = by_variant[variant][0]
        ratios = job.ratios or {}
        return (next((i for i, name in enumerate(ROW_ORDER) if job.label.startswith(name)), len(ROW_ORDER)),
                -ratios.get("hard", 0.0), -ratios.get("medium", 0.0), job.label)

    for variant in sorted(by_variant, key=row_key):
        members = sorted(by_variant[variant], key=lambda j: j.seed)
        entry: dict[str, Any] = {"variant": variant, "label": members[0].label, "seeds": [j.seed for j in members],
                                 "ratios": members[0].ratios,
                                 "realised": {t: float(np.mean([j.realised.get(t, 0.0) for j in members]))
                                              for t in sorted({t for j in members for t in j.realised})},
                                 "n_questions": len(members[0].rows["trained"]),
                                 "metrics": {}, "paired_vs_reference": {}, "paired_vs_untuned": {}}
        for metric in metrics:
            per_seed = [_means(j.rows["trained"], metric, kinds) for j in members]
            entry["metrics"][metric] = {g: dict(zip(("mean", "ci"), mean_ci([s[g] for s in per_seed if g in s])))
                                        for g in per_seed[0]}
            if variant != ref:
                entry["paired_vs_reference"][metric] = _paired(members, by_variant[ref], metric)
            if untuned:
                entry["paired_vs_untuned"][metric] = _paired(members, None, metric, untuned)
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


def _paired(variant: list[Job], reference: list[Job] | None, metric: str,
            fixed: dict[RowKey, dict[str, Any]] | None = None) -> dict[str, float] | None:
    """Per question: variant minus reference, averaged over the seeds both ran (or minus a fixed model)."""
    diffs: dict[RowKey, list[float]] = defaultdict(list)
    ref_by_seed = {j.seed: j for j in reference or []}
    for job in variant:
        other = fixed if fixed is not None else (ref_by_seed[job.seed].rows["trained"] if job.seed in ref_by_seed else None)
        if other is None:
            continue
        for key, row in job.rows["trained"].items():
            if key in other:
                diffs[key].append(row[metric] - other[key][metric])
    if not diffs:
        return None
    return paired_bootstrap(np.array([np.mean(v) for v in diffs.values()]))


def _cell(stat: dict[str, float | None] | None) -> str:
    if not stat or stat.get("mean") is None:
        return "—"
    ci = stat.get("ci")
    return f"{100 * stat['mean']:.1f}" + (f" ± {100 * ci:.1f}" if ci is not None else "")


def _mix(realised: dict[str, float]) -> str:
    mix = "/".join(f"{100 * realised.get(t, 0.0):.0f}" for t in TIERS)
    other = realised.get("target_topic", 0.0)
    return mix + (f" (+{100 * other:.0f} target)" if other >= 0.005 else "")


def markdown(result: dict[str, Any], metrics: list[str]) -> str:
    kinds = result["kinds"]
    head = "| Method | realised H/M/E % | seeds | " + " | ".join(kinds) + " | Average |"
    rule = "|---|---|---|" + "---|" * (len(kinds) + 1)
    parts = []
    for metric in metrics:
        lines = [f"### {metric} (%, mean ± 95% CI over seeds; Average is question-weighted)", "", head, rule]
        if metric in result["untuned"]:
            u = result["untuned"][metric]
            lines.append(f"| {UNTUNED} | — | — | " + " | ".join(_cell({"mean": u.get(k)}) for k in kinds)
                         + f" | {_cell({'mean': u['overall']})} |")
        for v in result["variants"]:
            m = v["metrics"][metric]
            lines.append(f"| {v['label']} | {_mix(v['realised'])} | {len(v['seeds'])} | "
                         + " | ".join(_cell(m.get(k)) for k in kinds)
                         + f" | {_cell(m['overall'])} |")
        parts.append("\n".join(lines))
    lines = ["### Paired differences (percentage points, per question, seeds matched; bootstrap over questions, or "
             "over each seed's questions where the seed changes the test set)",
             "", "| Method | metric | vs " + result["reference"] + " [95% CI] | p | vs untuned [95% CI] | p | questions |",
             "|---|---|---|---|---|---|---|"]
    for v in result["variants"]:
        for metric in metrics:
            ref, base = v["paired_vs_reference"].get(metric), v["paired_vs_untuned"].get(metric)

            def fmt(d: dict[str, float] | None) -> tuple[str, str]:
                if not d:
                    return "—", "—"
                return (f"{100 * d['mean']:+.1f} [{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}]",
                        format_p(d["p"]))

            r, b = fmt(ref), fmt(base)
            units = (ref or base or {}).get("n", v["n_questions"])
            lines.append(f"| {v['label']} | {metric} | {r[0]} | {r[1]} | {b[0]} | {b[1]} | {units} |")
    parts.append("\n".join(lines))
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
    ax.set_title(f"{metric}: mean ± 95% CI over seeds")
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
        lo = [100 * (d["mean"] - d["ci_low"]) for _, d in paired]
        hi = [100 * (d["ci_high"] - d["mean"]) for _, d in paired]
        ax.errorbar(mid, ys, xerr=[lo, hi], fmt="o", capsize=4, color="tab:blue")
        ax.axvline(0, color="grey", ls="--")
        ax.set_yticks(ys, [label for label, _ in paired], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(f"{metric}: difference from {result['reference']}\n(points; 95% paired bootstrap CI)")
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
        ax.set_title(f"{metric} (%) over the hard/medium/easy simplex\n(points: mean over seeds; colour between "
                     "them interpolated)", pad=14)
        fig.tight_layout()
        written.append(out / f"simplex_{metric.replace('@', '_at_')}.png")
        fig.savefig(written[-1], dpi=120)
        plt.close(fig)
    return written


def main(argv: list[str] | None = None) -> int:
    """Exit 0 with the tables; 2 for a bad argument or a directory that cannot be aggregated (before any work);
    5 (a full disk) or 1 when a file cannot be written (the tables are on the console)."""
    parser = argparse.ArgumentParser(prog="python -m hins.aggregate", description=__doc__.split("\n")[0])
    parser.add_argument("multirun_dir", type=Path)
    parser.add_argument("--metrics", nargs="+", default=["recall@10", "ndcg@10"])
    parser.add_argument("--reference", default=None,
                        help="the variant others are compared with (a substring of its overrides or label; "
                             "default: Full (H+M+E) 30/30/40)")
    parser.add_argument("--out", type=output_dir, default=None, help="where to write (default: the multirun directory)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    metrics = list(dict.fromkeys(args.metrics))
    out = args.out or args.multirun_dir
    try:
        jobs, unfinished, common = load_jobs(args.multirun_dir)
        if args.out is None:
            try:
                output_dir(str(out))
            except argparse.ArgumentTypeError as err:
                raise AggregateError(f"{err} (give --out)") from None
        held = sorted({k for j in jobs for row in j.rows["trained"].values() for k in row} - {"qid", "kind"})
        missing = [m for m in metrics if m not in held]
        if missing:
            raise AggregateError(f"--metrics: {missing} not in the results (they hold {held})")
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
    print(table + note)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "aggregate.md").write_text(f"# {args.multirun_dir.name}: {len(jobs)} jobs\n\n{table}{note}")
        (out / "aggregate.json").write_text(json.dumps(result, indent=2))
        images = plots(result, metrics[0], out)
    except OSError as err:
        from hins.artifacts import disk_full

        print(f"error: could not write {err.filename or out}: {err.strerror or err} (the tables are above)",
              file=sys.stderr)
        return 5 if disk_full(err) else 1
    print(f"Written: {out / 'aggregate.md'}, {out / 'aggregate.json'}, " + ", ".join(map(str, images)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
