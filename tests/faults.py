"""Fault injectors for tests/test_reliability.py, importable by the runs it starts (``loss._target_=``)."""

from __future__ import annotations

import os

import torch

from hins.losses import InfoNCELoss


class FaultyLoss(InfoNCELoss):
    """InfoNCE that turns NaN from call ``HINS_NAN_AT`` on, or raises ``Crash`` at call ``crash_at``
    (a class attribute the in-process tests set): a run killed at that step."""

    crash_at: int | None = None

    def __init__(self, temperature: float = 0.05, in_batch_negatives: bool = False):
        super().__init__(temperature, in_batch_negatives)
        self.calls = 0

    def forward(self, query, passages, query_group=None, mask=None):  # type: ignore[override]
        step = self.calls
        self.calls += 1
        if self.crash_at is not None and step == self.crash_at:
            raise Crash(f"killed at step {step}")
        loss = super().forward(query, passages, query_group, mask)
        nan_at = os.environ.get("HINS_NAN_AT")
        if nan_at is not None and step >= int(nan_at):
            loss = loss * torch.tensor(float("nan"))
        return loss


class Crash(Exception):
    """Stands for a kill: nothing after it runs, nothing is saved on the way out."""
