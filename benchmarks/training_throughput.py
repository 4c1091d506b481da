"""Training and encoding throughput on one device: hins against sentence-transformers, same model, same data,
one process. Issue 7's goals 1 (training step >= 2x on a GPU) and 2 (encode >= 4x on a GPU).

    python benchmarks/training_throughput.py                 # on a GPU: batches 128 and 512, a few minutes (H100)
    python benchmarks/training_throughput.py                 # on a CPU: batch 16, bge-small shape, ~15 minutes
    python benchmarks/training_throughput.py --tiny          # check of the script: tiny model, batch 4, ~1 min

The model is a randomly initialised BERT of bge-small-en-v1.5's shape (12 layers, hidden 384, 12 heads, ffn 1536,
vocabulary 30522; speed does not depend on the weights), saved once and loaded by both sides, with a word-level
vocabulary written here (no download). One example = 1 query (8-20 words) + 1 positive + 15 negatives (7-45 words
each), the workload of ../shared/bench/gpu-anchors.md. Each side trains with its own trainer:

- sentence-transformers: SentenceTransformerTrainer + MultipleNegativesRankingLoss (scale 1/tau), bf16 on a GPU,
  4 loader workers on a GPU, as a user would run it (it needs `datasets` and `accelerate`, hins' `bench` extra;
  without them: its model and loss in a plain loop);
- hins: the ContrastiveModule of hins.training.train in a Lightning Trainer with fit()'s settings (bf16-mixed on a GPU,
  AdamW, warmup, gradient clipping 1.0) and the loss with in-batch negatives on, which makes it the same function
  as MultipleNegativesRankingLoss (hins' paper setting, own negatives only, costs the same); each step packed
  into one unpadded token stream (`trainer.packing`, the default) and, for comparison, in length-sorted padded
  chunks (`trainer.packing=false`, `--hins` chooses the variants).

Before timing, both losses are computed on the same batch with the same weights (dropout off): they must agree to
bf16 tolerance (float32 on a CPU). Encoding: sentence-transformers' encode() against hins' Embedder.encode on
passages of the same kind. Prints one markdown table: examples/s, texts/s, non-pad tokens/s, the share of the
chip's bf16 limit (6 x non-embedding parameters FLOP per trained token, 2 x per encoded token) and peak memory.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import inspect
import random
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

NEGATIVES = 15
TAU = 0.02
LOG_EVERY = 5  # both sides log the loss every 5 steps (hins/conf/trainer's log_every_n_steps; a host sync each time)
WORDS = 30517  # vocabulary: 5 special tokens + WORDS words = 30522, bge-small's size
SHAPES = {
    "bge-small": dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=12, intermediate_size=1536),
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128),
}
# Dense bf16 TFLOP/s from the spec sheets, matched in order against the device name.
PEAK_BF16_TFLOPS = {"H100 PCIe": 756.0, "H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0}


def build_model_dir(root: Path, shape: str) -> Path:
    from transformers import BertConfig, BertModel, BertTokenizerFast

    directory = root / f"random-{shape}"
    directory.mkdir(parents=True, exist_ok=True)
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *(f"w{i}" for i in range(WORDS))]
    vocab = directory / "vocab.txt"
    vocab.write_text("\n".join(tokens))
    if "vocab" in inspect.signature(BertTokenizerFast.__init__).parameters:  # transformers >= 5 ignores vocab_file
        tokenizer = BertTokenizerFast(vocab={t: i for i, t in enumerate(tokens)}, do_lower_case=True)
    else:
        tokenizer = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
    assert len(tokenizer) == len(tokens), "the word-level tokenizer lost its vocabulary"
    tokenizer.save_pretrained(directory)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=WORDS + 5, max_position_embeddings=512, **SHAPES[shape])
    BertModel(config, add_pooling_layer=False).save_pretrained(directory)
    return directory


def make_examples(n: int, seed: int) -> list[dict[str, Any]]:
    """n examples (query, positive, 15 negatives) drawn from pools of 2,000 queries and 10,000 passages."""
    rng = random.Random(seed)

    def text(lo: int, hi: int) -> str:
        return " ".join(f"w{rng.randrange(WORDS)}" for _ in range(rng.randint(lo, hi)))

    queries = [text(8, 20) for _ in range(2000)]
    passages = [text(7, 45) for _ in range(10000)]
    out = []
    for i in range(n):
        group = rng.sample(passages, NEGATIVES + 1)
        out.append({"sid": f"s{i}", "qid": f"q{i}", "query": rng.choice(queries), "pos": group[0], "neg": group[1:]})
    return out


def nonpad_tokens(examples: list[dict[str, Any]]) -> int:
    return sum(len(t.split()) + 2 for e in examples for t in (e["query"], e["pos"], *e["neg"]))


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


class Clock:
    """Wall time between the end of step ``warm`` and the end of step ``warm + steps``."""

    def __init__(self, device: str, warm: int, steps: int):
        self.device, self.marks, self.at = device, {}, (warm, warm + steps)

    def tick(self, step: int) -> None:
        if step in self.at:
            sync(self.device)
            self.marks[step] = time.perf_counter()

    @property
    def seconds(self) -> float:
        return self.marks[self.at[1]] - self.marks[self.at[0]]


# ------------------------------------------------------------------------------------------ the two sides


def st_model(model_dir: Path, device: str):
    from sentence_transformers import SentenceTransformer, models

    transformer = models.Transformer(str(model_dir), max_seq_length=128)
    dim = transformer.get_word_embedding_dimension()
    return SentenceTransformer(modules=[transformer, models.Pooling(dim, "cls"), models.Normalize()], device=device)


def st_loss(model):
    try:
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.losses import MultipleNegativesRankingLoss
    return MultipleNegativesRankingLoss(model, scale=1 / TAU)


def st_features(model, texts: list[str], device: str | None = None) -> dict[str, Any]:
    """sentence-transformers' own tokenisation of one column (``preprocess`` from 6.x, ``tokenize`` before)."""
    features = (model.preprocess if hasattr(model, "preprocess") else model.tokenize)(texts)
    return {k: v.to(device, non_blocking=True) if device and torch.is_tensor(v) else v for k, v in features.items()}


