"""Multi-device training (issue 7, goal 4): DDP over gloo on 2 CPU processes gives the loss and the weights of one
process on the same data, with the global batch kept (each process takes half of it). Subprocesses: Lightning's
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


def _train(out: Path, devices: int) -> tuple[dict, dict]:
    env = {**os.environ, "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "ddp_worker.py"), str(out), str(devices)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "result.json").read_text()), torch.load(out / "weights.pt")


@pytest.mark.slow
def test_ddp_two_processes_match_one(tmp_path):
    one, w_one = _train(tmp_path / "one", 1)
    two, w_two = _train(tmp_path / "two", 2)
    assert two["strategy"] == "ddp" and len(one["losses"]) == len(two["losses"]) == 3
    # Step 1: the same weights, the same 8 samples (4 per process): the same loss. Steps 2-3: after the same updates.
    assert two["losses"] == pytest.approx(one["losses"], rel=1e-5, abs=1e-6)
    assert one["losses"][2] < one["losses"][0] - 0.01  # the updates between the steps were real
    assert w_one.keys() == w_two.keys()
    # The weights to a fifth of one step (lr 1e-2): AdamW turns rounding noise in near-zero gradients (the attention
    # key biases have none in exact arithmetic) into steps of up to lr; a process that skipped the gradient
    # averaging would be a whole step off in most weights.
    for name in w_one:
        torch.testing.assert_close(w_two[name], w_one[name], rtol=0, atol=2e-3, msg=name)
