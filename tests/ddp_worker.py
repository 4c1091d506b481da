"""One training run for tests/test_ddp.py: hins.training.train.fit on 16 fixed samples in 1 process or under DDP.

    python tests/ddp_worker.py OUT DEVICES [STEPS STATE CRASH_AT DROPOUT]

The smoke experiment's config (tiny random BERT, dropout off so that both runs compute the same function), in
float64 (trainer.precision=64-true: the all-reduce's rounding stays ~1e-16, so the runs agree exactly), global
batch 8, 3 steps on CPU (two batches of the first epoch, one of the second): DEVICES=1 is the plain CPU trainer,
DEVICES>1 is trainer=ddp over gloo, each process taking its 8 / DEVICES share of every global batch. Lightning starts the other processes by running this same command again.
Rank 0 writes OUT/result.json (the logged train/loss of every step: under DDP the mean over the processes) and
OUT/weights.pt (the trained weights); the other ranks stop after training (hins.training.train.fit). Every process writes
OUT/seen-<pid>.json: the samples it trained on, in order.

For the resume test: STEPS steps (default 3) with checkpoints in the resume directory STATE (every 2 steps), the
run killed at step CRASH_AT (-1: never; tests/faults.py), dropout DROPOUT (default 0) in every layer.
"""

from __future__ import annotations

import atexit
import csv
import json
import os
import sys
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from hins.core.config import validate
from hins.pipeline import load_model
from hins.training.train import fit
from tests.faults import FaultyLoss

CONF = str(Path(__file__).resolve().parents[1] / "hins" / "conf")


def samples() -> list[dict]:
    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa".split()

    def text(i: int, n: int) -> str:
        return " ".join(words[(i * 7 + j * 3) % len(words)] for j in range(n))

    return [{"sid": f"s{i}", "qid": f"q{i}", "query": text(i, 3 + i % 4), "pos": text(i + 1, 5 + i),
             "neg": [text(i + 2 + k, 4 + (i + k) % 9) for k in range(3)]} for i in range(16)]


class Recorded(list):
    """The samples, recording which one this process reads, in order (written when the process exits)."""

    def __init__(self, rows: list[dict], out: Path):
        super().__init__(rows)
        self.seen: list[str] = []
        atexit.register(lambda: (out / f"seen-{os.getpid()}.json").write_text(json.dumps(self.seen)))

    def __getitem__(self, index):
        row = super().__getitem__(index)
        self.seen.append(row["sid"])
        return row


def main(out: Path, devices: int, steps: int = 3, state: Path | None = None, crash_at: int = -1,
         dropout: float = 0.0) -> None:
    FaultyLoss.crash_at = None if crash_at < 0 else crash_at
    overrides = ["experiment=smoke", "trainer.accelerator=cpu", f"trainer.devices={devices}",
                 "trainer.precision=64-true", "trainer.num_workers=0", "trainer.batch_size=8",
                 f"trainer.max_steps={steps}", "trainer.val_every_n_steps=2", "trainer.lr=1e-2",
                 "model.temperature=0.02", "trainer.log_every_n_steps=1", "loss._target_=tests.faults.FaultyLoss",
                 f"+model.arch.hidden_dropout_prob={dropout}", f"+model.arch.attention_probs_dropout_prob={dropout}"]
    if devices > 1:
        overrides.insert(1, "trainer=ddp")
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    run = validate(cfg)
    out.mkdir(parents=True, exist_ok=True)
    model, _ = fit(run, load_model(run), Recorded(samples(), out), None, out, state)
    with open(out / "csv" / "metrics.csv") as f:
        losses = {int(r["step"]): float(r["train/loss"]) for r in csv.DictReader(f) if r.get("train/loss")}
    (out / "result.json").write_text(json.dumps({"losses": [losses[s] for s in sorted(losses)],
                                                 "strategy": run.trainer.strategy, "devices": devices}))
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, out / "weights.pt")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(Path(args[0]), int(args[1]), *([int(args[2]), Path(args[3]), int(args[4]), float(args[5])] if len(args) > 2
                                        else []))
