"""PersonaMem (Jiang et al. 2025, "Know Me, Respond to Me"): the paper's Table 2, multiple-choice accuracy.

The benchmark is two files per split (``32k``, ``128k``, ``1M``; the paper's evaluation used 32k, 589 questions):

* ``questions_{split}.csv``: one row per question, with (among others) ``persona_id``, ``question_id``,
  ``question_type``, ``topic``, ``shared_context_id``, ``end_index_in_shared_context``,
  ``user_question_or_message``, ``correct_answer`` (e.g. ``(c)``) and ``all_options`` (a Python-literal list of
  strings, e.g. ``['(a) ...', '(b) ...']``);
* ``shared_contexts_{split}.jsonl``: one JSON object per line, ``{context_id: [{"role", "content"}, ...]}``.

A question sees its shared context up to ``end_index_in_shared_context`` (exclusive, as the benchmark's own
inference code slices it). Those messages are the memory: the ``user`` and ``assistant`` ones are indexed
(``system`` messages carry the benchmark's persona preamble, not conversation), the top ``k`` are retrieved for the
question with an embedder, and an option is chosen either

* ``choose="llm"``: by an LLM given the retrieved memories (in conversation order) and the options (prompt
  hins/evaluation/prompts/personamem_choice.md), the evaluation the paper ran through MemoryOS and Mem0; or
* ``choose="embedding"``: offline, the option whose embedding is most similar to the sum of the question's and the
  retrieved memories' embeddings. This is a **retrieval-only proxy, not the paper's protocol**: it needs no LLM and
  moves with retrieval quality, but its accuracy is not comparable with Table 2.

Accuracy is reported per question type and in total; :func:`personamem_table` lays it out as Table 2.
"""

from __future__ import annotations

import ast
import csv
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ValidationInfo, field_validator

from hins.evaluation.eval_llm import EvalLLMConfig, ask_all, eval_llm_settings
from hins.core.hub import hub_unreachable
from hins.evaluation.metrics import rank_by_score

HUB_DATASET = "bowen-upenn/PersonaMem"
SPLITS = ("32k", "128k", "1M")
REQUIRED_COLUMNS = ("question_id", "question_type", "shared_context_id", "end_index_in_shared_context",
                    "user_question_or_message", "correct_answer", "all_options")
MEMORY_ROLES = ("user", "assistant")
LLM_KEY = "personamem.llm"
# Table 2's columns, in its order, by the benchmark's question_type names.
TABLE2_TYPES = {
    "provide_preference_aligned_recommendations": "Pref. Rec.",
    "recall_user_shared_facts": "Recall Facts",
    "suggest_new_ideas": "Suggest Ideas",
    "generalizing_to_new_scenarios": "Generalize",
    "recalling_the_reasons_behind_previous_updates": "Recall Reasons",
    "track_full_preference_evolution": "Track Pref.",
    "recalling_facts_mentioned_by_the_user": "Recall Mentioned",
}
_LABELLED = re.compile(r"^\s*\(([a-zA-Z])\)\s*(.*)$", re.DOTALL)
_ANSWER = re.compile(r"^\s*\(?\s*([a-zA-Z])\s*\)?\s*\.?\s*$")


class PersonaMemFormatError(ValueError):
    """A file is missing or not in PersonaMem's schema; the message names the file, the line and the column."""


class PersonaMemUnavailable(RuntimeError):
    """The files cannot be fetched from the Hub; the message says to pass local paths."""


class Encoder(Protocol):
    """What retrieval needs of a model (:class:`hins.training.model.Embedder` is one): unit vectors, one row per text."""

    def encode(self, texts: list[str], kind: str = ...) -> np.ndarray: ...


@dataclass(frozen=True)
class ChatMessage:
    role: str
    content: str


@dataclass(frozen=True)
class PMQuestion:
    qid: str
    persona_id: str
    qtype: str
    topic: str
    context_id: str
    end_index: int  # the question sees messages [0, end_index) of its shared context
    text: str  # user_question_or_message
    labels: tuple[str, ...]  # option letters, "a", "b", ...
    options: tuple[str, ...]  # option texts without their "(a) " label
    answer: str  # the correct option's letter


