"""LoCoMo question answering from retrieved memories: the paper's Table 1 (F1 / BLEU-1 per category).

A memory system (any ``search_many(cid, questions, k)``, e.g. :class:`hins.evaluation.memory.base.MemoryBackend`) retrieves
the top-k memories of each question's conversation; an LLM answers from them (prompt hins/evaluation/prompts/qa_answer.md);
the answer is scored against LoCoMo's gold answer with the metrics of Mem0's evaluation utilities
(``evaluation/metrics/utils.py``, taken over from A-Mem), re-implemented here:

* **F1** (:func:`token_f1`): both texts lower-cased, ``.`` ``,`` ``!`` ``?`` replaced by spaces, split on whitespace
  (other punctuation, e.g. ``'s``, stays in its token). The tokens are compared as **sets**, as Mem0 does:
  precision = |common| / |prediction tokens|, recall = |common| / |gold tokens|; a repeated word counts once.
* **BLEU-1** (:func:`bleu1`): nltk ``sentence_bleu`` with weights (1, 0, 0, 0) and ``SmoothingFunction().method1``
  over lower-cased ``nltk.word_tokenize`` tokens (one reference). That is the clipped unigram precision times the
  brevity penalty; method1 only touches the zero-weighted higher orders. ``word_tokenize`` first splits sentences
  with NLTK's Punkt English model (the ``punkt_tab`` data package). Where that is not installed (no network to
  fetch it), sentences are split by an untrained Punkt tokenizer, which differs from the English model only at
  abbreviations it knows (``dr.``, ``u.s.``); :func:`bleu_tokenizer` says which one ran, and results record it.
* An empty prediction or gold answer scores 0 on both, as in Mem0.

Per category (1 multi-hop, 2 temporal, 3 open-domain, 4 single-hop) and the question-weighted average over
categories 1-4 (as in the paper's LoCoMo tables). Evidence Recall@k (the share of a question's evidence turns among the dia_ids of
its top-k hits) needs no LLM: it is the retrieval-only score, and the only one when ``answer=False``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import nltk
from nltk.tokenize import NLTKWordTokenizer
from nltk.tokenize.punkt import PunktSentenceTokenizer
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from pydantic import BaseModel, field_validator

from hins.evaluation.eval_llm import EvalLLMConfig, ask_all, eval_llm_settings
from hins.evaluation.locomo import CATEGORIES, DEFAULT_CATEGORIES, LocomoCorpus, parse_dia_ids
from hins.evaluation.memory.base import Hit
from hins.core.records import Conversation, Query

SearchMany = Callable[[str, Sequence[str], int], list[list[Hit]]]
TABLE1_ORDER = (2, 3, 1, 4)
RECALL_CUTOFFS = (1, 5, 10)  # reported beside Recall@k (k = the memories handed to the answerer)  # the paper's columns: Temporal, Open-domain, Multi-hop, Single-hop
LLM_KEY = "qa.llm"
_F1_SEPARATORS = str.maketrans({c: " " for c in ".,!?"})
_WORDS = NLTKWordTokenizer()


# --------------------------------------------------------------------------------------------- metrics


def f1_tokens(text: str) -> set[str]:
    return set(str(text).lower().translate(_F1_SEPARATORS).split())


def token_f1(prediction: Any, reference: Any) -> float:
    """Mem0's token F1 over token sets (see the module docstring)."""
    pred, ref = f1_tokens(str(prediction).strip()), f1_tokens(str(reference).strip())
    common = len(pred & ref)
    if not common:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


@functools.cache
def _sentences() -> tuple[Callable[[str], list[str]], str]:
    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
    except LookupError:
        return PunktSentenceTokenizer().tokenize, "untrained Punkt sentences + NLTK word tokenizer (no punkt_tab data)"
    return functools.partial(nltk.sent_tokenize, language="english"), "nltk.word_tokenize (punkt_tab English)"


def bleu_tokenizer() -> str:
    """Which tokenization BLEU-1 uses here: Mem0's exactly, or the stand-in without the punkt_tab data."""
    return _sentences()[1]


def bleu_tokens(text: str) -> list[str]:
    split, _ = _sentences()
    return [token for sentence in split(text.lower()) for token in _WORDS.tokenize(sentence)]


def bleu1(prediction: Any, reference: Any) -> float:
    """Mem0's BLEU-1 (see the module docstring)."""
    hyp, ref = bleu_tokens(str(prediction).strip()), bleu_tokens(str(reference).strip())
    if not hyp or not ref:
        return 0.0
    return float(sentence_bleu([ref], hyp, weights=(1, 0, 0, 0), smoothing_function=SmoothingFunction().method1))