def st_columns(examples: list[dict[str, Any]]) -> dict[str, list[str]]:
    columns = {"anchor": [e["query"] for e in examples], "positive": [e["pos"] for e in examples]}
    for k in range(NEGATIVES):
        columns[f"negative_{k + 1}"] = [e["neg"][k] for e in examples]
    return columns


def train_st(model_dir: Path, examples: list[dict[str, Any]], batch: int, clock: Clock, device: str,
             plain_loop: bool = False) -> str:
    """sentence-transformers' own trainer where `datasets` and `accelerate` are installed (as users run it), else
    its model and loss in a plain loop with the trainer's settings (bf16 autocast, clipping 1.0). Returns which."""
    model = st_model(model_dir, device)
    loss = st_loss(model)
    steps = clock.at[1]
    if not plain_loop and all(importlib.util.find_spec(m) for m in ("datasets", "accelerate")):
        from datasets import Dataset
        from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
        from transformers import TrainerCallback

        class Tick(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                clock.tick(state.global_step)

        args = SentenceTransformerTrainingArguments(
            output_dir=tempfile.mkdtemp(), per_device_train_batch_size=batch, max_steps=steps, learning_rate=1e-5,
            warmup_ratio=0.1, bf16=device == "cuda", use_cpu=device != "cuda", logging_steps=LOG_EVERY,
            save_strategy="no", report_to=[], dataloader_num_workers=4 if device == "cuda" else 0)
        SentenceTransformerTrainer(model=model, args=args, train_dataset=Dataset.from_dict(st_columns(examples)),
                                   loss=loss, callbacks=[Tick()]).train()
        return "SentenceTransformerTrainer"
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=device == "cuda")

    def collate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [st_features(model, texts) for texts in st_columns(rows).values()]

    loader = torch.utils.data.DataLoader(examples, batch_size=batch, shuffle=True, collate_fn=collate,
                                         num_workers=4 if device == "cuda" else 0, drop_last=True)
    model.train()
    for step, features in enumerate(loader, start=1):
        features = [{k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in f.items()}
                    for f in features]
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            value = loss(features, None)
        value.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        clock.tick(step)
        if step == steps:
            break
    return f"sentence-transformers model + MNRL, plain loop{' (fused AdamW)' if device == 'cuda' else ''}"