@dataclass
class PersonaMemData:
    questions: list[PMQuestion]
    contexts: dict[str, list[ChatMessage]]
    source: str = ""


# --------------------------------------------------------------------------------------------- loading


def _options(raw: str) -> list[str]:
    try:
        value = json.loads(raw)
    except ValueError:
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = None
    if not isinstance(value, list) or len(value) < 2 or not all(isinstance(o, str) for o in value):
        raise ValueError("a list of at least two option strings, e.g. \"['(a) ...', '(b) ...']\"")
    return value


def _labelled(options: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Letters from the options' own "(a) " prefixes where every option has one, else a, b, c, ... by position."""
    found = [_LABELLED.match(o) for o in options]
    if all(found):
        labels = tuple(m.group(1).lower() for m in found)  # type: ignore[union-attr]
        if len(set(labels)) == len(labels):
            return labels, tuple(m.group(2).strip() for m in found)  # type: ignore[union-attr]
    return tuple(chr(ord("a") + i) for i in range(len(options))), tuple(o.strip() for o in options)


def load_contexts(path: str | Path) -> dict[str, list[ChatMessage]]:
    """``shared_contexts_*.jsonl``: context id -> its messages."""
    path = Path(path)
    if not path.is_file():
        raise PersonaMemFormatError(f"{path}: no such file (the shared-contexts JSONL, e.g. shared_contexts_32k.jsonl)")
    contexts: dict[str, list[ChatMessage]] = {}
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path}: line {n}"
            try:
                obj = json.loads(line)
            except ValueError as err:
                raise PersonaMemFormatError(f"{where}: not JSON ({err})") from None
            if not isinstance(obj, dict) or len(obj) != 1:
                raise PersonaMemFormatError(f"{where}: expected one object {{context_id: [messages]}} per line")
            (cid, messages), = obj.items()
            if not isinstance(messages, list):
                raise PersonaMemFormatError(f"{where}: context {cid!r}: expected a list of messages")
            out = []
            for i, m in enumerate(messages):
                if not (isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)):
                    raise PersonaMemFormatError(f"{where}: context {cid!r}, message {i}: expected "
                                                "{\"role\": str, \"content\": str}")
                out.append(ChatMessage(m["role"], m["content"]))
            if cid in contexts:
                raise PersonaMemFormatError(f"{where}: context {cid!r} appears twice")
            contexts[cid] = out
    return contexts


def load_personamem(questions: str | Path, contexts: str | Path) -> PersonaMemData:
    """The questions CSV and the shared-contexts JSONL, checked against each other."""
    questions, all_contexts = Path(questions), load_contexts(contexts)
    if not questions.is_file():
        raise PersonaMemFormatError(f"{questions}: no such file (the questions CSV, e.g. questions_32k.csv)")
    out = []
    with questions.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise PersonaMemFormatError(f"{questions}: missing column(s) {missing}; the file has {reader.fieldnames}")
        for row in reader:
            where = f"{questions}: line {reader.line_num}"
            short = [c for c in REQUIRED_COLUMNS if row.get(c) is None]  # a row with fewer fields than the header
            if short:
                raise PersonaMemFormatError(f"{where}: no value for column(s) {short} (the row has fewer fields "
                                            "than the header)")
            out.append(_question(row, where, all_contexts))
    if not out:
        raise PersonaMemFormatError(f"{questions}: no questions")
    return PersonaMemData(questions=out, contexts=all_contexts, source=f"{questions} + {contexts}")