# --------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class QAItem:
    """One question: what was retrieved, how much evidence it covers, and (answering) the answer and its scores."""

    qid: str
    category: int
    question: str
    gold: str
    retrieved: tuple[tuple[str, ...], ...]  # each top-k hit's source dia_ids, in rank order (() for none)
    recall: float
    recall_at: dict[int, float]  # evidence recall at the cut-offs of RECALL_CUTOFFS below k, and at k
    prediction: str | None = None  # None: retrieval only, or the LLM's answers stayed invalid ("" is scored)
    f1: float | None = None
    bleu1: float | None = None


@dataclass(frozen=True)
class QAScore:
    n: int
    recall: float
    recall_at: dict[int, float]
    f1: float | None  # None without answers
    bleu1: float | None


@dataclass
class QAResult:
    k: int
    by_category: dict[int, QAScore]
    overall: QAScore  # question-weighted over the evaluated questions of categories 1-4 (the paper's "Average")
    items: list[QAItem]
    bleu_tokenizer: str
    llm: dict[str, Any] | None = None  # model, invalid / repaired / dropped answers, token usage and cost

    @property
    def answered(self) -> bool:
        return self.overall.f1 is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _score(items: Sequence[QAItem]) -> QAScore:
    n = len(items)
    answered = n > 0 and all(i.f1 is not None for i in items)
    cutoffs = items[0].recall_at if items else {}
    return QAScore(n=n, recall=sum(i.recall for i in items) / n if n else 0.0,
                   recall_at={c: sum(i.recall_at[c] for i in items) / n for c in cutoffs},
                   f1=sum(i.f1 for i in items) / n if answered else None,  # type: ignore[misc]
                   bleu1=sum(i.bleu1 for i in items) / n if answered else None)  # type: ignore[misc]


# --------------------------------------------------------------------------------------------- evaluation


class _Answer(BaseModel):
    answer: str

    @field_validator("answer", mode="before")
    @classmethod
    def _text(cls, v: Any) -> Any:
        if isinstance(v, (int, float)) and not isinstance(v, bool):  # "2021" answered as a number
            v = str(v)
        if isinstance(v, str) and not v.strip():
            raise ValueError("the answer is empty: give a short phrase")
        return v.strip() if isinstance(v, str) else v


def _keys(dia_ids: Iterable[str | None]) -> set[tuple[int, int]]:
    """(session, turn) keys of dia_ids in any of the spellings LoCoMo uses."""
    return {key for d in dia_ids if d for key in parse_dia_ids(d)[0]}


def _memory_line(hit: Hit, dates: Mapping[tuple[int, int], str]) -> str:
    """A memory as the answerer sees it: its text, after the date of the (earliest) session it came from."""
    date = next((dates[k] for k in sorted(_keys(hit.dia_ids)) if k in dates), None)
    return f"({date}) {hit.text}" if date else hit.text


def _retrieve(conv: Conversation, questions: Sequence[Query], search_many: SearchMany, k: int
              ) -> list[list[Hit]]:
    hits = search_many(conv.cid, [q.text for q in questions], k)
    if len(hits) != len(questions):
        raise ValueError(f"search_many returned {len(hits)} hit lists for {len(questions)} questions of {conv.cid}")
    return [list(h)[:k] for h in hits]