def hins_parts(model_dir: Path, batch: int, steps: int, device: str, variant: str = "packed"):
    """hins' embedder, trainer config and Lightning module; variant: "packed", or a length_chunk without packing."""
    from hins.core.config import TrainerConfig
    from hins.training.losses import InfoNCELoss
    from hins.training.model import ModelSpec, load_embedder
    from hins.training.train import ContrastiveModule

    embedder = load_embedder(ModelSpec(name="random", source="dir", path=str(model_dir), pooling="cls",
                                       max_query_length=128, max_passage_length=128))
    cfg = TrainerConfig(accelerator="gpu" if device == "cuda" else "cpu", devices=1, strategy="auto",
                        precision="bf16-mixed" if device == "cuda" else "32-true", batch_size=batch,
                        packing=variant == "packed", length_chunk=4096 if variant == "packed" else int(variant),
                        max_steps=steps, lr=1e-5, weight_decay=0.01, warmup_ratio=0.1, val_every_n_steps=10 ** 6,
                        grad_clip=1.0, num_workers=4 if device == "cuda" else 0, log_every_n_steps=LOG_EVERY)
    return embedder, cfg, ContrastiveModule(embedder, InfoNCELoss(TAU, in_batch_negatives=True), cfg)


def train_hins(model_dir: Path, examples: list[dict[str, Any]], batch: int, clock: Clock, device: str,
               variant: str = "packed") -> str:
    import pytorch_lightning as pl

    from pytorch_lightning.loggers import CSVLogger

    from hins.training.train import monitoring, train_loader

    embedder, cfg, module = hins_parts(model_dir, batch, clock.at[1], device, variant)

    class Tick(pl.Callback):
        def on_train_batch_end(self, trainer, *args):
            clock.tick(trainer.global_step)

    trainer = pl.Trainer(accelerator=cfg.accelerator, devices=1, precision=cfg.precision, max_steps=cfg.max_steps,
                         gradient_clip_val=cfg.grad_clip, logger=CSVLogger(tempfile.mkdtemp()),
                         enable_checkpointing=False, enable_model_summary=False,
                         callbacks=[Tick(), *monitoring(cfg)], log_every_n_steps=cfg.log_every_n_steps,
                         num_sanity_val_steps=0)
    trainer.fit(module, train_dataloaders=train_loader(examples, embedder, cfg, seed=0))
    how = "packed (no padding)" if variant == "packed" else f"padded length-sorted chunks of {variant}"
    return f"hins ContrastiveModule, Lightning Trainer, {how}"


def same_loss(model_dir: Path, examples: list[dict[str, Any]], device: str) -> tuple[float, float]:
    """Both losses on one batch with the same weights, dropout off (eval mode), in float32 (TF32 off) on any
    device: the random model embeds all texts alike, so both losses sit near log(batch x 17) and only a tight
    tolerance tells a wrong loss (passages out of order, another pooling) from rounding."""
    from lightning_fabric.utilities.apply_func import move_data_to_device

    from hins.training.train import sample_collator

    st = st_model(model_dir, device).eval()
    embedder, cfg, module = hins_parts(model_dir, len(examples), 1, device)
    module.to(device).eval()
    features = [st_features(st, texts, device) for texts in st_columns(examples).values()]
    batch = move_data_to_device(sample_collator(embedder, cfg)(examples), device)
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # training_step's self.log outside a Trainer
            theirs = float(st_loss(st)(features, None))
            ours = float(module.training_step(batch, 0))
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    return theirs, ours


