"""Fault injectors for tests/test_reliability.py, importable by the runs it starts (``loss._target_=``)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import torch

from hins.training.losses import InfoNCELoss


class FaultyLoss(InfoNCELoss):
    """InfoNCE that turns NaN from call ``HINS_NAN_AT`` on, or raises ``Crash`` at call ``crash_at``
    (a class attribute the in-process tests set): a run killed at that step. ``signal_at`` = (call, signal,
    times): the process sends itself the signal at that call. At call ``HINS_WAIT_AT`` it writes the file
    ``HINS_WAIT_FILE`` and waits until training has taken a signal: a run interrupted at a known step."""

    crash_at: int | None = None
    signal_at: tuple[int, int, int] | None = None

    def __init__(self, temperature: float = 0.05, in_batch_negatives: bool = False):
        super().__init__(temperature, in_batch_negatives)
        self.calls = 0

    def forward(self, query, passages, query_group=None, mask=None):  # type: ignore[override]
        step = self.calls
        self.calls += 1
        if self.crash_at is not None and step == self.crash_at:
            raise Crash(f"killed at step {step}")
        if self.signal_at is not None and step == self.signal_at[0]:
            for _ in range(self.signal_at[2]):
                os.kill(os.getpid(), self.signal_at[1])
        if os.environ.get("HINS_WAIT_AT") == str(step):
            Path(os.environ["HINS_WAIT_FILE"]).write_text(str(step))
            deadline = time.monotonic() + 120
            while not _signal_taken() and time.monotonic() < deadline:
                time.sleep(0.01)
        loss = super().forward(query, passages, query_group, mask)
        nan_at = os.environ.get("HINS_NAN_AT")
        if nan_at is not None and step >= int(nan_at):
            loss = loss * torch.tensor(float("nan"))
        return loss


class Crash(Exception):
    """Stands for a kill: nothing after it runs, nothing is saved on the way out."""


def _signal_taken() -> bool:
    """Whether hins.training.train's handler has taken a SIGINT or SIGTERM (its ``signame``)."""
    handler = signal.getsignal(signal.SIGINT)
    return getattr(getattr(handler, "__self__", None), "signame", None) is not None
