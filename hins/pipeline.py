"""The HiNS pipeline, stage by stage, each stage's output cached on disk under its config key.

personas → events/briefs/conversations → topics → queries → hierarchical negatives → samples
→ contrastive training → evaluation (untuned beside trained).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.progress import Progress

from hins import dataset as ds
from hins.artifacts import ArtifactStore, config_key, read_jsonl, write_json, write_jsonl
from hins.config import RunConfig
from hins.evaluate import EvalSet, comparison_table, evaluate
from hins.model import Embedder, ModelSpec, load_embedder
from hins.negatives import NegativeSpec, build_samples
from hins.queries import calibrate
from hins.records import Conversation, Query
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
        raise ValueError(f"data.split leaves no training conversation out of {len(cids)}")
    return out


def _progress(desc: str, total: int) -> tuple[Progress, Any]:
    bar = Progress(transient=False)
    return bar, bar.add_task(desc, total=total)


@dataclass
class PipelineData:
    conversations: dict[str, Conversation]
    queries: list[Query]
    splits: dict[str, list[str]]
    datasets: dict[str, Any]  # split -> samples dataset
    stats: dict[str, Any]


class Pipeline:
    def __init__(self, cfg: DictConfig, run: RunConfig, output_dir: str | Path):
        self.cfg = cfg
        self.run = run
        self.store = ArtifactStore(cfg.paths.cache_dir)
        self.out = Path(output_dir)
        self.out.mkdir(parents=True, exist_ok=True)

    # ---- stages 1-4: personas, events, briefs, conversations (and the generator's queries) ----
    def conversations(self) -> tuple[str, dict[str, Conversation], list[Query], dict[str, Any]]:
        n = self.run.data.n_conversations
        key = config_key("conversations", _plain(self.cfg.personas), _plain(self.cfg.synthesis), n, self.run.seed)

        def build(tmp: Path) -> dict[str, Any]:
            personas = instantiate(self.cfg.personas, seed=self.run.seed)
            synth = instantiate(self.cfg.synthesis, seed=self.run.seed)
            convs, queries = [], []
            bar, task = _progress("synthesising conversations", n)
            with bar:
                for i in range(n):
                    p1, p2 = personas.pair(i)
                    conv = synth.conversation(f"c{i:06d}", p1, p2)
                    convs.append(conv)
                    queries += synth.queries(conv)
                    bar.advance(task)
            write_jsonl(tmp / "conversations.jsonl", [c.to_dict() for c in convs])
            write_jsonl(tmp / "queries.jsonl", [q.to_dict() for q in queries])
            from hins.synthesis.procedural import diversity_report

            write_json(tmp / "diversity.json", diversity_report(convs, queries))
            return {"n_conversations": n}

        def load(path: Path) -> tuple[dict[str, Conversation], list[Query], dict[str, Any]]:
            convs = [Conversation.from_dict(d) for d in read_jsonl(path / "conversations.jsonl")]
            queries = [Query.from_dict(d) for d in read_jsonl(path / "queries.jsonl")]
            return {c.cid: c for c in convs}, queries, json.loads((path / "diversity.json").read_text())

        convs, queries, diversity = self.store.get_or_build("conversations", key, build, load)
        return key, convs, queries, diversity

    # ---- stage 5: topics ----
    def topics(self, conv_key: str, convs: dict[str, Conversation], embedder: Embedder | None) -> tuple[str, dict[str, list[str]], dict]:
        topics_cfg = _plain(self.cfg.topics)
        uses_model = topics_cfg["method"] != "oracle" and topics_cfg.get("features", "model") == "model"
        key = config_key("topics", conv_key, topics_cfg, self.run.model.model_dump() if uses_model else None)

        def build(tmp: Path) -> None:
            method = instantiate({k: v for k, v in topics_cfg.items() if k not in ("method", "features")})
            embed = None
            if topics_cfg["method"] != "oracle":
                embed = tfidf_embed if not uses_model else (lambda texts: embedder.encode(texts, "passage"))  # type: ignore[union-attr]
            bar, task = _progress(f"topics ({topics_cfg['method']})", len(convs))
            with bar:
                result = assign_topics(list(convs.values()), method, embed, lambda k: bar.advance(task, k))
            write_json(tmp / "labels.json", result.labels)
            write_json(tmp / "stats.json", {"method": topics_cfg["method"], "ari_vs_ground_truth": result.ari,
                                            "mean_topics_per_conversation": result.mean_topics})

        def load(path: Path) -> tuple[dict[str, list[str]], dict]:
            return json.loads((path / "labels.json").read_text()), json.loads((path / "stats.json").read_text())

        labels, stats = self.store.get_or_build("topics", key, build, load)
        return key, labels, stats

    # ---- stage 6: queries with calibrated evidence ----
    def queries(self, topic_key: str, convs: dict[str, Conversation], raw: list[Query],
                labels: dict[str, list[str]]) -> tuple[str, list[Query], dict]:
        key = config_key("queries", topic_key, self.run.queries.model_dump())

        def build(tmp: Path) -> None:
            kept, stats = calibrate(raw, convs, labels, self.run.queries.evidence_min, self.run.queries.evidence_max)
            write_jsonl(tmp / "queries.jsonl", [q.to_dict() for q in kept])
            write_json(tmp / "stats.json", stats.to_dict())

        def load(path: Path) -> tuple[list[Query], dict]:
            return ([Query.from_dict(d) for d in read_jsonl(path / "queries.jsonl")],
                    json.loads((path / "stats.json").read_text()))

        queries, stats = self.store.get_or_build("queries", key, build, load)
        return key, queries, stats

    # ---- stages 7-8: hierarchical negatives and samples, per split ----
    def negatives(self, query_key: str, convs: dict[str, Conversation], queries: list[Query],
                  labels: dict[str, list[str]], splits: dict[str, list[str]]) -> tuple[dict[str, Any], dict]:
        neg = self.run.negatives
        spec = NegativeSpec(k=neg.k, ratios=dict(neg.ratios), tiers=tuple(neg.tiers), strategy=neg.strategy,
                            pool_caps=dict(neg.pool_caps), medium_rule=neg.medium_rule, shortfall=neg.shortfall,
                            backfill_order=tuple(neg.backfill_order), group_size=neg.group_size)
        key = config_key("negatives", query_key, neg.model_dump(), self.run.data.split.model_dump(),
                         self.run.data.passage_template, self.run.seed)

        def build(tmp: Path) -> None:
            stats: dict[str, Any] = {"effective_ratios": spec.effective_ratios()}
            for split, cids in splits.items():
                if not cids:
                    continue
                members = set(cids)
                split_convs = {c: convs[c] for c in cids}
                split_queries = [q for q in queries if q.cid in members]
                samples, st = build_samples(split_convs, split_queries, labels, spec, self.run.seed, cids)
                ds.save(ds.to_dataset(samples, split_convs, self.run.data.passage_template), tmp / split)
                stats[split] = st.to_dict()
            write_json(tmp / "stats.json", stats)

        def load(path: Path) -> tuple[dict[str, Any], dict]:
            data = {s: ds.load(path / s) for s in SPLITS if (path / s).exists()}
            return data, json.loads((path / "stats.json").read_text())

        datasets, stats = self.store.get_or_build("negatives", key, build, load)
        log.info("samples dataset: %s", self.store.path("negatives", key))
        return datasets, stats

    def prepare(self, embedder: Embedder | None) -> PipelineData:
        conv_key, convs, raw_queries, diversity = self.conversations()
        topic_key, labels, topic_stats = self.topics(conv_key, convs, embedder)
        query_key, queries, query_stats = self.queries(topic_key, convs, raw_queries, labels)
        splits = split_conversations(list(convs), self.run.data.split.model_dump(), self.run.seed)
        datasets, neg_stats = self.negatives(query_key, convs, queries, labels, splits)
        stats = {"diversity": diversity, "topics": topic_stats, "queries": query_stats, "negatives": neg_stats,
                 "splits": {s: len(c) for s, c in splits.items()},
                 "samples": {s: len(d) for s, d in datasets.items()}}
        write_json(self.out / "data_stats.json", stats)
        return PipelineData(convs, queries, splits, datasets, stats)

    def eval_set(self, data: PipelineData, split: str) -> EvalSet:
        members = set(data.splits[split])
        if not members:
            raise ValueError(f"eval.split={split} holds no conversation: raise data.split.{split}")
        return EvalSet(
            conversations=[data.conversations[c] for c in data.splits[split]],
            queries=[q for q in data.queries if q.cid in members],
            template=self.run.data.passage_template,
            samples=data.datasets.get(split),
        )


def load_model(run: RunConfig) -> Embedder:
    spec = ModelSpec(**{**run.model.model_dump(exclude={"temperature"}), "seed": run.seed})
    return load_embedder(spec)


def run_pipeline(cfg: DictConfig, run: RunConfig, output_dir: str | Path) -> dict[str, Any]:
    """The whole pipeline; returns (and writes) the untuned and trained results side by side."""
    from hins.train import fit  # Lightning is imported only when training

    needs_model = run.stop_after != "data" or (run.topics.method != "oracle" and run.topics.features == "model")
    # The model loads first, so one that cannot load stops the run before any work.
    embedder = load_model(run) if needs_model else None
    pipe = Pipeline(cfg, run, output_dir)
    data = pipe.prepare(embedder)
    log.info("samples per split: %s", data.stats["samples"])
    if run.stop_after == "data":
        print(f"Data built (stop_after=data): {data.stats['samples']} samples; stats in {pipe.out / 'data_stats.json'}")
        return {"name": run.name, "data": data.stats["samples"], "results": None}
    test = pipe.eval_set(data, run.eval.split)
    val = pipe.eval_set(data, "val") if data.splits["val"] else None

    def score(model: Embedder, eval_set: EvalSet) -> dict[str, Any]:
        return evaluate(model, eval_set, run.eval.ks, run.eval.ndcg_k, run.eval.batch_size)

    results = {"untuned": score(embedder, test)}
    log.info("untuned %s: %s", run.eval.split, _brief(results["untuned"]))
    trained, train_info = fit(cfg, run, embedder, data.datasets["train"],
                              (lambda m: _val_metrics(score(m, val))) if val else None, pipe.out)
    results["trained"] = score(trained, test)
    log.info("trained %s: %s", run.eval.split, _brief(results["trained"]))
    table = comparison_table(results)
    summary = {"name": run.name, "eval_split": run.eval.split, "results": results, "training": train_info,
               "data": data.stats["samples"]}
    write_json(pipe.out / "results.json", summary)
    (pipe.out / "results.md").write_text(
        f"# {run.name}: held-out {run.eval.split} conversations ({results['trained']['n_queries']} queries)\n\n"
        f"Metrics in %.\n\n{table}\n")
    print(f"\nResults ({run.eval.split} split, %):\n{table}\n\nWritten to {pipe.out}")
    return summary


def _val_metrics(result: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in result["overall"].items()}


def _brief(result: dict[str, Any]) -> str:
    return ", ".join(f"{k}={100 * v:.1f}" for k, v in result["overall"].items())