def collate_seconds(model_dir: Path, examples: list[dict[str, Any]], batch: int) -> dict[str, float]:
    """Host seconds to collate one batch (a loader worker's share of a step): sentence-transformers tokenising
    its 17 columns, and hins' packed collator with a fresh memo and once it has seen the warm-up batches."""
    from hins.training.train import SampleCollator

    model = st_model(model_dir, "cpu")
    embedder, cfg, _ = hins_parts(model_dir, batch, 1, "cpu")
    batches = [examples[i : i + batch] for i in range(0, len(examples) - batch + 1, batch)]
    timed = batches[-3:]

    def per_batch(collate) -> float:
        start = time.perf_counter()
        for rows in timed:
            collate(rows)
        return (time.perf_counter() - start) / len(timed)

    warm = SampleCollator(embedder, cfg.length_chunk, packing=True)
    for rows in batches[:-3]:
        warm(rows)
    return {"sentence-transformers": per_batch(lambda rows: [st_features(model, t) for t in st_columns(rows).values()]),
            "hins, fresh memo": per_batch(lambda rows: SampleCollator(embedder, cfg.length_chunk, packing=True)(rows)),
            "hins, after the warm-up batches": per_batch(warm)}


# ------------------------------------------------------------------------------------------ encoding


def encode_rows(model_dir: Path, device: str, n: int, batch: int) -> list[dict[str, Any]]:
    """encode_throughput.py's variants on this model, saved as a sentence-transformers directory (CLS pooling,
    normalisation) that both sides load, over n passages of the training workload's kind."""
    from hins.training.model import ModelSpec, load_embedder

    sys.path.insert(0, str(Path(__file__).parent))
    from encode_throughput import encode_variants, min_cosine, race

    rng = random.Random(3)
    texts = [" ".join(f"w{rng.randrange(WORDS)}" for _ in range(rng.randint(7, 45))) for _ in range(n)]
    embedder = load_embedder(ModelSpec(name="random", source="dir", path=str(model_dir), pooling="cls",
                                       max_passage_length=128))
    st_dir = embedder.save(model_dir.parent / f"{model_dir.name}-st")
    results = race(encode_variants(str(st_dir), embedder, device, batch, batch), texts, 2, device)
    tokens = sum(len(t.split()) + 2 for t in texts)
    reference = next(iter(results.values()))[0]
    return [{"variant": name, "batch": batch, "texts_s": rate, "tokens_s": rate * tokens / n, "kind": "encode",
             "min_cos": min_cosine(out, reference, center=True)} for name, (out, rate) in results.items()]


# ------------------------------------------------------------------------------------------ main


def rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"


