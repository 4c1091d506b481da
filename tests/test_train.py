"""Training-loop settings that only some runs reach: an epoch shorter than the validation interval, and the fused
AdamW of GPU runs with gradient clipping under bf16 mixed precision (reproduced on the CPU)."""

from __future__ import annotations

import pytest
import torch

from hins.core.config import validate
from hins.training.train import fit
from tests.test_config import _compose


def _rows(n: int = 20, negatives=lambda i: 3) -> list[dict]:
    return [{"sid": f"s{i}", "qid": f"q{i // 2}", "query": f"what did Ann say about topic {i % 7}",
             "pos": f"Ann: topic {i % 7} line {i}", "neg": [f"Bob: other {i} {j}" for j in range(negatives(i))]}
            for i in range(n)]


def _fit(tmp_path, embedder, *overrides: str, validate_fn=None, rows=None):
    cfg = _compose("+experiment=smoke", "trainer.batch_size=4", "trainer.log_every_n_steps=1", "trainer.resume=false",
                   *overrides)
    return fit(validate(cfg), embedder, rows or _rows(), validate_fn, tmp_path)


def test_training_runs_on_samples_with_fewer_negatives(tmp_path, tiny_embedder):
    """Samples whose tiers ran dry keep 1 to 3 negatives: batches mix them (the collator masks the empty slots, in
    the in-batch denominators too), and training runs its steps (a NaN or inf loss would raise TrainingDiverged;
    tests/test_packed.py checks the step's loss)."""
    _, info = _fit(tmp_path, tiny_embedder, "trainer.max_steps=5", "loss.in_batch_negatives=true",
                   rows=_rows(negatives=lambda i: 1 + i % 3))
    assert info["steps"] == 5


def test_an_epoch_shorter_than_the_validation_interval_validates_at_epoch_ends(tmp_path, tiny_embedder):
    scores: list[int] = []

    def score(model):
        scores.append(len(scores))
        return {"ndcg@10": float(len(scores))}

    # 20 samples in batches of 4: 5 steps an epoch, fewer than val_every_n_steps
    _, info = _fit(tmp_path, tiny_embedder, "trainer.max_steps=12", "trainer.val_every_n_steps=8", validate_fn=score)
    assert info["steps"] == 12 and len(scores) == 2  # after epochs 1 and 2 (the third stops at step 12)


def test_fused_adamw_clips_gradients_under_bf16_mixed(tmp_path, tiny_embedder, monkeypatch):
    """GPU runs use a fused AdamW (bf16-mixed, clipping on): Lightning's own clipping refuses fused optimizers."""
    norms: list[float] = []

    class FusedAdamW(torch.optim.AdamW):
        def __init__(self, params, **kwargs):
            super().__init__(params, **{**kwargs, "fused": True})

        def step(self, closure=None):
            loss = closure() if closure is not None else None  # forward, backward, then the clipping
            grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
            norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
            super().step()
            return loss

    monkeypatch.setattr(torch.optim, "AdamW", FusedAdamW)
    _, info = _fit(tmp_path, tiny_embedder, "trainer.max_steps=3", "trainer.precision=bf16-mixed",
                   "trainer.grad_clip=0.001")
    assert info["steps"] == 3 and len(norms) == 3
    assert max(norms) <= 0.001 * (1 + 1e-3)  # the tiny model's raw gradients are far larger


def test_the_trainer_gets_num_nodes(tmp_path, tiny_embedder, monkeypatch):
    """trainer.num_nodes reaches Lightning, whose world size (devices x nodes) then shards the global batch."""
    import pytorch_lightning as pl

    seen: dict = {}

    class Recorder(pl.Trainer):
        def __init__(self, **kwargs):
            seen.update(kwargs)
            raise _Stop

    monkeypatch.setattr(pl, "Trainer", Recorder)
    with pytest.raises(_Stop):
        _fit(tmp_path, tiny_embedder, "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2",
             "trainer.num_nodes=3", "trainer.batch_size=6")
    assert seen["num_nodes"] == 3 and seen["devices"] == 2


class _Stop(Exception):
    pass


@pytest.mark.slow
def test_a_rank_other_than_0_ends_its_job_by_returning(tmp_path):
    """Under Slurm each DDP rank is a task of the submitit job that runs the Hydra job itself; the launcher waits for
    every task's result, so a rank > 0 must return from the job (rank 0 writes the results), not exit the process."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    script = (
        "import runpy, sys\n"
        "import hins.pipeline\n"
        "from hins.training.train import OtherRank\n"
        "def rank_1(*args, **kwargs):\n"
        "    raise OtherRank(0)\n"
        "hins.pipeline.run_pipeline = rank_1\n"
        f"sys.argv = ['hins.run', '+experiment=smoke', 'hydra.run.dir={tmp_path}']\n"
        "runpy.run_module('hins.run', run_name='__main__')  # python -m hins.run\n"
        "print('the job returned')\n"
    )
    env = {**os.environ, "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1", "HINS_ROOT": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and "the job returned" in proc.stdout, proc.stderr[-3000:]
    assert not (tmp_path / "DONE.json").exists() and not (tmp_path / "results.json").exists()
