"""One job of tests/test_llm.py's shared-cache test: LLM synthesis of a few conversations against the scripted
server, with a call cache that another such job uses at the same time. It reports ``ready`` (imports done),
waits for the ``go`` file so that both jobs start their calls together, and writes what it made as JSON.

    python -m tests.llm_cache_job SETTINGS_JSON N_CONVERSATIONS OUT_JSON READY_FILE GO_FILE
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from hins.stages.personas import BuiltinPersonas
from hins.synthesis.llm import LLMSynthesizer


def main(settings: str, n: str, out: str, ready: str, go: str) -> None:
    people = BuiltinPersonas(seed=3)
    jobs = [(f"c{i:06d}", *people.pair(i)) for i in range(int(n))]
    synth = LLMSynthesizer(seed=3, **json.loads(settings))
    Path(ready).touch()
    deadline = time.monotonic() + 120
    while not Path(go).exists():
        if time.monotonic() > deadline:
            sys.exit("no go file")
        time.sleep(0.01)
    convs, queries, stats = synth.synthesize(jobs)
    Path(out).write_text(json.dumps({"conversations": [c.to_dict() for c in convs],
                                     "queries": [q.to_dict() for q in queries], "usage": stats["usage"]}))


if __name__ == "__main__":
    main(*sys.argv[1:])