def _question(row: dict[str, str], where: str, contexts: Mapping[str, list[ChatMessage]]) -> PMQuestion:
    def bad(column: str, expected: str) -> PersonaMemFormatError:
        return PersonaMemFormatError(f"{where}: column {column!r}: expected {expected}, got {row[column]!r}")

    cid = row["shared_context_id"].strip()
    if cid not in contexts:
        raise bad("shared_context_id", "the id of a context in the shared-contexts file")
    try:
        end = int(row["end_index_in_shared_context"])
    except ValueError:
        raise bad("end_index_in_shared_context", "an integer") from None
    if not 0 <= end <= len(contexts[cid]):
        raise bad("end_index_in_shared_context", f"0 to {len(contexts[cid])} (the context's length)")
    try:
        labels, options = _labelled(_options(row["all_options"]))
    except ValueError as err:
        raise bad("all_options", str(err)) from None
    m = _ANSWER.match(row["correct_answer"])
    if m is None or m.group(1).lower() not in labels:
        raise bad("correct_answer", f"one of the option letters {', '.join(f'({x})' for x in labels)}")
    return PMQuestion(qid=row["question_id"].strip(), persona_id=(row.get("persona_id") or "").strip(),
                      qtype=row["question_type"].strip(), topic=(row.get("topic") or "").strip(), context_id=cid,
                      end_index=end, text=row["user_question_or_message"], labels=labels, options=options,
                      answer=m.group(1).lower())


def fetch_personamem(split: str = "32k") -> tuple[Path, Path]:
    """Download the split's questions CSV and shared-contexts JSONL from the Hub (cached by huggingface_hub)."""
    if split not in SPLITS:
        raise ValueError(f"PersonaMem split must be one of {SPLITS}, got {split!r}")
    names = (f"questions_{split}.csv", f"shared_contexts_{split}.jsonl")
    local = ("load_personamem(questions=..., contexts=...) with the local paths of "
             f"{names[0]} and {names[1]} (from https://huggingface.co/datasets/{HUB_DATASET})")
    reason = hub_unreachable()
    if reason is not None:
        raise PersonaMemUnavailable(f"PersonaMem is on the Hugging Face Hub and {reason}: call {local}")
    from huggingface_hub import hf_hub_download

    try:
        q, c = (hf_hub_download(HUB_DATASET, name, repo_type="dataset") for name in names)
    except Exception as err:  # network, auth and missing-file errors alike: the remedy is the same
        raise PersonaMemUnavailable(f"downloading PersonaMem {split} failed ({type(err).__name__}: {err}); "
                                    f"call {local}") from err
    return Path(q), Path(c)


# --------------------------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class PMItem:
    qid: str
    qtype: str
    retrieved: tuple[int, ...]  # indices in the shared context, in rank order
    chosen: str | None  # None: the LLM's answers stayed invalid (counted wrong)
    answer: str

    @property
    def correct(self) -> bool:
        return self.chosen == self.answer


@dataclass(frozen=True)
class Accuracy:
    n: int
    correct: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0


@dataclass
class PersonaMemResult:
    mode: str  # "llm", or "embedding" (the retrieval-only proxy)
    k: int
    by_type: dict[str, Accuracy]
    total: Accuracy
    items: list[PMItem]
    llm: dict[str, Any] | None = None  # model, invalid / repaired / dropped answers, token usage and cost

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["accuracy"] = {t: a.accuracy for t, a in self.by_type.items()} | {"total": self.total.accuracy}
        return out


class _Choice(BaseModel):
    choice: str

    @field_validator("choice")
    @classmethod
    def _letter(cls, v: str, info: ValidationInfo) -> str:
        labels = (info.context or {}).get("labels", ())
        m = _ANSWER.match(v)
        if m is None or m.group(1).lower() not in labels:
            raise ValueError(f"must be the letter of one option ({', '.join(labels)}), got {v!r}")
        return m.group(1).lower()


def _memory_text(m: ChatMessage) -> str:
    """The message with its speaker: the benchmark's messages mostly say it already ("User: ...")."""
    return m.content if m.content.lower().startswith(f"{m.role}:") else f"{m.role}: {m.content}"


def _retrieve(data: PersonaMemData, encoder: Encoder, k: int
              ) -> tuple[list[list[int]], dict[str, np.ndarray], np.ndarray]:
    """Top-k memory indices per question, among the memory messages before its end index, in rank order; with
    the vectors of every context's messages and of the questions."""
    vectors = {cid: encoder.encode([_memory_text(m) for m in data.contexts[cid]], kind="passage")
               for cid in dict.fromkeys(q.context_id for q in data.questions)}
    qvecs = encoder.encode([q.text for q in data.questions], kind="query")
    retrieved = []
    for q, qv in zip(data.questions, qvecs):
        msgs = data.contexts[q.context_id]
        candidates = [i for i in range(q.end_index) if msgs[i].role in MEMORY_ROLES]
        scores = vectors[q.context_id][candidates] @ qv
        retrieved.append([candidates[j] for j in rank_by_score(scores)[:k]])
    return retrieved, vectors, qvecs


