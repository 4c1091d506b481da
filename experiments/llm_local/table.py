"""The per-step table of an LLM run, from its data_stats.json (or a conversations artifact's info.json):

    python experiments/llm_local/table.py outputs/runs/llm_local/<time>/data_stats.json

One row per LLM step: steps asked, valid on the first answer, repaired, dropped (and the kinds of rule the dropped
answers broke), the calls the endpoint answered (and those replayed from the cache), their tokens in / out and
request seconds; then the batch's wall time
and output tokens per second.
"""

from __future__ import annotations

import json
import sys
from typing import Any

STEPS = ("events", "brief", "conversation", "topics", "queries")


def llm_blocks(stats: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The LLM stats blocks a run holds: synthesis (source.synthesis), topics=llm (topics), queries=llm
    (queries.llm)."""
    found = {"synthesis": stats.get("source", {}).get("synthesis") or stats.get("synthesis"),
             "topics=llm": stats.get("topics") if isinstance(stats.get("topics"), dict) and "usage" in stats["topics"]
             else None,
             "queries=llm": (stats.get("queries") or {}).get("llm")}
    return {name: block for name, block in found.items() if block}


def table(block: dict[str, Any]) -> str:
    steps = block["usage"].get("steps", {})
    rows = ["| step | asked | valid first | repaired | dropped | calls (replayed) | tokens in | tokens out | seconds | "
            "dropped answers broke |", "|---|---|---|---|---|---|---|---|---|---|"]
    for step in [s for s in STEPS if s in block.get("asked", {}) or s in steps]:
        use = steps.get(step, {})
        reasons = "; ".join(f"{kind} ({n})" for kind, n in block.get("drop_reasons", {}).get(step, {}).items())
        rows.append(f"| {step} | {block.get('asked', {}).get(step, 0)} | {block.get('valid_first', {}).get(step, 0)} | "
                    f"{block.get('repaired', {}).get(step, 0)} | {block.get('dropped_steps', {}).get(step, 0)} | "
                    f"{use.get('calls', 0)} ({use.get('cached', 0)}) | {use.get('input_tokens', 0):,} | "
                    f"{use.get('output_tokens', 0):,} | {use.get('seconds', 0):,.0f} | {reasons} |")
    u = block["usage"]
    kept = (f"{block['conversations']} of {block['requested_conversations']} conversations kept; "
            if "requested_conversations" in block else "")
    rows.append(f"\n{kept}{u['calls']} calls answered, {u['cached']} replayed from the cache; "
                f"{u['input_tokens']:,} tokens in, {u['output_tokens']:,} out; wall {u.get('wall_s', 0):,.0f} s, "
                f"{u.get('output_tokens_per_s')} output tokens/s")
    return "\n".join(rows)


def main(path: str) -> None:
    stats = json.loads(open(path).read())
    for name, block in llm_blocks(stats).items():
        print(f"### {name} ({block['model']})\n\n{table(block)}\n")


if __name__ == "__main__":
    main(sys.argv[1])
