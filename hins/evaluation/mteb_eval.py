"""General-domain check (the paper's Table 5): does memory fine-tuning cost the embedder elsewhere?

Runs the paper's five MTEB tasks (three clustering tasks, STS12, ImdbClassification) on sentence-transformers
model directories through the ``mteb`` package (v2 API), an optional dependency: ``pip install 'hins[mteb]'``.
Its datasets come from the Hugging Face Hub, so the Hub is checked first (in seconds, not after minutes of
retries). Scores are each task's main score as MTEB reports it (V-measure for clustering, Spearman correlation
of cosine similarities for STS, accuracy for classification), in [0, 1] like the paper's table.

``python -m hins.mteb_eval --model-dir BASE --model-dir TRAINED`` prints Table 5 for the two.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from hins.core.cli import positive_int
from hins.core.hub import hub_unreachable

PAPER_TASKS = ("TwentyNewsgroupsClustering", "ArXivHierarchicalClusteringS2S", "StackExchangeClusteringP2P.v2",
               "STS12", "ImdbClassification")
INSTALL = "pip install 'hins[mteb]' (mteb>=2,<3)"


class MTEBUnavailable(RuntimeError):
    """MTEB cannot run here: the package is missing or the Hub, where its datasets live, is out of reach."""


def require_mteb(check_hub: bool = True) -> None:
    """Raise :class:`MTEBUnavailable` saying what to install, or that the Hub is needed, before any work."""
    if importlib.util.find_spec("mteb") is None:
        raise MTEBUnavailable(f"the MTEB evaluation needs the optional package mteb: {INSTALL}")
    reason = hub_unreachable() if check_hub else None
    if reason is not None:
        raise MTEBUnavailable(
            f"the MTEB tasks download their datasets from the Hugging Face Hub, and {reason}. Run it where the Hub "
            "is reachable; where the datasets are already in the local Hugging Face cache, pass check_hub=False "
            "(--no-hub-check) with HF_HUB_OFFLINE=1.")


def evaluate_mteb(model_dir: str | Path, tasks: Sequence[str] = PAPER_TASKS, batch_size: int = 32,
                  check_hub: bool = True) -> dict[str, float]:
    """Each task's main score for the sentence-transformers model in ``model_dir``, by task name.

    MTEB's result cache is off: base and fine-tuned models often share a name, and a cached score of one must
    never stand in for the other."""
    require_mteb(check_hub)
    import mteb
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir))
    result = mteb.evaluate(model, mteb.get_tasks(tasks=list(tasks)), cache=None, show_progress_bar=False,
                           encode_kwargs={"batch_size": batch_size})
    return {r.task_name: float(r.get_score()) for r in result.task_results}


def mteb_table(results: Mapping[str, Mapping[str, float]]) -> str:
    """Table 5's layout: a row per task, a column per model; for each model after the first, its difference
    from the first, absolute and relative (the paper's "Diff. %" is relative, unlike its headline gains)."""
    if not results:
        raise ValueError("no results to tabulate")
    names = list(results)
    base = results[names[0]]
    head = names + [h for n in names[1:] for h in (f"Diff. ({n})", f"Diff. % ({n})")]
    lines = ["| Task | " + " | ".join(head) + " |", "|---|" + "---|" * len(head)]
    tasks = list(dict.fromkeys(t for r in results.values() for t in r))
    for task in tasks:
        cells = [f"{results[n].get(task, math.nan):.6f}" for n in names]
        for n in names[1:]:
            diff = results[n].get(task, math.nan) - base.get(task, math.nan)
            rel = 100 * diff / base[task] if base.get(task) else math.nan
            cells += [f"{diff:+.6f}", f"{rel:+.2f} %"]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hins.mteb_eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", action="append", required=True, metavar="DIR",
                        help="a sentence-transformers model directory (repeat: base first, then trained)")
    parser.add_argument("--task", action="append", default=None, help=f"MTEB task (default: {', '.join(PAPER_TASKS)})")
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--no-hub-check", action="store_true", help="skip the Hub check (datasets already cached)")
    args = parser.parse_args(argv)
    if bad := [d for d in args.model_dir if not Path(d).is_dir()]:  # sentence-transformers would try the Hub
        parser.error(f"--model-dir: not a directory: {', '.join(map(repr, bad))}")
    try:
        require_mteb(not args.no_hub_check)
        results = {d: evaluate_mteb(d, args.task or PAPER_TASKS, args.batch_size, check_hub=False)
                   for d in args.model_dir}
    except MTEBUnavailable as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(mteb_table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
