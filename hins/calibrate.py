"""Ratio calibration: the tier proportions of the distractors a base model actually ranks high.

For each training query, the base model ranks a pool that holds the query's own conversation and the other
conversations of its processing group (the pool easy negatives come from; ``calibrate.pool=all``: every
conversation measured). The ``top_n`` highest-ranked non-evidence messages are its natural distractors; each gets
its tier by the HiNS rules (hins.negatives.tier_of): other conversation = easy, own conversation and another
topic = medium, same topic and another speaker than the target = hard, same topic and the target speaker
= target_topic (no tier draws those). The proportions, normalised over the three tiers, are a ratio; their 95%
intervals come from a bootstrap over queries.

Calibration is tuning, so it reads training conversations only: ``negatives.ratios=calibrated`` measures each
run's (each fold's) training split at run time, top_n = negatives.k, and draws that split's negatives by the
result (``Pipeline.calibration``). ``python -m hins.calibrate`` (LoCoMo by default; any data/topics/queries/model
group composes as in hins.run) measures the same thing as a standalone tool: the training split of the run its
config describes (a LoCoMo fold given by ``data.fold=<i>``, or synthetic data's split), or with LoCoMo's
``data.fold=all`` every conversation, which describes the data but holds every fold's test conversations; the
report names the conversations it read.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hins.cli import CONFIG_PATH, job_started, run_hydra
from hins.logging_utils import no_secrets_on_the_command_line
from hins.negatives import Ranker, processing_groups, tier_counts, tier_of
from hins.records import TIERS, Conversation, DataError, Query

log = logging.getLogger(__name__)
CLASSES = (*TIERS, "target_topic")
BOOTSTRAP = 2000  # resamples for the intervals of a run's calibration (the tool: calibrate.bootstrap)


def distractor_tiers(ranker: Ranker, conversations: dict[str, Conversation], queries: Sequence[Query],
                     labels: dict[str, Sequence[str]], pools: dict[str, list[str]], top_n: int) -> np.ndarray:
    """Per question, how many of its ``top_n`` highest-ranked non-evidence messages fall in each class."""
    counts = np.zeros((len(queries), len(CLASSES)), dtype=np.int64)
    for i, q in enumerate(queries):
        conv = conversations[q.cid]
        evidence = set(q.evidence)
        refs = [(q.cid, m.mid) for m in conv.messages if m.mid not in evidence]
        refs += [(c, m.mid) for c in pools[q.cid] for m in conversations[c].messages]
        top = Ranker.top(refs, ranker.scores(q.qid, refs), top_n)
        for ref in top:
            counts[i, CLASSES.index(tier_of(ref, conv, labels[q.cid], q.topic, q.target))] += 1
    return counts


def proportions(counts: np.ndarray, n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Shares of each class among all distractors, and of the three tiers among the tiered ones, with
    95% percentile intervals from a bootstrap over questions."""
    rng = np.random.default_rng(seed)
    boots = counts[rng.integers(0, len(counts), size=(n_boot, len(counts)))].sum(axis=1)  # (n_boot, classes)

    def shares(total: np.ndarray, cols: slice) -> np.ndarray:
        part = total[..., cols]
        return part / part.sum(axis=-1, keepdims=True)

    out: dict[str, Any] = {"questions": int(len(counts)), "distractors": int(counts.sum())}
    for name, cols, classes in (("all", slice(None), CLASSES), ("tiers", slice(0, len(TIERS)), TIERS)):
        point = shares(counts.sum(axis=0).astype(float), cols)
        lo, hi = np.percentile(shares(boots.astype(float), cols), [2.5, 97.5], axis=0)
        out[name] = {c: {"share": float(p), "ci_low": float(a), "ci_high": float(b)}
                     for c, p, a, b in zip(classes, point, lo, hi)}
    return out


def ratio_string(tiers: dict[str, dict[str, float]]) -> str:
    """The tier shares as the sweeps' ``H-M-E`` override in whole percent, summing to 100 (largest remainder)."""
    pct = tier_counts(100, {t: tiers[t]["share"] for t in TIERS})
    return "-".join(str(pct[t]) for t in TIERS)


def measure(ranker: Ranker, conversations: dict[str, Conversation], queries: Sequence[Query],
            labels: dict[str, Sequence[str]], top_n: int, group_size: int, pool: str = "group",
            n_boot: int = BOOTSTRAP, seed: int = 0) -> dict[str, Any]:
    """The calibration of ``queries`` (at least one) over ``conversations`` and nothing else: pools are cut from these
    conversations (processing groups of ``group_size`` in their order, as the negatives' easy tier; ``pool="all"``:
    all of them). Shares and intervals overall and per query kind, the ``H-M-E`` ratio, and the conversations read."""
    cids = list(conversations)
    pools = ({c: [o for o in cids if o != c] for c in cids} if pool == "all" else processing_groups(cids, group_size))
    counts = distractor_tiers(ranker, conversations, queries, labels, pools, top_n)
    if not counts[:, : len(TIERS)].any():
        raise DataError(f"calibration: every one of the base model's top {top_n} distractors of {len(queries)} queries "
                        "is the target speaker's own same-topic turn; no tier to calibrate (set negatives.ratios)")
    result = proportions(counts, n_boot, seed)
    result["ratio"] = ratio_string(result["tiers"])
    result["by_kind"] = {}
    for kind in sorted({q.kind for q in queries}):
        rows = np.array([i for i, q in enumerate(queries) if q.kind == kind])
        result["by_kind"][kind] = proportions(counts[rows], n_boot, seed)
    result["conversations"] = cids
    return result


