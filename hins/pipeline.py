"""One run of the HiNS pipeline: its stages in order, then contrastive training and evaluation.

    source (conversations) → topics → queries → [calibration] → negatives (samples, per split)
    → training → evaluation (untuned beside trained)

The stages are declared units (hins.stages): each reads only its typed settings and the artifacts of the stages
it consumes, and the runner derives every artifact's key from those, caches it, and draws the progress. The data
source is a stage chosen by ``data.source``; the queries stage by ``queries`` (the source's own, or with
``queries=llm`` an LLM's training queries for the conversations of any source, the source's own then evaluating
the held-out split); the calibration stage runs when ``negatives.ratios=calibrated``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from hins.core.artifacts import config_key, write_json
from hins.core.config import RunConfig
from hins.evaluation.evaluate import (EvalSet, comparison_table, cross_validation_summary, cv_table, evaluate, shortcut_table,
                           test_set_id)
from hins.evaluation.evaluate import score as score_vectors
from hins.training.model import Embedder, model_identity
from hins.stages.negatives import NegativesSettings, NegativesStage
from hins.stages.queries import QueriesSettings, QueriesStage
from hins.core.records import Conversation, DataError, Query
from hins.stages.base import Priced, Stage, stage_keys
from hins.stages.calibration import CalibrationSettings, CalibrationStage
from hins.stages.encode import UntunedModel, load_model, model_key
from hins.stages.runner import Built, StageRunner
from hins.stages.sources import Source, source_for
from hins.stages.topics import TopicsSettings, TopicsStage

__all__ = ["Pipeline", "load_model", "run_pipeline", "stages_of"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunContext:
    """Where a run writes and what it logs: its directory, the artifact cache, the resume directories, and its
    resolved config (secrets redacted) for W&B and the keys of the whole run."""

    output_dir: Path
    cache_dir: Path
    train_state_dir: Path | None
    logged: dict[str, Any]

    @classmethod
    def of(cls, cfg: DictConfig, output_dir: str | Path) -> "RunContext":
        from hins.core.logging_utils import loggable_config

        state = cfg.paths.get("train_state_dir")
        return cls(Path(output_dir), Path(cfg.paths.cache_dir), Path(state) if state else None, loggable_config(cfg))


def queries_stage(run: RunConfig) -> Stage[Any]:
    """The source's own queries, or with ``queries=llm`` an LLM's (imported only then: the offline path never loads
    the LLM client)."""
    if run.queries.source == "llm":
        from hins.stages.queries_llm import LLMQueriesSettings, LLMQueriesStage

        return LLMQueriesStage(LLMQueriesSettings.of(run))
    return QueriesStage(QueriesSettings.of(run))


def stages_of(run: RunConfig, fold: int | None) -> list[Stage[Any]]:
    """The run's stages, each after the stages it consumes (the base model, ``model``, is an input given apart)."""
    stages: list[Stage[Any]] = [source_for(run), TopicsStage(TopicsSettings.of(run)), queries_stage(run)]
    if run.negatives.calibrated:
        stages.append(CalibrationStage(CalibrationSettings.of(run, fold=fold)))
    return [*stages, NegativesStage(NegativesSettings.of(run, fold=fold))]


def keys_of(run: RunConfig, fold: int | None) -> dict[str, str]:
    """Every artifact key of a run's fold, derived without building anything."""
    return stage_keys(stages_of(run, fold), {"model": model_key(run)})


@dataclass
class PipelineData:
    conversations: dict[str, Conversation]
    queries: dict[str, list[Query]]  # split -> the queries it trains or evaluates on
    splits: dict[str, list[str]]
    datasets: dict[str, Any]  # split -> samples dataset
    stats: dict[str, Any]
    data_key: str  # identifies the samples (the negatives artifact's key)


@dataclass
class ExtraSet:
    """One ``eval.extra`` file as a test set: every conversation it holds, with its questions."""

    name: str  # the file's name, numbered when two files share one: its key under "extra" in results.json
    path: str
    data: EvalSet