def non_embedding_params(model_dir: Path) -> int:
    from transformers import AutoModel

    model = AutoModel.from_pretrained(model_dir)
    return sum(p.numel() for n, p in model.named_parameters() if "embeddings" not in n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny model, batch 4, few steps: a CPU check")
    parser.add_argument("--batches", type=int, nargs="+")
    parser.add_argument("--warm", type=int)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--encode-texts", type=int)
    parser.add_argument("--hins", nargs="+",
                        help="hins variants to time: packed, or a trainer.length_chunk without packing "
                             "(default: packed 4096 on a GPU, packed 32 on a CPU)")
    parser.add_argument("--st-loop", action="store_true", help="sentence-transformers in a plain loop, not its trainer")
    parser.add_argument("--rounds", type=int, help="timed runs of every training side, alternating, best kept "
                                                  "(default 1 on a GPU, 2 on a CPU)")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    gpu = device == "cuda"
    batches = args.batches or ([4] if args.tiny else [128, 512] if gpu else [16])
    warm, steps = args.warm or (10 if gpu else 1), args.steps or (3 if args.tiny else 60 if gpu else 4)
    variants = args.hins or ["packed", "4096" if gpu else "32"]
    rounds = args.rounds or (1 if gpu else 2)
    root = Path(tempfile.mkdtemp())
    model_dir = build_model_dir(root, "tiny" if args.tiny else "bge-small")
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None) if device == "cuda" else None
    params = non_embedding_params(model_dir)
    print(f"device {name}, torch {torch.__version__}, model {'tiny' if args.tiny else 'bge-small'} shape "
          f"({params / 1e6:.1f}M non-embedding parameters), {NEGATIVES} negatives, tau {TAU}", flush=True)

    theirs, ours = same_loss(model_dir, make_examples(min(batches[0], 32), seed=5), device)
    tolerance = 1e-4
    agree = abs(theirs - ours) <= tolerance * max(1.0, abs(theirs))
    print(f"same batch, same weights, float32: MNRL {theirs:.5f}, hins InfoNCE (in-batch) {ours:.5f}: "
          f"{'agree' if agree else 'DIFFER'} (tolerance {tolerance:g} relative)", flush=True)
    if not agree:
        sys.exit("the two losses differ on the same batch: the timings would compare different work")

    rows: list[dict[str, Any]] = []
    for batch in batches:
        examples = make_examples(batch * (warm + steps), seed=batch)
        timed = examples[batch * warm:]
        collate = collate_seconds(model_dir, examples, batch)
        print(f"host seconds to collate a batch of {batch}: " + ", ".join(f"{k} {v:.3f}" for k, v in collate.items()),
              flush=True)
        sides = {"sentence-transformers": lambda *a: train_st(*a, plain_loop=args.st_loop),
                 **{f"hins {v}": (lambda *a, v=v: train_hins(*a, variant=v)) for v in variants}}
        best: dict[str, dict[str, Any]] = {}
        for _ in range(rounds):  # the sides alternate, each keeping its best round: a shared machine's load varies
            for name, side in sides.items():
                if device == "cuda":
                    gc.collect()
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats()
                clock = Clock(device, warm, steps)
                try:
                    label = side(model_dir, examples, batch, clock, device)
                    seconds = clock.seconds
                    row = {"variant": label, "batch": batch, "examples_s": batch * steps / seconds,
                           "texts_s": batch * (NEGATIVES + 2) * steps / seconds,
                           "tokens_s": nonpad_tokens(timed) / seconds, "kind": "train"}
                except Exception as err:  # noqa: BLE001 - one failing side must not hide the other
                    row = {"variant": name, "batch": batch, "error": f"{type(err).__name__}: {err}"[:300]}
                row["baseline"] = name == "sentence-transformers"
                if device == "cuda":  # allocator retries: a side short of memory runs slower than it would
                    stats = torch.cuda.memory_stats()
                    row.update(peak_gib=stats.get("allocated_bytes.all.peak", 0) / 2 ** 30,
                               alloc_retries=stats.get("num_alloc_retries", 0), ooms=stats.get("num_ooms", 0))
                print(row, flush=True)
                kept = best.get(name)
                if kept is None or "error" in kept or ("error" not in row and row["examples_s"] > kept["examples_s"]):
                    best[name] = row
        rows += best.values()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    encoded = encode_rows(model_dir, device, args.encode_texts or (400 if args.tiny else 20000 if gpu else 2000),
                          512 if gpu else 64)
    encoded[0]["baseline"] = True  # sentence-transformers' encode() as users call it
    rows += encoded

    print("\n| variant | batch | examples/s | texts/s | non-pad tokens/s | share of bf16 limit | peak GiB | "
          "vs sentence-transformers |\n|---|---|---|---|---|---|---|---|")
    base = {(row["kind"], row["batch"]): row["texts_s"] for row in rows if row.get("baseline") and "error" not in row}
    for row in rows:
        if "error" in row:
            print(f"| {row['variant']} | {row['batch']} | {row['error']} | | | | | |")
            continue
        key = (row["kind"], row["batch"])
        flop = (6 if row["kind"] == "train" else 2) * params * row["tokens_s"]
        cells = [row["variant"] + (f" (min centred cosine {row['min_cos']:.4f})" if "min_cos" in row else ""),
                 str(row["batch"]), rate(row["examples_s"]) if "examples_s" in row else "",
                 rate(row["texts_s"]), rate(row["tokens_s"]),
                 f"{100 * flop / (peak * 1e12):.1f}%" if peak else "n/a",
                 (f"{row['peak_gib']:.1f}" + (f" ({row['alloc_retries']} allocator retries)" if row.get("alloc_retries")
                                              else "")) if row.get("peak_gib") is not None else "n/a",
                 f"{row['texts_s'] / base[key]:.2f}x" if key in base else "n/a (no sentence-transformers figure)"]
        print("| " + " | ".join(cells) + " |")
    shutil.rmtree(root, ignore_errors=True)

if __name__ == "__main__":
    main()
