"""Data construction speed on the CPU: procedural synthesis, then hierarchical negatives at growing scale.

    python benchmarks/data_construction.py [--conversations 4000] [--scales 10000 200000 1000000]

Prints one markdown table: seconds and peak memory for synthesising the conversations (personas, events,
briefs, dialogue, queries), and for building K=15 negatives for 10k / 200k / 1M samples (conversations are
synthesised until each scale's sample count is reached; timing covers build_samples alone).
"""

from __future__ import annotations

import argparse
import gc
import resource
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

from hins.core.config import validate
from hins.stages.negatives import build_samples
from hins.stages.personas import BuiltinPersonas
from hins.stages.queries import filter_by_evidence
from hins.synthesis.procedural import ProceduralSynthesizer

CONF = Path(__file__).resolve().parents[1] / "conf"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthesise(n: int, seed: int = 0):
    personas, synth = BuiltinPersonas(seed=seed), ProceduralSynthesizer(seed=seed)
    convs, queries = {}, []
    for i in range(n):
        conv = synth.conversation(f"c{i:07d}", *personas.pair(i))
        convs[conv.cid] = conv
        queries += synth.queries(conv)
    return convs, queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=4000)
    parser.add_argument("--scales", type=int, nargs="+", default=[10_000, 200_000, 1_000_000])
    args = parser.parse_args()

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        negatives = validate(compose(config_name="config")).negatives  # negatives=hins
    rows = []
    t = time.perf_counter()
    convs, queries = synthesise(args.conversations)
    rows.append((f"synthesis of {args.conversations:,} conversations", time.perf_counter() - t, peak_mb(), None))
    per_conv = sum(len(q.evidence) for q in queries) / len(convs)
    for scale in args.scales:
        n = max(4, round(scale / per_conv))
        if n != len(convs):
            convs, queries = synthesise(n)
        labels = {cid: [m.topic for m in c.messages] for cid, c in convs.items()}
        kept, _ = filter_by_evidence(queries, convs, labels, 5, 12)
        t = time.perf_counter()
        samples, _ = build_samples(convs, kept, labels, negatives, seed=0)
        gc.collect()  # build_samples pauses the collector: the collection it defers is part of its cost
        secs = time.perf_counter() - t
        rows.append((f"negatives for {len(samples):,} samples ({n:,} conversations)", secs, peak_mb(),
                     1e6 * secs / len(samples)))
    print("| step | seconds | µs per sample | peak RSS (MB) |\n|---|---|---|---|")
    for name, secs, mb, per in rows:
        print(f"| {name} | {secs:.2f} | {'' if per is None else f'{per:.1f}'} | {mb:,.0f} |")


if __name__ == "__main__":
    main()