def extra_sets(run: RunConfig) -> list[ExtraSet]:
    """``eval.extra``: each LoCoMo-format file read by the LoCoMo loader, its questions of the categories the source
    evaluates (``data.eval_categories`` on LoCoMo data, else the paper's 1-4) over all its conversations, in the run's
    passage template. Read before any training, so a malformed file stops the run at once, naming its entry."""
    from hins.evaluation.locomo import LocomoFormatError, load_locomo, locomo_eval_set

    categories = source_for(run).eval_categories()
    out: list[ExtraSet] = []
    for i, path in enumerate(run.eval.extra):
        try:
            data = locomo_eval_set(load_locomo(path), categories=categories, template=run.data.passage_template)
        except LocomoFormatError as err:
            raise LocomoFormatError(f"eval.extra[{i}]: {err}") from None
        if not data.queries:
            raise DataError(f"eval.extra[{i}]: {path} holds no question of categories {categories} with valid evidence")
        stem, name, n = Path(path).stem, Path(path).stem, 2
        while name in {x.name for x in out}:
            name, n = f"{stem}-{n}", n + 1
        out.append(ExtraSet(name, str(path), data))
    return out


class Pipeline:
    """One fold of a run: its stages through one runner; ``embedder``: the base model, for the stages that read it."""

    def __init__(self, run: RunConfig, output_dir: str | Path, cache_dir: str | Path,
                 embedder: Embedder | None = None, fold: int | None = None):
        self.run, self.fold = run, fold
        self.out = Path(output_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.runner = StageRunner(cache_dir)
        self.model: UntunedModel | None = None
        if embedder is not None:
            self.model = UntunedModel(embedder, self.runner, run.eval.batch_size)
            self.runner.built["model"] = Built(model_key(run), self.model)
        self.stages = stages_of(run, fold)
        self.source: Source = self.stages[0]  # type: ignore[assignment]

    def dry_run(self) -> dict[str, Any]:
        """What every LLM step of this config would be asked for, nothing sent: the source's (an LLM synthesis with
        ``synthesis.dry_run``, priced on stand-ins of the conversations it would write), then ``topics=llm`` and
        ``queries=llm`` on those stand-ins or on the source's real conversations (read, or built offline first).
        Per stage and in total; written to ``dry_run.json``."""
        priced: dict[str, dict[str, Any]] = {}
        source = self.source.dry_run()
        if source is not None:
            priced[self.source.name], convs = source.estimate, source.conversations
        else:
            convs = list(self.runner.run(self.source).conversations.values())
        for stage in self.stages[1:]:
            estimate = stage.estimate(convs) if isinstance(stage, Priced) else None
            if estimate is not None:
                priced[stage.name] = estimate
        report = {"stages": priced,
                  "calls": {f"{name}/{step}": n for name, e in priced.items() for step, n in e["calls"].items()},
                  **{total: sum(e[total] for e in priced.values())
                     for total in ("total_calls", "total_input_tokens", "total_output_tokens")},
                  "cost_usd": round(sum(e["cost_usd"] for e in priced.values()), 4),
                  "note": next(iter(priced.values()))["note"]}
        write_json(self.out / "dry_run.json", report)
        return report

    def prepare(self) -> PipelineData:
        """Every stage's artifact, built or loaded; the data's statistics in ``data_stats.json``. A trained run stops
        before the negatives when a split it needs holds no question (``check_evaluable``)."""
        built = {stage.name: self.runner.run(stage) for stage in self.stages[:3]}
        source, queries = built["conversations"], built["queries"]
        negatives: NegativesStage = self.stages[-1]  # type: ignore[assignment]
        splits, per_split = negatives.divide(source.conversations, queries.queries)
        if self.run.stop_after == "train":
            self.check_evaluable(splits, per_split)
        built.update({stage.name: self.runner.run(stage) for stage in self.stages[3:]})
        samples = built["negatives"]
        stats = {"source": source.stats, "topics": built["topics"].stats, "queries": queries.stats,
                 "negatives": samples.stats,
                 "splits": splits if self.fold is not None else {s: len(c) for s, c in splits.items()},
                 "samples": {s: len(d) for s, d in samples.datasets.items()}}
        write_json(self.out / "data_stats.json", stats)
        return PipelineData(source.conversations, per_split, splits, samples.datasets, stats,
                            self.runner.built["negatives"].key)

    def check_evaluable(self, splits: dict[str, list[str]], queries: dict[str, list[Query]]) -> None:
        """A trained run scores the evaluated split's questions and chooses its checkpoint on the validation split's:
        a split of conversations without one would train and then have no result, so stop before training."""
        view = self.stages[-1].settings.data  # type: ignore[attr-defined]
        for split in dict.fromkeys((self.run.eval.split, "val")):
            if not splits[split] or queries[split]:
                continue
            evaluated = split == self.run.eval.split
            what = ("to evaluate" if evaluated else "to choose the checkpoint on") + view.missing(split, evaluated)
            shown = ", ".join(splits[split][:5]) + (", ..." if len(splits[split]) > 5 else "")
            raise DataError(f"{view.where(self.fold)}: the {split} split ({shown}) holds no question {what}; "
                            "nothing was trained")

    def eval_set(self, data: PipelineData, split: str) -> EvalSet:
        if not data.splits[split]:
            key = self.stages[-1].settings.data.no_conversation_key(split)  # type: ignore[attr-defined]
            raise DataError(f"eval.split={split} holds no conversation: raise {key}")
        return EvalSet(
            conversations=[data.conversations[c] for c in data.splits[split]],
            queries=data.queries[split],
            template=self.run.data.passage_template,
            samples=data.datasets.get(split),
        )


def resume_dir(run: RunConfig, ctx: RunContext, data_key: str, fold: int | None) -> Path | None:
    """Where a training run keeps its checkpoints until its results are written: one directory per config,
    data and fold, so the same command run again after a kill finds them (None: trainer.resume=false)."""
    if not run.trainer.resume:
        return None
    what = {k: v for k, v in ctx.logged.items() if k not in ("paths", "logger", "stop_after")}
    root = ctx.train_state_dir or ctx.cache_dir.parent / "train_state"
    return Path(root) / f"{run.name}-{config_key('training', what, data_key, fold, weights_identity(run))}"


def weights_identity(run: RunConfig) -> dict[str, Any]:
    """The base model's weights by content (``model_identity``), for keys of a whole run: new weights at the same
    ``model.path`` are another run (its resume directory, its finished-job record), not a finished or resumable one."""
    return model_identity(run.model.source, run.model.name, run.model.path)


def is_dry_run(run: RunConfig) -> bool:
    """Whether an LLM group asks to price the run's LLM steps instead of running (``synthesis.dry_run``,
    ``topics.dry_run``, ``queries.dry_run``; the last two follow the first by default)."""
    return source_for(run).dry_run_requested() or run.topics.dry_run or run.queries.dry_run


def run_pipeline(run: RunConfig, ctx: RunContext) -> dict[str, Any]:
    """The whole pipeline; returns (and writes) the untuned and trained results side by side.

    With LoCoMo folds and ``data.fold=all``, every fold trains a fresh copy of the base model on the
    other folds; the report pools the per-question results of all folds (each question is evaluated
    exactly once) and gives the spread of the fold means.
    """
    out = ctx.output_dir
    if is_dry_run(run):
        estimate = Pipeline(run, out, ctx.cache_dir).dry_run()
        print(f"Dry run (nothing sent): {estimate['total_calls']:,} calls, ~{estimate['total_input_tokens']:,} input "
              f"and ~{estimate['total_output_tokens']:,} output tokens, ~${estimate['cost_usd']:,.2f}; "
              f"per step in {out / 'dry_run.json'}")
        return {"name": run.name, "dry_run": estimate, "results": None}
    needs_model = run.stop_after != "data" or run.topics.uses_model or run.negatives.uses_model
    # The model loads first, so one that cannot load stops the run before any work.
    embedder = load_model(run) if needs_model else None
    from hins.core.disk import log_estimate

    log_estimate(run, ctx.cache_dir, out, embedder)
    extras = extra_sets(run) if run.stop_after != "data" else []
    folds = source_for(run).folds()
    pipes = {f: Pipeline(run, out if len(folds) == 1 else out / f"fold_{f}", ctx.cache_dir, embedder, f)
             for f in folds}
    # Every fold's data before any fold trains: a fold that cannot be evaluated stops the run first.
    prepared = {f: pipe.prepare() for f, pipe in pipes.items()}
    if len(folds) == 1:
        return _run_one(pipes[folds[0]], prepared[folds[0]], ctx, extras)
    summaries = [_run_one(pipes[f], prepared[f], ctx, extras) for f in folds]
    if run.stop_after == "data":
        return {"name": run.name, "folds": summaries, "results": None}
    summary = cross_validation_summary(run.name, summaries)
    summary["objective"] = summary["pooled"]["trained"]["overall"][f"ndcg@{run.eval.ndcg_k}"]
    table = cv_table(summary)
    text = (f"# {run.name}: {len(folds)} folds by conversation\n\n{table}\n\n"
            f"Pooled over folds, in %:\n\n{shortcut_table(summary['speaker_shortcut'])}\n")
    if extras:
        # Every fold's model evaluates every question of an extra set: pooled over the fold models, n counts
        # (fold, question) pairs and ± is the sd between the fold models.
        summary["extra"] = {
            x.name: {"path": x.path, "test_set": summaries[0]["extra"][x.name]["test_set"],
                     **cross_validation_summary(run.name, [{**f, "results": f["extra"][x.name]["results"]}
                                                           for f in summaries])}
            for x in extras}
        for x in extras:
            extra = summary["extra"][x.name]
            text += (f"\n## Extra test set {x.name} ({x.path}): every fold's model on all of it (n = fold × question)"
                     f"\n\n{cv_table(extra)}\n\n{shortcut_table(extra['speaker_shortcut'])}\n")
    write_json(out / "results.json", summary)
    (out / "results.md").write_text(text)
    print(f"\nResults over {len(folds)} folds (%, pooled over questions; ± = sd of fold means):\n{table}\n\n"
          f"Written to {out}")
    return summary


def _run_one(pipe: Pipeline, data: PipelineData, ctx: RunContext, extras: Sequence[ExtraSet] = ()) -> dict[str, Any]:
    from hins.training.train import finish_resume, fit  # Lightning is imported only when training

    run, out, fold, model = pipe.run, pipe.out, pipe.fold, pipe.model
    log.info("fold %s: samples per split: %s", fold, data.stats["samples"])
    if run.stop_after == "data" or model is None:
        print(f"Data built (stop_after=data): {data.stats['samples']} samples; stats in {out / 'data_stats.json'}")
        return {"name": run.name, "data": data.stats["samples"], "results": None}
    test = pipe.eval_set(data, run.eval.split)
    val = pipe.eval_set(data, "val") if data.splits["val"] else None

    def score(model: Embedder, eval_set: EvalSet) -> dict[str, Any]:
        return evaluate(model, eval_set, run.eval.ks, run.eval.ndcg_k, run.eval.batch_size)

    results = {"untuned": score_vectors(model.vectors(test), test, run.eval.ks, run.eval.ndcg_k)}
    log.info("untuned %s: %s", run.eval.split, _brief(results["untuned"]))
    trained, train_info = fit(run, model.embedder, data.datasets["train"],
                              (lambda m: _val_metrics(score(m, val))) if val else None, out,
                              resume_dir(run, ctx, data.data_key, fold), ctx.logged)
    results["trained"] = score(trained, test)
    extra = {x.name: {"path": x.path, "test_set": test_set_id(x.data), "results": {
        "untuned": score_vectors(model.vectors(x.data), x.data, run.eval.ks, run.eval.ndcg_k),
        "trained": score(trained, x.data)}} for x in extras}
    finish_resume(train_info, out)
    log.info("trained %s: %s", run.eval.split, _brief(results["trained"]))
    table = comparison_table(results)
    summary = {"name": run.name, "fold": fold, "eval_split": run.eval.split, "test_set": test_set_id(test),
               "results": results, "training": train_info, "data": data.stats["samples"],
               "objective": results["trained"]["overall"][f"ndcg@{run.eval.ndcg_k}"]}
    text = (f"# {run.name}: held-out {run.eval.split} conversations ({results['trained']['n_queries']} queries)\n\n"
            f"Metrics in %.\n\n{table}\n")
    if extra:
        summary["extra"] = extra
    for x in extras:
        res = extra[x.name]["results"]
        text += (f"\n## Extra test set {x.name} ({x.path}: {res['trained']['n_queries']} queries, "
                 f"{len(x.data.conversations)} conversations)\n\n{comparison_table(res)}\n")
    write_json(out / "results.json", summary)
    (out / "results.md").write_text(text)
    named = "".join(f"\nExtra test set {x.name}, trained: {_brief(extra[x.name]['results']['trained'])}"
                    for x in extras)
    print(f"\nResults ({run.eval.split} split{'' if fold is None else f', fold {fold}'}, %):\n{table}\n{named}\n"
          f"Written to {out}")
    return summary


def _val_metrics(result: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in result["overall"].items()}


def _brief(result: dict[str, Any]) -> str:
    return ", ".join(f"{k}={100 * v:.1f}" for k, v in result["overall"].items())



