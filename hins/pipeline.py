"""The HiNS pipeline, stage by stage, each stage's output cached on disk under its config key.

personas → events/briefs/conversations → topics → queries → hierarchical negatives → samples
→ contrastive training → evaluation (untuned beside trained).

The queries are the source's own (synthesised with the conversations, or a LoCoMo-format file's QA and
observations), or with ``queries=llm`` training queries an LLM writes for the conversations of any source,
the source's own then evaluating the held-out split.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.progress import Progress

from hins import dataset as ds
from hins.artifacts import ArtifactStore, config_key, read_jsonl, sha256_file, write_json, write_jsonl
from hins.config import RunConfig, group_key
from hins.evaluate import (EvalSet, EvalVectors, comparison_table, cross_validation_summary, cv_table, embed,
                           evaluate, shortcut_table, test_set_id)
from hins.evaluate import score as score_vectors
from hins.calibrate import BOOTSTRAP, measure
from hins.model import Embedder, ModelSpec, load_embedder, model_identity
from hins.negatives import Ranker, build_samples
from hins.queries import calibrate, is_llm_query
from hins.records import TIERS, Conversation, DataError, Query
from hins.topics import assign_topics, tfidf_embed

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def split_conversations(cids: Sequence[str], fractions: dict[str, float], seed: int) -> dict[str, list[str]]:
    """Split by conversation (never by query), deterministically; every split keeps the original order."""
    order = list(cids)
    random.Random(f"{seed}:split").shuffle(order)
    n_val = round(fractions["val"] * len(order))
    n_test = round(fractions["test"] * len(order))
    held = {"val": set(order[:n_val]), "test": set(order[n_val : n_val + n_test])}
    out: dict[str, list[str]] = {s: [] for s in SPLITS}
    for cid in cids:
        out["val" if cid in held["val"] else "test" if cid in held["test"] else "train"].append(cid)
    if not out["train"]:
        raise DataError(f"data.split leaves no training conversation out of {len(cids)}")
    return out


def fold_split(cids: Sequence[str], folds: int, fold: int, n_val: int) -> dict[str, list[str]]:
    """Contiguous folds by conversation: ``fold`` is the test split; the first ``n_val`` others validate."""
    if len(cids) < folds:
        raise DataError(f"data.folds={folds} needs at least {folds} conversations, the source has {len(cids)}")
    bounds = [round(i * len(cids) / folds) for i in range(folds + 1)]
    test = list(cids[bounds[fold] : bounds[fold + 1]])
    held = set(test)
    rest = [c for c in cids if c not in held]
    if n_val >= len(rest):
        raise DataError(f"data.val_conversations={n_val} leaves no training conversation ({len(rest)} outside the fold)")
    return {"train": rest[n_val:], "val": rest[:n_val], "test": test}


def run_folds(run: RunConfig) -> list[int | None]:
    """The folds a run covers: [None] for a random split, else the held-out fold index(es)."""
    data = run.data
    if data.source != "locomo":
        return [None]
    return list(range(data.folds)) if data.fold == "all" else [int(data.fold)]


def _progress(desc: str, total: int) -> tuple[Progress, Any]:
    bar = Progress(transient=False)
    return bar, bar.add_task(desc, total=total)


@dataclass
class PipelineData:
    conversations: dict[str, Conversation]
    queries: dict[str, list[Query]]  # split -> the queries it trains or evaluates on
    splits: dict[str, list[str]]
    datasets: dict[str, Any]  # split -> samples dataset
    stats: dict[str, Any]
    query_key: str  # identifies the conversations, topics and queries (the artifacts' chained key)


@dataclass
class ExtraSet:
    """One ``eval.extra`` file as a test set: every conversation it holds, with its questions."""

    name: str  # the file's name, numbered when two files share one: its key under "extra" in results.json
    path: str
    data: EvalSet
    key: str  # the file's content and the categories evaluated: the source key of its base-model vectors


def extra_sets(run: RunConfig) -> list[ExtraSet]:
    """``eval.extra``: each LoCoMo-format file read by the LoCoMo loader, its questions of the evaluated categories
    (``data.eval_categories`` on LoCoMo data, else the paper's 1-4) over all its conversations, in the run's passage
    template. Read before any training, so a malformed file stops the run at once, naming its ``eval.extra`` entry."""
    from hins.locomo import DEFAULT_CATEGORIES, LocomoFormatError, load_locomo, locomo_eval_set

    categories = list(run.data.eval_categories if run.data.source == "locomo" else DEFAULT_CATEGORIES)
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
        out.append(ExtraSet(name, str(path), data, config_key("extra", sha256_file(Path(path)), categories)))
    return out


class Pipeline:
    def __init__(self, cfg: DictConfig, run: RunConfig, output_dir: str | Path):
        self.cfg = cfg
        self.run = run
        self.store = ArtifactStore(cfg.paths.cache_dir)
        self.out = Path(output_dir)
        self.out.mkdir(parents=True, exist_ok=True)

    # ---- stages 1-4: conversations and their raw queries (synthesised, or read from a LoCoMo-format file) ----
    def conversations(self) -> tuple[str, dict[str, Conversation], list[Query], dict[str, Any]]:
        def load(path: Path) -> tuple[dict[str, Conversation], list[Query], dict[str, Any]]:
            convs = [Conversation.from_dict(d) for d in read_jsonl(path / "conversations.jsonl")]
            queries = [Query.from_dict(d) for d in read_jsonl(path / "queries.jsonl")]
            return {c.cid: c for c in convs}, queries, json.loads((path / "info.json").read_text())

        if self.run.data.source == "locomo":
            key, build = self._locomo_source()
        else:
            key, build = self._synthetic_source()
        convs, queries, info = self.store.get_or_build("conversations", key, build, load)
        return key, convs, queries, info

    def synthesis_jobs(self) -> list[tuple[str, Any, Any]]:
        """(conversation id, P1, P2) for every synthetic conversation."""
        personas = instantiate(self.cfg.personas, seed=self.run.seed)
        return [(f"c{i:06d}", *personas.pair(i)) for i in range(self.run.data.n_conversations)]

    def dry_run(self) -> dict[str, Any]:
        """What the LLM would be asked for on this config (see ``dry_run_of``); nothing is sent: the LLM backend's
        synthesis, or the LLM's queries for the source's conversations (read or built offline first)."""
        if dry_run_of(self.cfg, self.run) == "synthesis":
            estimate = instantiate(self.cfg.synthesis, seed=self.run.seed).estimate(self.synthesis_jobs())
            if self.run.queries.source == "llm":
                estimate["note"] += ("; queries=llm asks for topics and queries once more per conversation, on top: "
                                     "about the topics and queries calls and tokens above again")
        else:
            from hins.synthesis.llm import LLMQueries

            _, convs, _, _ = self.conversations()
            estimate = LLMQueries(**self.run.queries.model_dump()).estimate(list(convs.values()))
        write_json(self.out / "dry_run.json", estimate)
        return estimate

    def _synthetic_source(self) -> tuple[str, Any]:
        n = self.run.data.n_conversations
        key = config_key("conversations", group_key(_plain(self.cfg.personas)), group_key(_plain(self.cfg.synthesis)),
                         n, self.run.seed)

        def build(tmp: Path) -> dict[str, Any]:
            from hins.synthesis.procedural import diversity_report

            synth = instantiate(self.cfg.synthesis, seed=self.run.seed)
            info: dict[str, Any] = {}
            if hasattr(synth, "synthesize"):  # batch backends (LLM) run the conversations concurrently
                convs, queries, info["synthesis"] = synth.synthesize(self.synthesis_jobs())
            else:
                convs, queries = [], []
                bar, task = _progress("synthesising conversations", n)
                with bar:
                    for cid, p1, p2 in self.synthesis_jobs():
                        conv = synth.conversation(cid, p1, p2)
                        convs.append(conv)
                        queries += synth.queries(conv)
                        bar.advance(task)
            write_jsonl(tmp / "conversations.jsonl", [c.to_dict() for c in convs])
            write_jsonl(tmp / "queries.jsonl", [q.to_dict() for q in queries])
            write_json(tmp / "info.json", {"diversity": diversity_report(convs, queries), **info})
            return {"n_conversations": len(convs)}

        return key, build

    def _locomo_source(self) -> tuple[str, Any]:
        from hins.locomo import CATEGORIES, load_locomo

        data = self.run.data
        path = Path(data.path)
        digest = sha256_file(path) if path.is_file() else str(path)
        wanted = set(data.train_categories) | set(data.eval_categories)
        key = config_key("conversations", "locomo", digest, sorted(wanted), sorted(data.train_queries))

        def build(tmp: Path) -> dict[str, Any]:
            corpus = load_locomo(path)
            queries = [q for q in corpus.questions if corpus.categories[q.qid] in wanted]
            if "observation" in data.train_queries:
                queries += corpus.observations
            write_jsonl(tmp / "conversations.jsonl", [c.to_dict() for c in corpus.conversations])
            write_jsonl(tmp / "queries.jsonl", [q.to_dict() for q in queries])
            write_json(tmp / "info.json", {"source": str(path), "loader": corpus.stats,
                                           "categories": {CATEGORIES.get(c, f"unknown {c}"): n
                                                          for c, n in sorted(corpus.qa_in_file.items())}})
            return {"source": str(path)}

        return key, build

    # ---- stage 5: topics ----
    def topics(self, conv_key: str, convs: dict[str, Conversation], embedder: Embedder | None) -> tuple[str, dict[str, list[str]], dict]:
        topics_cfg = _plain(self.cfg.topics)
        uses_model = self.run.topics.uses_model
        key = config_key("topics", conv_key, group_key(topics_cfg, drop=("method", "features")),
                         self.model_key() if uses_model else None)

        def build(tmp: Path) -> None:
            method = instantiate({k: v for k, v in topics_cfg.items() if k not in ("method", "features")})
            embed = None
            if method.needs_embeddings:
                embed = tfidf_embed if not uses_model else (lambda texts: embedder.encode(texts, "passage"))  # type: ignore[union-attr]
            if hasattr(method, "assign_all"):  # batch methods (LLM) show their own progress
                result = assign_topics(list(convs.values()), method, embed)
            else:
                bar, task = _progress(f"topics ({topics_cfg['method']})", len(convs))
                with bar:
                    result = assign_topics(list(convs.values()), method, embed, lambda k: bar.advance(task, k))
            write_json(tmp / "labels.json", result.labels)
            write_json(tmp / "stats.json", {"method": topics_cfg["method"], "ari_vs_ground_truth": result.ari,
                                            "mean_topics_per_conversation": result.mean_topics,
                                            **result.method_stats})

        def load(path: Path) -> tuple[dict[str, list[str]], dict]:
            return json.loads((path / "labels.json").read_text()), json.loads((path / "stats.json").read_text())

        labels, stats = self.store.get_or_build("topics", key, build, load)
        return key, labels, stats

    # ---- stage 6: queries with calibrated evidence ----
    def queries(self, topic_key: str, convs: dict[str, Conversation], raw: list[Query],
                labels: dict[str, list[str]]) -> tuple[str, list[Query], dict]:
        """The source's queries calibrated to the evidence range; with ``queries=llm``, the LLM's training
        queries for every conversation beside the source's own (see ``_llm_queries``)."""
        q_cfg = self.run.queries
        if q_cfg.source == "llm":  # what shapes the LLM's answers; no secret, no transport setting
            key = config_key("queries", topic_key, q_cfg.answer_settings())
        else:
            key = config_key("queries", topic_key, q_cfg.model_dump(exclude={"source"}))

        def build(tmp: Path) -> None:
            if q_cfg.source == "llm":
                kept, stats = self._llm_queries(convs, raw, labels)
            else:
                kept, calibrated = calibrate(raw, convs, labels, q_cfg.evidence_min, q_cfg.evidence_max)
                stats = calibrated.to_dict()
            write_jsonl(tmp / "queries.jsonl", [q.to_dict() for q in kept])
            write_json(tmp / "stats.json", stats)

        def load(path: Path) -> tuple[list[Query], dict]:
            return ([Query.from_dict(d) for d in read_jsonl(path / "queries.jsonl")],
                    json.loads((path / "stats.json").read_text()))

        queries, stats = self.store.get_or_build("queries", key, build, load)
        return key, queries, stats

    def _llm_queries(self, convs: dict[str, Conversation], raw: list[Query],
                     labels: dict[str, list[str]]) -> tuple[list[Query], dict[str, Any]]:
        """``queries=llm``: the LLM writes 2+2+2 queries for every conversation (all of them: each fold trains
        on others, and the artifact serves every fold), calibrated like any source's. The stats count them
        from the queries asked for: ``generated`` = 6 per conversation, ``dropped`` by reason (the LLM's
        invalid answers, then the calibration's), ``llm`` = calls, repairs, tokens and cost. The source's own
        queries are kept beside them, as the source gives them (only those without valid evidence dropped;
        ``source_queries``): they are the evaluation queries of the held-out split."""
        from hins.synthesis.llm import LLMQueries  # the offline path never loads the LLM client

        q_cfg = self.run.queries
        generated, llm_stats = LLMQueries(**q_cfg.model_dump()).generate(list(convs.values()))
        kept, stats = calibrate(generated, convs, labels, q_cfg.evidence_min, q_cfg.evidence_max)
        for reason, n in llm_stats["lost_queries"].items():
            stats.dropped[reason] = n
            stats.generated += n
        longest = max(len(c.messages) for c in convs.values())
        own, own_stats = calibrate(raw, convs, labels, 1, longest)
        log.info("queries: %d of %d LLM queries kept (dropped: %s); %d of the source's own kept for evaluation",
                 stats.kept, stats.generated, stats.dropped or "none", own_stats.kept)
        return own + kept, {"source": "llm", **stats.to_dict(), "llm": llm_stats, "source_queries": own_stats.to_dict()}

    # ---- stages 7-8: hierarchical negatives and samples, per split ----
    def negatives(self, query_key: str, convs: dict[str, Conversation], queries: dict[str, list[Query]],
                  labels: dict[str, list[str]], splits: dict[str, list[str]],
                  embedder: Embedder | None = None) -> tuple[dict[str, Any], dict]:
        """Samples for each split, from that split's queries; easy negatives come from the same split only.
        The ``mined`` baseline ranks candidates with ``embedder`` (the untuned base model); ``ratios: calibrated``
        draws every split by the ratios measured on the training split alone (``calibration``), recorded in the
        stats beside the effective ratios."""
        neg = self.run.negatives
        if neg.uses_model and embedder is None:
            raise ValueError(f"negatives (strategy={neg.strategy}, ratios={neg.ratios}) need the base model; it is "
                             "not loaded")
        calibration = None
        if neg.calibrated:
            calibration = self.calibration(query_key, convs, queries["train"], labels, splits["train"],
                                           embedder)  # type: ignore[arg-type]
        spec = neg.spec({t: calibration["tiers"][t]["share"] for t in TIERS} if calibration else None)
        mined = spec.strategy == "mined"
        key = config_key("negatives", query_key, neg.model_dump(), splits,
                         {q: [x.qid for x in v] for q, v in queries.items()}, self.run.data.passage_template,
                         self.run.seed, self.model_key() if mined else None, spec.ratios)

        def build(tmp: Path) -> None:
            stats: dict[str, Any] = {"effective_ratios": spec.effective_ratios()}
            if calibration is not None:
                stats["calibration"] = calibration
            for split, cids in splits.items():
                if not cids:
                    continue
                split_convs = {c: convs[c] for c in cids}
                ranker = self.base_ranker(query_key, list(split_convs.values()), queries[split],
                                          embedder) if mined else None  # type: ignore[arg-type]
                samples, st = build_samples(split_convs, queries[split], labels, spec, self.run.seed, cids, ranker)
                stats[split] = st.to_dict()
                if not samples:
                    if split == "train":
                        hint = (": the base model scores fewer than K candidates negatives.mine_margin below the "
                                "positive; lower negatives.mine_margin" if mined else "")
                        raise DataError(f"negatives: no training sample survived ({st.dropped_samples} dropped, "
                                         f"{len(queries[split])} queries; strategy={spec.strategy}, "
                                         f"shortfall={spec.shortfall}){hint}: {st.to_dict()}")
                    continue  # an evaluated split without samples only loses its tier win rates
                ds.save(ds.to_dataset(samples, split_convs, self.run.data.passage_template), tmp / split)
            write_json(tmp / "stats.json", stats)

        def load(path: Path) -> tuple[dict[str, Any], dict]:
            data = {s: ds.load(path / s) for s in SPLITS if (path / s).exists()}
            return data, json.loads((path / "stats.json").read_text())

        datasets, stats = self.store.get_or_build("negatives", key, build, load)
        log.info("samples dataset: %s", self.store.path("negatives", key))
        return datasets, stats

    def calibration(self, query_key: str, convs: dict[str, Conversation], queries: Sequence[Query],
                    labels: dict[str, list[str]], cids: Sequence[str], embedder: Embedder, top_n: int | None = None,
                    pool: str = "group", n_boot: int = BOOTSTRAP) -> dict[str, Any]:
        """The tier mix of the base model's top ``top_n`` (default negatives.k) distractors of ``queries`` over the
        conversations ``cids`` alone (hins.calibrate.measure): for ``negatives.ratios=calibrated`` the training
        split's queries and conversations, so nothing of a held-out conversation shapes the ratio its fold trains
        with. Cached per (data, model, conversations, queries, settings)."""
        neg = self.run.negatives
        top_n = top_n or neg.k
        if not queries:
            raise DataError(f"calibration: no training query in the {len(cids)} training conversations (check "
                            "data.train_categories / data.train_queries / queries.evidence_min)")
        key = config_key("calibration", query_key, *self.model_key(), list(cids), [q.qid for q in queries],
                         self.run.data.passage_template, top_n, pool, neg.group_size, n_boot, self.run.seed)

        def build(tmp: Path) -> None:
            split = {c: convs[c] for c in cids}
            ranker = self.base_ranker(query_key, list(split.values()), queries, embedder)
            write_json(tmp / "calibration.json", measure(ranker, split, queries, labels, top_n, neg.group_size, pool,
                                                         n_boot, self.run.seed))

        result = self.store.get_or_build("calibration", key, build,
                                         lambda path: json.loads((path / "calibration.json").read_text()))
        log.info("calibration on %d training conversations (%d queries): negatives.ratios=%s", len(cids),
                 len(queries), result["ratio"])
        return result

    def splits(self, cids: list[str], fold: int | None) -> dict[str, list[str]]:
        data = self.run.data
        if fold is None:
            return split_conversations(cids, data.split.model_dump(), self.run.seed)
        return fold_split(cids, data.folds, fold, data.val_conversations)

    def split_queries(self, queries: list[Query], splits: dict[str, list[str]]) -> dict[str, list[Query]]:
        """Training splits (train, val) get the training queries; the evaluated split (test) the evaluation queries.

        Synthetic data: all of its queries in every split. LoCoMo: QA questions of ``data.train_categories``
        and/or observations train, QA questions of ``data.eval_categories`` evaluate. ``queries=llm`` (any
        source): the LLM's queries train and the source's own evaluate; ``data.train_queries`` is then unused.
        """
        data = self.run.data
        train_kinds = eval_kinds = None
        if data.source == "locomo":
            from hins.locomo import CATEGORIES

            eval_kinds = {CATEGORIES[c] for c in data.eval_categories}
            train_kinds = {CATEGORIES[c] for c in data.train_categories} if "qa" in data.train_queries else set()
            if "observation" in data.train_queries:
                train_kinds.add("observation")
        llm = self.run.queries.source == "llm"

        def wanted(q: Query, split: str) -> bool:
            if split == "test":
                return not is_llm_query(q) and (eval_kinds is None or q.kind in eval_kinds)
            if llm:
                return is_llm_query(q)
            return train_kinds is None or q.kind in train_kinds

        out = {}
        for split, cids in splits.items():
            members = set(cids)
            out[split] = [q for q in queries if q.cid in members and wanted(q, split)]
        return out

    def prepare(self, embedder: Embedder | None, fold: int | None = None) -> PipelineData:
        conv_key, convs, raw_queries, info = self.conversations()
        topic_key, labels, topic_stats = self.topics(conv_key, convs, embedder)
        query_key, queries, query_stats = self.queries(topic_key, convs, raw_queries, labels)
        splits = self.splits(list(convs), fold)
        per_split = self.split_queries(queries, splits)
        if self.run.stop_after == "train":
            self.check_evaluable(splits, per_split, fold)
        datasets, neg_stats = self.negatives(query_key, convs, per_split, labels, splits, embedder)
        stats = {"source": info, "topics": topic_stats, "queries": query_stats, "negatives": neg_stats,
                 "splits": splits if fold is not None else {s: len(c) for s, c in splits.items()},
                 "samples": {s: len(d) for s, d in datasets.items()}}
        write_json(self.out / "data_stats.json", stats)
        return PipelineData(convs, per_split, splits, datasets, stats, query_key)

    def check_evaluable(self, splits: dict[str, list[str]], queries: dict[str, list[Query]], fold: int | None) -> None:
        """A trained run scores the evaluated split's questions and chooses its checkpoint on the validation split's:
        a split of conversations without one would train and then have no result, so stop before training."""
        data = self.run.data
        for split in dict.fromkeys((self.run.eval.split, "val")):
            if not splits[split] or queries[split]:
                continue
            evaluated = split == self.run.eval.split
            what = "to evaluate" if evaluated else "to choose the checkpoint on"
            where = "synthetic data"
            if data.source == "locomo":
                where = f"{data.path}: fold {fold}"
                what += (f" (QA questions of data.eval_categories={data.eval_categories} with evidence in them: is "
                         "every `qa` empty, or every evidence id dangling?)" if evaluated else
                         f" (data.train_queries={data.train_queries}; data.val_conversations=0 keeps the last one)")
            shown = ", ".join(splits[split][:5]) + (", ..." if len(splits[split]) > 5 else "")
            raise DataError(f"{where}: the {split} split ({shown}) holds no question {what}; nothing was trained")

    def eval_set(self, data: PipelineData, split: str) -> EvalSet:
        members = set(data.splits[split])
        if not members:
            key = "data.val_conversations" if self.run.data.source == "locomo" else f"data.split.{split}"
            raise DataError(f"eval.split={split} holds no conversation: raise {key}")
        return EvalSet(
            conversations=[data.conversations[c] for c in data.splits[split]],
            queries=data.queries[split],
            template=self.run.data.passage_template,
            samples=data.datasets.get(split),
        )

    def model_key(self) -> list[Any]:
        """The base model in an artifact key: its settings (the loss temperature aside, and a directory's path: its
        content counts), what its weights are (``model_identity``: a directory's files by hash, a package's version,
        a Hub revision), and the seed where the seed draws its weights (model.source=random)."""
        model = self.run.model
        settings = model.model_dump(exclude={"temperature", *(("path",) if model.source == "dir" else ())})
        return [settings, model_identity(model.source, model.name, model.path),
                self.run.seed if model.source == "random" else None]

    def base_vectors(self, source_key: str, conversations: Sequence[Conversation], queries: Sequence[Query],
                     embedder: Embedder) -> EvalVectors:
        """The base model's unit vectors of these messages and queries, encoded once per (model, data): the untuned
        evaluation, the mined baseline and calibration of every job of a sweep share them (the seed matters only
        to a randomly initialised model)."""
        run = self.run
        key = config_key("base_vectors", source_key, *self.model_key(), [c.cid for c in conversations],
                         [q.qid for q in queries], run.data.passage_template)

        def build(tmp: Path) -> None:
            vecs = embed(embedder, EvalSet(conversations, queries, run.data.passage_template), run.eval.batch_size)
            np.save(tmp / "passages.npy", vecs.passages)
            np.save(tmp / "queries.npy", vecs.queries)
            write_json(tmp / "keys.json", vecs.keys)

        def load(path: Path) -> EvalVectors:
            return EvalVectors(json.loads((path / "keys.json").read_text()), np.load(path / "passages.npy"),
                               np.load(path / "queries.npy"))

        return self.store.get_or_build("base_vectors", key, build, load)

    def base_ranker(self, source_key: str, conversations: Sequence[Conversation], queries: Sequence[Query],
                    embedder: Embedder) -> Ranker:
        """The base model's ranking of messages for queries, for mining and calibration."""
        vecs = self.base_vectors(source_key, conversations, queries, embedder)
        refs = [(c.cid, m.mid) for c in conversations for m in c.messages]
        return Ranker(dict(zip(refs, vecs.passages)), {q.qid: v for q, v in zip(queries, vecs.queries)})


def load_model(run: RunConfig) -> Embedder:
    spec = ModelSpec(**{**run.model.model_dump(exclude={"temperature"}), "seed": run.seed})
    return load_embedder(spec)


def dry_run_of(cfg: DictConfig, run: RunConfig) -> str | None:
    """Which LLM work a dry run costs instead of running: "synthesis" (``synthesis.dry_run``, synthetic data),
    "queries" (``queries.dry_run`` with ``queries=llm``), or None for a real run."""
    if run.data.source == "synthetic" and cfg.synthesis.get("dry_run"):
        return "synthesis"
    return "queries" if getattr(run.queries, "dry_run", False) else None


def run_pipeline(cfg: DictConfig, run: RunConfig, output_dir: str | Path) -> dict[str, Any]:
    """The whole pipeline; returns (and writes) the untuned and trained results side by side.

    With LoCoMo folds and ``data.fold=all``, every fold trains a fresh copy of the base model on the
    other folds; the report pools the per-question results of all folds (each question is evaluated
    exactly once) and gives the spread of the fold means.
    """
    if dry_run_of(cfg, run) is not None:
        estimate = Pipeline(cfg, run, output_dir).dry_run()
        print(f"Dry run (nothing sent): {estimate['total_calls']:,} calls, ~{estimate['total_input_tokens']:,} input "
              f"and ~{estimate['total_output_tokens']:,} output tokens, ~${estimate['cost_usd']:,.2f}; "
              f"per step in {Path(output_dir) / 'dry_run.json'}")
        return {"name": run.name, "dry_run": estimate, "results": None}
    needs_model = run.stop_after != "data" or run.topics.uses_model or run.negatives.uses_model
    # The model loads first, so one that cannot load stops the run before any work.
    embedder = load_model(run) if needs_model else None
    out = Path(output_dir)
    from hins.disk import log_estimate

    log_estimate(run, cfg.paths.cache_dir, out, embedder)
    extras = extra_sets(run) if run.stop_after != "data" else []
    folds = run_folds(run)
    pipes = {f: Pipeline(cfg, run, out if len(folds) == 1 else out / f"fold_{f}") for f in folds}
    # Every fold's data before any fold trains: a fold that cannot be evaluated stops the run first.
    prepared = {f: pipe.prepare(embedder, f) for f, pipe in pipes.items()}
    if len(folds) == 1:
        return _run_one(pipes[folds[0]], prepared[folds[0]], embedder, folds[0], extras)
    summaries = [_run_one(pipes[f], prepared[f], embedder, f, extras) for f in folds]
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


def _run_one(pipe: Pipeline, data: PipelineData, embedder: Embedder | None, fold: int | None,
             extras: Sequence[ExtraSet] = ()) -> dict[str, Any]:
    from hins.train import finish_resume, fit  # Lightning is imported only when training

    cfg, run, out = pipe.cfg, pipe.run, pipe.out
    log.info("fold %s: samples per split: %s", fold, data.stats["samples"])
    if run.stop_after == "data" or embedder is None:
        print(f"Data built (stop_after=data): {data.stats['samples']} samples; stats in {out / 'data_stats.json'}")
        return {"name": run.name, "data": data.stats["samples"], "results": None}
    test = pipe.eval_set(data, run.eval.split)
    val = pipe.eval_set(data, "val") if data.splits["val"] else None

    def score(model: Embedder, eval_set: EvalSet) -> dict[str, Any]:
        return evaluate(model, eval_set, run.eval.ks, run.eval.ndcg_k, run.eval.batch_size)

    untuned = pipe.base_vectors(data.query_key, test.conversations, test.queries, embedder)
    results = {"untuned": score_vectors(untuned, test, run.eval.ks, run.eval.ndcg_k)}
    log.info("untuned %s: %s", run.eval.split, _brief(results["untuned"]))
    trained, train_info = fit(cfg, run, embedder, data.datasets["train"],
                              (lambda m: _val_metrics(score(m, val))) if val else None, out,
                              resume_dir(cfg, run, data.query_key, fold))
    results["trained"] = score(trained, test)
    extra = {x.name: {"path": x.path, "test_set": test_set_id(x.data), "results": {
        "untuned": score_vectors(pipe.base_vectors(x.key, x.data.conversations, x.data.queries, embedder), x.data,
                                 run.eval.ks, run.eval.ndcg_k),
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


def resume_dir(cfg: DictConfig, run: RunConfig, data_key: str, fold: int | None) -> Path | None:
    """Where a training run keeps its checkpoints until its results are written: one directory per config,
    data and fold, so the same command run again after a kill finds them (None: trainer.resume=false)."""
    if not run.trainer.resume:
        return None
    from hins.logging_utils import loggable_config

    what = {k: v for k, v in loggable_config(cfg).items() if k not in ("paths", "logger", "stop_after")}
    root = cfg.paths.get("train_state_dir") or Path(cfg.paths.cache_dir).parent / "train_state"
    return Path(root) / f"{run.name}-{config_key('training', what, data_key, fold, weights_identity(run))}"


def weights_identity(run: RunConfig) -> dict[str, Any]:
    """The base model's weights by content (``model_identity``), for keys of a whole run: new weights at the same
    ``model.path`` are another run (its resume directory, its finished-job record), not a finished or resumable one."""
    return model_identity(run.model.source, run.model.name, run.model.path)


def _val_metrics(result: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in result["overall"].items()}


def _brief(result: dict[str, Any]) -> str:
    return ", ".join(f"{k}={100 * v:.1f}" for k, v in result["overall"].items())