def report(result: dict[str, Any], meta: dict[str, Any]) -> str:
    lines = [f"# Ratio calibration: {meta['data']} under {meta['model']}", "",
             f"Conversations read: {meta['conversation_set']}: {', '.join(result['conversations'])}.", "",
             f"{result['questions']} training queries, top {meta['top_n']} non-evidence messages each over a pool of "
             f"{meta['pool']} ({result['distractors']} distractors). Shares in %, 95% bootstrap interval "
             "over queries.", "", "| class | share of all distractors | share among the three tiers |",
             "|---|---|---|"]
    for c in CLASSES:
        a = result["all"][c]
        t = result["tiers"].get(c)
        tier = f"{100 * t['share']:.1f} [{100 * t['ci_low']:.1f}, {100 * t['ci_high']:.1f}]" if t else "— (no tier)"
        lines.append(f"| {c} | {100 * a['share']:.1f} [{100 * a['ci_low']:.1f}, {100 * a['ci_high']:.1f}] | {tier} |")
    if result.get("by_kind"):
        lines += ["", "| question kind | n | hard / medium / easy among tiers (%) | target_topic of all (%) |",
                  "|---|---|---|---|"]
        for kind, r in result["by_kind"].items():
            lines.append(f"| {kind} | {r['questions']} | "
                         + " / ".join(f"{100 * r['tiers'][t]['share']:.1f}" for t in TIERS)
                         + f" | {100 * r['all']['target_topic']['share']:.1f} |")
    lines += ["", f"Calibrated ratio: `negatives.ratios={result['ratio']}`"]
    return "\n".join(lines) + "\n"


def _measure_run(pipe: Any, embedder: Any, top_n: int, pool: str, n_boot: int) -> tuple[dict[str, Any], str]:
    """The tool's measurement: the training queries of the conversations a run of this config trains on (every
    conversation with LoCoMo's data.fold=all), and a description of that set for the report."""
    run = pipe.run
    conv_key, convs, raw, _ = pipe.conversations()
    topic_key, labels, _ = pipe.topics(conv_key, convs, embedder)
    query_key, queries, _ = pipe.queries(topic_key, convs, raw, labels)
    data = run.data
    if data.source == "locomo" and data.fold == "all":
        cids = list(convs)
        used = (f"all {len(cids)} conversations (data.fold=all: every fold's test conversations included, so this "
                "describes the data and is no ratio to train a fold with; data.fold=<i> reads fold i's training split)")
    else:
        fold = None if data.source != "locomo" else int(data.fold)
        cids = pipe.splits(list(convs), fold)["train"]
        used = (f"the {len(cids)} training conversations of fold {fold} of {data.folds}" if fold is not None
                else f"the {len(cids)} training conversations of the split of seed {run.seed}")
    train = pipe.split_queries(queries, {"train": cids})["train"]
    log.info("calibrate: ranking %d training queries over %s", len(train), used)
    result = pipe.calibration(query_key, convs, train, labels, cids, embedder, top_n, pool, n_boot)
    return result, used


class CalibrateParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    top_n: int = Field(ge=1)
    pool: Literal["group", "all"]
    bootstrap: int = Field(ge=100)


def calibrate_params(cfg: DictConfig) -> CalibrateParams:
    """The ``calibrate`` section, checked; raises ConfigError naming the key."""
    from hins.config import ConfigError, _format

    try:
        node = cfg.get("calibrate")
        return CalibrateParams.model_validate(OmegaConf.to_container(node, resolve=True)
                                              if OmegaConf.is_config(node) else node)
    except ValidationError as err:
        raise ConfigError(_format(err, "calibrate")) from None
    except OmegaConfBaseException as err:  # an interpolation that does not resolve
        raise ConfigError(f"invalid config: calibrate: {str(err).splitlines()[0]}") from None


@no_secrets_on_the_command_line
@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="calibrate")
def main(cfg: DictConfig) -> str | None:
    job_started()
    from hydra.core.hydra_config import HydraConfig

    from hins.artifacts import write_json
    from hins.config import ConfigError, validate
    from hins.model import ModelLoadError
    from hins.pipeline import Pipeline, load_model

    try:
        run = validate(cfg, extra=("calibrate",))
        params = calibrate_params(cfg)
        embedder = load_model(run)
    except (ConfigError, ModelLoadError) as err:
        log.error("%s", err)
        sys.exit(2)
    out = Path(HydraConfig.get().runtime.output_dir)
    pipe = Pipeline(cfg, run, out)
    try:
        result, used = _measure_run(pipe, embedder, params.top_n, params.pool, params.bootstrap)
    except DataError as err:
        log.error("%s", err)
        sys.exit(2)
    meta = {"data": run.data.source, "model": run.model.name, "top_n": params.top_n, "conversation_set": used,
            "pool": "every conversation read" if params.pool == "all"
            else f"its processing group of {run.negatives.group_size} conversations"}
    write_json(out / "calibration.json", {**meta, **result})
    text = report(result, meta)
    (out / "calibration.md").write_text(text)
    print(f"\n{text}\nWritten to {out}")
    return result["ratio"]


def entry() -> None:
    """The ``hins-calibrate`` command (a console script of pyproject.toml) and ``python -m hins.calibrate``."""
    run_hydra(main)


if __name__ == "__main__":
    entry()
