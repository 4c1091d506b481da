"""Multi-device training (issue 7, goal 4): DDP over gloo on 2 CPU processes gives the loss and the weights of one
process on the same data, with the global batch kept (each process takes half of every batch one device trains on,
so the batches and their order are the same). Subprocesses: Lightning's
DDP starts its other process by running the command again (tests/ddp_worker.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _worker(*args: object) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(ROOT / "tests" / "ddp_worker.py"), *map(str, args)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)


def _train(out: Path, devices: int) -> tuple[dict, dict]:
    proc = _worker(out, devices)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = [json.loads(p.read_text()) for p in sorted(out.glob("seen-*.json"))]
    assert len(seen) == devices
    per_step = 8 // devices  # each process's share of the global batch of 8
    steps = [[set(s[i : i + per_step]) for s in seen] for i in range(0, len(seen[0]), per_step)]
    result = json.loads((out / "result.json").read_text())
    result["batches"] = [set().union(*parts) for parts in steps]  # the samples of each global batch
    return result, torch.load(out / "weights.pt")


@pytest.mark.slow
def test_ddp_two_processes_match_one(tmp_path):
    one, w_one = _train(tmp_path / "one", 1)
    two, w_two = _train(tmp_path / "two", 2)
    assert two["strategy"] == "ddp" and len(one["losses"]) == len(two["losses"]) == 3
    # The same global batches in the same order: the same 8 of the 16 samples at each step (4 per process), two
    # batches of the first epoch and one of the second.
    assert len(one["batches"]) == 3 and all(len(b) == 8 for b in one["batches"])
    assert two["batches"] == one["batches"] and one["batches"][0] != one["batches"][1]
    # Both runs train in float64 (trainer.precision=64-true), so the only difference, the all-reduce summing the
    # gradients in another order, is ~1e-16 relative: the losses agree to far below any rounding a 32-bit run
    # would show (a float32 run differed by up to 1.8e-4 at step 3 and failed a 5e-5 tolerance by chance).
    assert two["losses"] == pytest.approx(one["losses"], rel=1e-10, abs=0)
    assert one["losses"][2] < one["losses"][0] - 0.01  # the updates between the steps were real
    assert w_one.keys() == w_two.keys() and all(w.dtype == torch.float64 for w in w_one.values())
    # The weights: AdamW divides a gradient by sqrt(v) + 1e-8, so a gradient that is zero but for rounding noise
    # (attention key biases, idle units; at most ~1e-16 here) moves a weight by at most lr * 1e-16 / 1e-8 = 1e-10
    # per step (measured max 1.1e-9 over 3 steps). 1e-7 leaves a 100x margin; a process that skipped the gradient
    # averaging would be off by a whole step (~lr = 1e-2) in most weights.
    for name in w_one:
        torch.testing.assert_close(w_two[name], w_one[name], rtol=0, atol=1e-7, msg=name)
    diff = torch.cat([(w_two[name] - w_one[name]).abs().flatten() for name in w_one])
    assert diff.mean() < 1e-11, diff.mean()


@pytest.mark.slow
def test_ddp_run_killed_and_resumed_ends_with_the_uninterrupted_weights(tmp_path):
    """Dropout on: each process draws its own masks, so each must get its own random state back on resume."""
    steps, dropout = 6, 0.3
    assert _worker(tmp_path / "ref", 2, steps, tmp_path / "ref_state", -1, dropout).returncode == 0
    killed = _worker(tmp_path / "killed", 2, steps, tmp_path / "state", 3, dropout)
    assert killed.returncode != 0 and "killed at step 3" in killed.stderr
    assert (tmp_path / "state" / "last.ckpt").is_file()  # saved at step 2
    resumed = _worker(tmp_path / "resumed", 2, steps, tmp_path / "state", -1, dropout)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    ref, again = torch.load(tmp_path / "ref" / "weights.pt"), torch.load(tmp_path / "resumed" / "weights.pt")
    for name in ref:
        torch.testing.assert_close(again[name], ref[name], rtol=0, atol=1e-6, msg=name)


@pytest.mark.slow
def test_two_nodes_started_by_a_cluster_launcher_train_one_run(tmp_path):
    """trainer.num_nodes=2: one process per node started from outside, as Slurm's srun starts the tasks of a
    submitit_slurm job, here both on this machine (Lightning reads NODE_RANK, LOCAL_RANK, WORLD_SIZE and MASTER_*
    as it reads Slurm's variables). They share the stages (built once), train together, and rank 0 alone writes
    the results; rank 1's job ends normally."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HINS_ROOT": str(tmp_path), "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1",
           "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": "2",
           "LOCAL_RANK": "0"}
    command = [sys.executable, "-m", "hins.run", "+experiment=smoke", "trainer=ddp", "trainer.accelerator=cpu",
               "trainer.devices=1", "trainer.num_nodes=2", "trainer.precision=32-true", "trainer.num_workers=0"]
    procs = [subprocess.Popen([*command, f"hydra.run.dir={tmp_path / f'node{r}'}"], cwd=ROOT,
                              env={**env, "NODE_RANK": str(r)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for r in (0, 1)]
    logs = [proc.communicate(timeout=600)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], [log[-3000:] for log in logs]
    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in logs[0] and "GLOBAL_RANK: 1, MEMBER: 2/2" in logs[1]
    summary = json.loads((tmp_path / "node0" / "results.json").read_text())
    assert summary["training"]["steps"] == 6 and (tmp_path / "node0" / "DONE.json").is_file()
    assert not (tmp_path / "node1" / "results.json").exists() and not (tmp_path / "node1" / "DONE.json").exists()
    both = "".join(logs)
    for stage in ("conversations", "queries", "negatives"):
        assert both.count(f"stage {stage}: building") == 1, stage