def evaluate_qa(corpus: LocomoCorpus, search_many: SearchMany, k: int,
                llm: EvalLLMConfig | Mapping[str, Any] | None = None, *, answer: bool = True,
                categories: Iterable[int] = DEFAULT_CATEGORIES, cids: Iterable[str] | None = None,
                llm_key: str = LLM_KEY) -> QAResult:
    """Retrieve the top ``k`` memories of every question (of ``categories``, over ``cids`` or all conversations),
    score evidence Recall@k, and with ``answer`` have the LLM configured under ``llm_key`` answer from them and
    score F1 / BLEU-1. ``answer=True`` without an endpoint raises :class:`hins.evaluation.eval_llm.LLMNotConfigured`."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    settings = eval_llm_settings(llm, llm_key) if answer else None  # refuse before any retrieval work
    categories = tuple(categories)
    unknown = [c for c in categories if c not in CATEGORIES]
    if unknown:
        raise ValueError(f"unknown LoCoMo categories {unknown}; known: {sorted(CATEGORIES)}")
    wanted = None if cids is None else set(cids)
    if wanted is not None and (absent := wanted - {c.cid for c in corpus.conversations}):
        raise ValueError(f"conversations {sorted(absent)} are not in {corpus.path or 'the corpus'}")
    questions: list[Query] = []
    memories: list[list[str]] = []
    items: list[QAItem] = []
    for conv in corpus.conversations:
        if wanted is not None and conv.cid not in wanted:
            continue
        qs = [q for q in corpus.questions if q.cid == conv.cid and corpus.categories[q.qid] in categories]
        if not qs:
            continue
        dates = {key: m.session for m in conv.messages if m.session for key in _keys([m.dia_id])}
        for q, hits in zip(qs, _retrieve(conv, qs, search_many, k)):
            evidence = _keys(conv.messages[mid].dia_id for mid in q.evidence)
            recall_at = {c: len(evidence & _keys(d for h in hits[:c] for d in h.dia_ids)) / len(evidence)
                         for c in sorted({*(c for c in RECALL_CUTOFFS if c < k), k})}
            questions.append(q)
            memories.append([_memory_line(h, dates) for h in hits])
            items.append(QAItem(qid=q.qid, category=corpus.categories[q.qid], question=q.text,
                                gold=corpus.answers[q.qid], retrieved=tuple(tuple(h.dia_ids) for h in hits),
                                recall=recall_at[k], recall_at=recall_at))
    if not items:
        raise ValueError(f"no questions of categories {list(categories)} in "
                         f"{'the conversations ' + str(sorted(wanted)) if wanted is not None else 'the corpus'}")
    stats = None
    if settings is not None:
        inputs = [{"question": q.text, "memories": mems} for q, mems in zip(questions, memories)]
        answers, stats = ask_all(settings, "qa_answer", inputs, _Answer, lambda i: {})
        items = [_scored(item, a.answer if a is not None else None) for item, a in zip(items, answers)]
    by_category = {c: _score([i for i in items if i.category == c]) for c in sorted({i.category for i in items})}
    overall = _score([i for i in items if i.category in DEFAULT_CATEGORIES])
    return QAResult(k=k, by_category=by_category, overall=overall, items=items, bleu_tokenizer=bleu_tokenizer(),
                    llm=stats)


def _scored(item: QAItem, prediction: str | None) -> QAItem:
    """The item with its answer and scores; an answer that stayed invalid scores 0 (it is counted in ``llm``)."""
    text = prediction or ""
    return replace(item, prediction=prediction, f1=token_f1(text, item.gold), bleu1=bleu1(text, item.gold))


# --------------------------------------------------------------------------------------------- tables


def qa_table(results: Mapping[str, QAResult]) -> str:
    """Table 1's layout, one row per setting (e.g. base, trained), a row of differences in points (x100) against
    the first: F1 / BLEU-1 cells where every setting answered, then evidence Recall@k for all."""
    if not results:
        raise ValueError("no results to tabulate")
    first = next(iter(results.values()))
    cols = [c for c in TABLE1_ORDER if c in first.by_category]
    head = [f"{CATEGORIES[c].capitalize()} (n={first.by_category[c].n})" for c in cols]
    head.append(f"Average (n={first.overall.n})")

    def table(title: str, cell: Callable[[QAScore], str], diff: Callable[[QAScore, QAScore], str]) -> list[str]:
        lines = [f"| {title} | " + " | ".join(head) + " |", "|---|" + "---|" * len(head)]
        for name, r in results.items():
            scores = [r.by_category[c] for c in cols] + [r.overall]
            lines.append(f"| {name} | " + " | ".join(cell(s) for s in scores) + " |")
        base = [first.by_category[c] for c in cols] + [first.overall]
        for name, r in list(results.items())[1:]:
            scores = [r.by_category[c] for c in cols] + [r.overall]
            lines.append(f"| Δ {name} (points) | " + " | ".join(diff(s, b) for s, b in zip(scores, base)) + " |")
        return lines

    out: list[str] = []
    if all(r.answered for r in results.values()):
        out += table("F1 / BLEU-1", lambda s: f"{s.f1:.4f} / {s.bleu1:.4f}",
                     lambda s, b: f"{100 * (s.f1 - b.f1):+.2f} / "  # type: ignore[operator]
                                  f"{100 * (s.bleu1 - b.bleu1):+.2f}")
        out.append("")
    out += table(f"Evidence Recall@{first.k}", lambda s: f"{s.recall:.4f}",
                 lambda s, b: f"{100 * (s.recall - b.recall):+.2f}")
    cutoffs = list(first.overall.recall_at)
    out += ["", "| Average over all questions | " + " | ".join(f"Recall@{c}" for c in cutoffs) + " |",
            "|---|" + "---|" * len(cutoffs)]
    out += [f"| {name} | " + " | ".join(f"{r.overall.recall_at[c]:.4f}" for c in cutoffs) + " |"
            for name, r in results.items()]
    return "\n".join(out)