def evaluate_personamem(data: PersonaMemData, encoder: Encoder, k: int,
                        choose: Literal["embedding", "llm"] = "embedding",
                        llm: EvalLLMConfig | Mapping[str, Any] | None = None, llm_key: str = LLM_KEY
                        ) -> PersonaMemResult:
    """Retrieve ``k`` memories per question with ``encoder`` and choose an option (see the module docstring)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if choose not in ("embedding", "llm"):
        raise ValueError(f"choose must be 'embedding' or 'llm', got {choose!r}")
    settings = eval_llm_settings(llm, llm_key) if choose == "llm" else None  # refuse before any encoding
    retrieved, vectors, qvecs = _retrieve(data, encoder, k)
    stats = None
    if settings is not None:
        inputs = [{"message": q.text,
                   "memories": [f"[{i}] {_memory_text(data.contexts[q.context_id][i])}" for i in sorted(got)],
                   "options": dict(zip(q.labels, q.options))} for q, got in zip(data.questions, retrieved)]
        answers, stats = ask_all(settings, "personamem_choice", inputs, _Choice,
                                 lambda i: {"labels": data.questions[i].labels})
        chosen = [a.choice if a is not None else None for a in answers]
    else:
        ovecs = encoder.encode([o for q in data.questions for o in q.options], kind="passage")
        chosen, start = [], 0
        for q, qv, got in zip(data.questions, qvecs, retrieved):
            profile = qv + vectors[q.context_id][got].sum(axis=0)
            scores = ovecs[start:start + len(q.options)] @ profile
            start += len(q.options)
            chosen.append(q.labels[int(np.argmax(scores))])  # ties: the first option
    items = [PMItem(qid=q.qid, qtype=q.qtype, retrieved=tuple(got), chosen=c, answer=q.answer)
             for q, got, c in zip(data.questions, retrieved, chosen)]
    types = [t for t in TABLE2_TYPES if any(i.qtype == t for i in items)]
    types += sorted({i.qtype for i in items} - set(types))
    by_type = {t: Accuracy(n=sum(i.qtype == t for i in items), correct=sum(i.qtype == t and i.correct for i in items))
               for t in types}
    return PersonaMemResult(mode=choose, k=k, by_type=by_type, items=items, llm=stats,
                            total=Accuracy(n=len(items), correct=sum(i.correct for i in items)))


def personamem_table(results: Mapping[str, PersonaMemResult]) -> str:
    """Table 2's layout: a row per setting (e.g. base, trained), a column per question type and Total, then a row
    of differences in points (x100) against the first setting."""
    if not results:
        raise ValueError("no results to tabulate")
    first = next(iter(results.values()))
    types = list(dict.fromkeys(t for r in results.values() for t in r.by_type))
    head = [f"{TABLE2_TYPES.get(t, t)} (n={first.by_type[t].n if t in first.by_type else 0})" for t in types]
    head.append(f"Total (n={first.total.n})")
    modes = "/".join(sorted({r.mode for r in results.values()}))
    lines = [f"| setting ({modes}, k={first.k}) | " + " | ".join(head) + " |", "|---|" + "---|" * len(head)]

    def row(r: PersonaMemResult) -> list[float]:
        return [r.by_type[t].accuracy if t in r.by_type else float("nan") for t in types] + [r.total.accuracy]

    for name, r in results.items():
        lines.append(f"| {name} | " + " | ".join(f"{a:.4f}" for a in row(r)) + " |")
    for name, r in list(results.items())[1:]:
        diffs = (f"{100 * (a - b):+.2f}" for a, b in zip(row(r), row(first)))
        lines.append(f"| Δ {name} (points) | " + " | ".join(diffs) + " |")
    return "\n".join(lines)
